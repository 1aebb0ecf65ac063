using IQuant.Core.Types;

namespace IQuant.Core.Gguf;

/// <summary>One tensor of a GGUF model (spec §1.4), with its computed geometry and location.</summary>
public sealed class GgufTensorInfo
{
    internal GgufTensorInfo(string name, long[] shape, int typeId, TypeInfo? typeInfo, long elements,
        long rowSize, long rows, long byteSize, ulong offset, long fileOffset, int shardIndex, string shardPath, int index)
    {
        Name = name;
        Shape = shape;
        TypeId = typeId;
        TypeInfo = typeInfo;
        Elements = elements;
        RowSize = rowSize;
        Rows = rows;
        ByteSize = byteSize;
        Offset = offset;
        FileOffset = fileOffset;
        ShardIndex = shardIndex;
        ShardPath = shardPath;
        Index = index;
        Layer = ParseLayer(name);
    }

    /// <summary>Tensor name (unique in the model).</summary>
    public string Name { get; }

    /// <summary>Dimensions ne0..ne{n-1} as stored (ne0 = contiguous row length). Do not modify.</summary>
    public long[] Shape { get; }

    /// <summary>Number of dimensions stored in the file (1..4).</summary>
    public int Dimensions => Shape.Length;

    /// <summary>ne0: the row length.</summary>
    public long RowLength => Shape[0];

    /// <summary>Raw ggml type id from the file.</summary>
    public int TypeId { get; }

    /// <summary>The type (cast of <see cref="TypeId"/>; may be an undefined enum value when <see cref="TypeInfo"/> is null).</summary>
    public GgmlType Type => (GgmlType)TypeId;

    /// <summary>The type-table row, or null for an id ik_llama.cpp does not define
    /// (only possible with <see cref="GgufReadOptions.AllowUnknownTensorTypes"/>).</summary>
    public TypeInfo? TypeInfo { get; }

    /// <summary>ne0·ne1·ne2·ne3.</summary>
    public long Elements { get; }

    /// <summary>Bytes of the tensor data, row meta included (ggml_nbytes, spec §1.6; I2_S: elements/4 + 32).
    /// 0 when <see cref="TypeInfo"/> is null.</summary>
    public long ByteSize { get; }

    /// <summary>Bytes of one row incl. its row-meta header (ggml_row_size(type, ne0)). For I2_S (packed 2-bit rows
    /// followed by one trailing scale block) this is ne0/4; 0 when <see cref="TypeInfo"/> is null.</summary>
    public long RowSize { get; }

    /// <summary>ne1·ne2·ne3.</summary>
    public long Rows { get; }

    /// <summary>Offset from its shard's data section start (as stored).</summary>
    public ulong Offset { get; }

    /// <summary>Absolute byte offset of the data in its shard file.</summary>
    public long FileOffset { get; internal set; }

    /// <summary>0-based shard that holds the tensor (0 for single files).</summary>
    public int ShardIndex { get; }

    /// <summary>Full path of the shard file that holds the tensor.</summary>
    public string ShardPath { get; }

    /// <summary>Position in the model's tensor list (over all shards).</summary>
    public int Index { get; }

    /// <summary>N of a <c>blk.N.</c> name prefix, else null.</summary>
    public int? Layer { get; }

    /// <summary>Shape as "[4096, 32000]".</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {(TypeInfo?.DisplayName ?? TypeId.ToString())} {ShapeText}";

    internal static int? ParseLayer(string name)
    {
        if (!name.StartsWith("blk.", StringComparison.Ordinal)) return null;
        int i = 4, n = 0;
        if (i >= name.Length || !char.IsAsciiDigit(name[i])) return null;
        while (i < name.Length && char.IsAsciiDigit(name[i]))
        {
            n = n * 10 + (name[i] - '0');
            if (n > 100_000_000) return null;
            i++;
        }
        return i < name.Length && name[i] == '.' ? n : null;
    }

    /// <summary>ggml_nbytes for a shape and type, incl. per-row meta and the I2_S special case. Throws
    /// <see cref="ArgumentException"/> on a bad shape and <see cref="OverflowException"/> on overflow.</summary>
    public static long ComputeByteSize(TypeInfo type, ReadOnlySpan<long> shape) => ComputeGeometry(type, shape).ByteSize;

    internal static (long Elements, long Rows, long RowSize, long ByteSize) ComputeGeometry(TypeInfo type, ReadOnlySpan<long> shape)
    {
        if (shape.Length is < 1 or > 4) throw new ArgumentException($"A tensor has 1..4 dimensions, not {shape.Length}.", nameof(shape));
        long rows = 1;
        for (int d = 1; d < shape.Length; d++)
        {
            if (shape[d] <= 0) throw new ArgumentException($"Dimension {d} is {shape[d]}; dimensions must be > 0.", nameof(shape));
            rows = checked(rows * shape[d]);
        }
        long ne0 = shape[0];
        if (ne0 <= 0) throw new ArgumentException($"Dimension 0 is {ne0}; dimensions must be > 0.", nameof(shape));
        long elements = checked(ne0 * rows);
        if (ne0 % type.BlockSize != 0)
            throw new ArgumentException($"ne0 = {ne0} is not a multiple of the {type.DisplayName} block size {type.BlockSize}.", nameof(shape));
        if (type.Type == GgmlType.I2_S)
            return (elements, rows, ne0 / 4, elements / 4 + 32);
        long rowSize = checked(type.RowMetaBytes + type.BytesPerBlock * (ne0 / type.BlockSize));
        return (elements, rows, rowSize, checked(rowSize * rows));
    }
}

/// <summary>A tensor to write: name, shape (ne0..), type. <see cref="ByteSize"/> is what <see cref="GgufWriter"/> expects.</summary>
public sealed record GgufTensorSpec
{
    /// <summary>Creates a spec; validates the shape against the type (1..4 dims, each &gt; 0, ne0 a multiple of the block size).</summary>
    public GgufTensorSpec(string name, long[] shape, GgmlType type)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        Name = name;
        Shape = (long[])shape.Clone();
        Type = type;
        TypeInfo = TypeTable.TryGet((int)type) ?? throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown ggml type.");
        ByteSize = GgufTensorInfo.ComputeByteSize(TypeInfo, Shape);
    }

    /// <summary>The same name and shape as <paramref name="info"/>, with its type or <paramref name="type"/>.
    /// The shard index is kept when <paramref name="keepShard"/> is true.</summary>
    public static GgufTensorSpec From(GgufTensorInfo info, GgmlType? type = null, bool keepShard = false) =>
        new(info.Name, info.Shape, type ?? info.Type) { Shard = keepShard ? info.ShardIndex : null };

    /// <summary>Tensor name (unique).</summary>
    public string Name { get; }

    /// <summary>Dimensions ne0.. (written as given, 1..4 of them).</summary>
    public long[] Shape { get; }

    /// <summary>Tensor type.</summary>
    public GgmlType Type { get; }

    /// <summary>Type-table row of <see cref="Type"/>.</summary>
    public TypeInfo TypeInfo { get; }

    /// <summary>Bytes of data (ggml_nbytes).</summary>
    public long ByteSize { get; }

    /// <summary>Optional explicit output shard (0-based) — when set on every tensor, the writer uses these instead of
    /// <see cref="GgufWriterOptions.MaxShardBytes"/>/<see cref="GgufWriterOptions.MaxShardTensors"/>
    /// (llama-quantize --keep-split). Must be non-decreasing in tensor order.</summary>
    public int? Shard { get; init; }
}
