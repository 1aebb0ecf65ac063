using IQuant.Core.Types;

namespace IQuant.Core.Kernels;

/// <summary>
/// A 2-D weight matrix in any type IQuant reads: <see cref="Rows"/> rows (ggml ne1) of <see cref="Cols"/> values
/// (ne0), <see cref="RowBytes"/> bytes each (row meta included), starting at <see cref="Data"/> (e.g. a memory-mapped
/// GGUF tensor pointer). The memory is not owned: it must stay valid while the matrix is used.
/// </summary>
public sealed unsafe class WeightMatrix
{
    /// <summary>Wraps <paramref name="rows"/> rows of <paramref name="cols"/> values of <paramref name="type"/> at <paramref name="data"/>.</summary>
    public WeightMatrix(GgmlType type, int cols, int rows, byte* data)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cols);
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        if (data == null && rows > 0) throw new ArgumentNullException(nameof(data));
        var info = TypeTable.Get(type);
        if (cols % info.BlockSize != 0)
            throw new ArgumentException($"{cols} columns is not a multiple of the {info.Name} block size {info.BlockSize}.", nameof(cols));
        Type = type;
        Cols = cols;
        Rows = rows;
        RowBytes = info.RowSize(cols);
        Data = data;
    }

    /// <summary>The weight type.</summary>
    public GgmlType Type { get; }

    /// <summary>Values per row (ne0, the input dimension).</summary>
    public int Cols { get; }

    /// <summary>Number of rows (ne1, the output dimension).</summary>
    public int Rows { get; }

    /// <summary>Bytes per row, row meta included.</summary>
    public long RowBytes { get; }

    /// <summary>Start of row 0.</summary>
    public byte* Data { get; }

    /// <summary>Start of row <paramref name="r"/>.</summary>
    public byte* Row(int r) => Data + r * RowBytes;

    /// <summary>Total bytes of the matrix.</summary>
    public long TotalBytes => RowBytes * Rows;

    /// <summary>
    /// Dequantizes row <paramref name="row"/> into <paramref name="dst"/> (at least <see cref="Cols"/> floats) — e.g. an
    /// embedding lookup (ggml get_rows). Uses the codec's dequantizer, i.e. ik's CPU <c>dequantize_row_*</c> values.
    /// </summary>
    public void DequantizeRow(int row, Span<float> dst)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        if (dst.Length < Cols) throw new ArgumentException($"Destination has {dst.Length} values; {Cols} needed.", nameof(dst));
        MatMul.DequantizeRow(this, row, dst);
    }
}
