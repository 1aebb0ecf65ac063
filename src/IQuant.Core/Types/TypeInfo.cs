namespace IQuant.Core.Types;

/// <summary>What kind of type a ggml type is, for users and for the recipe code.</summary>
public enum TypeKind
{
    /// <summary>Plain floats (F32, F16, BF16, F64).</summary>
    Float,
    /// <summary>Plain integers (I8..I64).</summary>
    Integer,
    /// <summary>A weight quantization type.</summary>
    Quantized,
    /// <summary>Activation-only type used inside dot products; never written by llama-quantize.</summary>
    Activation,
    /// <summary>Row-interleaved copy of a base type (_R4/_R8/_R16).</summary>
    Interleaved,
}

/// <summary>One row of the ggml type table (spec §2): the single place that knows a type's geometry.</summary>
public sealed record TypeInfo(
    GgmlType Type,
    string Name,
    int BlockSize,
    int BytesPerBlock,
    int RowMetaBytes,
    TypeKind Kind,
    GgmlType? Fallback = null,
    int Interleave = 1)
{
    /// <summary>Bits per weight, excluding row meta (as ggml reports it).</summary>
    public double Bpw => 8.0 * BytesPerBlock / BlockSize;

    /// <summary>True when rows must be a multiple of 256 (the super-block types).</summary>
    public bool NeedsSuperBlockRows => BlockSize == 256;

    /// <summary>The enum name (IQ4_KS), which is what users type.</summary>
    public string DisplayName => Type.ToString();

    /// <summary>Bytes of one row of <paramref name="n"/> elements, row meta included (ggml_row_size).</summary>
    public long RowSize(long n)
    {
        if (n % BlockSize != 0)
            throw new ArgumentException($"Row length {n} is not a multiple of the {Name} block size {BlockSize}.", nameof(n));
        return RowMetaBytes + BytesPerBlock * (n / BlockSize);
    }

    /// <summary>Bits per weight for rows of <paramref name="n"/> elements, row meta included.</summary>
    public double BpwForRow(long n) => 8.0 * RowSize(n) / n;
}
