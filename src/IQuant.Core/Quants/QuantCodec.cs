using IQuant.Core.Types;

namespace IQuant.Core.Quants;

/// <summary>
/// Quantizes and dequantizes single rows of one ggml type. A row is <c>n</c> floats (a multiple of the
/// type's block size) and <see cref="TypeInfo.RowSize"/> bytes, row meta (the KS types' row scale) included.
/// Implementations are stateless and thread-safe; they never allocate per block (scratch lives on the stack
/// or in thread-local buffers). Row-level parallelism, argument validation (NaN/Inf, imatrix length) and
/// threading live in <see cref="RowQuantizer"/>, not here.
/// </summary>
public abstract class QuantCodec
{
    /// <summary>The type this codec writes and reads.</summary>
    public abstract GgmlType Type { get; }

    /// <summary>The type-table row of <see cref="Type"/>.</summary>
    public TypeInfo Info => TypeTable.Get(Type);

    /// <summary>A short name of the encoder variant ("default", "scalar"...), for diagnostics.</summary>
    public virtual string Variant => "default";

    /// <summary>False for dequantize-only types.</summary>
    public virtual bool CanQuantize => true;

    /// <summary>
    /// Quantizes one row. <paramref name="imatrix"/> is empty (no importance weights) or has one
    /// non-negative weight per column, <c>src.Length</c> of them.
    /// </summary>
    public abstract void QuantizeRow(ReadOnlySpan<float> src, Span<byte> dst, ReadOnlySpan<float> imatrix);

    /// <summary>
    /// How many consecutive rows the reference quantizes as one unit ("chunk") when a row's bytes can depend on its
    /// neighbours (only Q2_K without imatrix, formats-baseline.md §1/§9.1). 1, the default, means rows are independent.
    /// </summary>
    public virtual int ChunkRows(int nPerRow, bool hasImatrix) => 1;

    /// <summary>
    /// Quantizes consecutive rows (<c>src.Length / nPerRow</c> of them) that form one reference chunk. The default
    /// quantizes each row on its own with <see cref="QuantizeRow"/>.
    /// </summary>
    public virtual void QuantizeChunk(ReadOnlySpan<float> src, int nPerRow, Span<byte> dst, ReadOnlySpan<float> imatrix)
    {
        int rowBytes = checked((int)Info.RowSize(nPerRow));
        for (int r = 0; r < src.Length / nPerRow; r++)
            QuantizeRow(src.Slice(r * nPerRow, nPerRow), dst.Slice(r * rowBytes, rowBytes), imatrix);
    }

    /// <summary>Dequantizes one row of <c>dst.Length</c> elements.</summary>
    public abstract void DequantizeRow(ReadOnlySpan<byte> src, Span<float> dst);
}
