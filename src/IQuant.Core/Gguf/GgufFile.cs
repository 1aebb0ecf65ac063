using IQuant.Core.Types;

namespace IQuant.Core.Gguf;

/// <summary>Per-shard facts of an opened model (one entry for a single file).</summary>
public sealed class GgufShardInfo
{
    internal GgufShardInfo(int index, string path, uint version, int alignment, long dataOffset, long fileSize,
        IReadOnlyList<GgufMetadataEntry> metadata, int firstTensor, int tensorCount)
    {
        Index = index; Path = path; Version = version; Alignment = alignment; DataOffset = dataOffset;
        FileSize = fileSize; Metadata = metadata; FirstTensor = firstTensor; TensorCount = tensorCount;
    }

    /// <summary>0-based shard number.</summary>
    public int Index { get; }
    /// <summary>Full path.</summary>
    public string Path { get; }
    /// <summary>GGUF version (2 or 3).</summary>
    public uint Version { get; }
    /// <summary>Data alignment (general.alignment or 32).</summary>
    public int Alignment { get; }
    /// <summary>Absolute offset of the data section.</summary>
    public long DataOffset { get; }
    /// <summary>File size in bytes.</summary>
    public long FileSize { get; }
    /// <summary>This shard's own KVs, in file order.</summary>
    public IReadOnlyList<GgufMetadataEntry> Metadata { get; }
    /// <summary>Model index of this shard's first tensor.</summary>
    public int FirstTensor { get; }
    /// <summary>Number of tensors in this shard.</summary>
    public int TensorCount { get; }
}

/// <summary>
/// A GGUF model (single file or split set) opened read-only. The header is parsed eagerly and validated (spec §1);
/// tensor data is reached through read-only memory mappings and never read by <see cref="Open"/>.
/// Thread-safe for concurrent reads; all spans and pointers become invalid on <see cref="Dispose"/>.
/// </summary>
public sealed unsafe partial class GgufFile : IDisposable
{
    /// <summary>Opens and validates a GGUF file. For a split set pass the first shard (<c>-00001-of-0000N.gguf</c>);
    /// the other shards are found by name. Throws <see cref="GgufFormatException"/> for anything invalid.</summary>
    public static GgufFile Open(string path, GgufReadOptions? options = null) => throw new NotImplementedException();

    /// <summary>Full path of the opened file (shard 0 for split sets).</summary>
    public string Path { get; private set; } = "";

    /// <summary>Full paths of all shards (one entry for a single file).</summary>
    public IReadOnlyList<string> ShardPaths { get; private set; } = [];

    /// <summary>Per-shard details.</summary>
    public IReadOnlyList<GgufShardInfo> Shards { get; private set; } = [];

    /// <summary>GGUF version of shard 0.</summary>
    public uint Version { get; private set; }

    /// <summary>Data alignment of shard 0.</summary>
    public int Alignment { get; private set; }

    /// <summary>Total bytes over all shards.</summary>
    public long FileSize { get; private set; }

    /// <summary>Offset of the data section of shard 0.</summary>
    public long DataOffset { get; private set; }

    /// <summary>Metadata in file order (for split sets: shard 0's KVs).</summary>
    public IReadOnlyList<GgufMetadataEntry> Metadata { get; private set; } = [];

    /// <summary>All tensors, in file order, concatenated over shards.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; private set; } = [];

    /// <summary>True when the model spans more than one file.</summary>
    public bool IsSplit => ShardPaths.Count > 1;

    /// <summary>The first entry with this key, or null.</summary>
    public GgufMetadataEntry? FindMetadata(string key) => throw new NotImplementedException();

    /// <summary>The tensor with this name, or null.</summary>
    public GgufTensorInfo? FindTensor(string name) => throw new NotImplementedException();

    /// <summary>Pointer to the first byte of the tensor's data, valid until <see cref="Dispose"/>.</summary>
    public byte* GetTensorPointer(GgufTensorInfo tensor) => throw new NotImplementedException();

    /// <summary>The tensor's bytes (<see cref="GgufTensorInfo.ByteSize"/>). Throws <see cref="NotSupportedException"/>
    /// when larger than int.MaxValue — use <see cref="GetRows"/> or <see cref="GetTensorPointer"/>.</summary>
    public ReadOnlySpan<byte> GetTensorBytes(GgufTensorInfo tensor) => throw new NotImplementedException();

    /// <summary>Bytes of rows [firstRow, firstRow+rowCount) (row = ne0 elements incl. row meta).</summary>
    public ReadOnlySpan<byte> GetRows(GgufTensorInfo tensor, long firstRow, int rowCount) => throw new NotImplementedException();

    /// <summary>Bytes [offset, offset+length) of the tensor's data.</summary>
    public ReadOnlySpan<byte> GetTensorSlice(GgufTensorInfo tensor, long offset, int length) => throw new NotImplementedException();

    /// <summary>Value of <paramref name="key"/> converted to <typeparamref name="T"/>, or null when absent or not
    /// convertible. Integers convert to any integer/float type that holds the value exactly (u32 ↔ i32 ↔ u64 ...),
    /// f32 widens to f64. Arrays: <typeparamref name="T"/> must be the exact array type (use <see cref="GetArray{T}"/>).</summary>
    public T? GetValue<T>(string key) where T : struct => throw new NotImplementedException();

    /// <summary>Like <see cref="GetValue{T}"/>, as a Try pattern.</summary>
    public bool TryGetValue<T>(string key, out T value) => throw new NotImplementedException();

    /// <summary>String value, or null when absent or not a string.</summary>
    public string? GetString(string key) => throw new NotImplementedException();

    /// <summary>Integer value as u32 (null when absent or not representable).</summary>
    public uint? GetUInt32(string key) => GetValue<uint>(key);
    /// <summary>Integer value as i32 (null when absent or not representable).</summary>
    public int? GetInt32(string key) => GetValue<int>(key);
    /// <summary>Integer value as u64 (null when absent or not representable).</summary>
    public ulong? GetUInt64(string key) => GetValue<ulong>(key);
    /// <summary>Integer value as i64 (null when absent or not representable).</summary>
    public long? GetInt64(string key) => GetValue<long>(key);
    /// <summary>Float value as f32 (from f32 or integers that convert exactly).</summary>
    public float? GetFloat32(string key) => GetValue<float>(key);
    /// <summary>Float value as f64 (from f32, f64 or any integer).</summary>
    public double? GetFloat64(string key) => GetValue<double>(key);
    /// <summary>Bool value.</summary>
    public bool? GetBool(string key) => GetValue<bool>(key);

    /// <summary>Array value with elements of <typeparamref name="T"/> (exact element type; integer arrays also widen,
    /// e.g. GetArray&lt;long&gt; of an INT32 array copies), or null.</summary>
    public T[]? GetArray<T>(string key) => throw new NotImplementedException();

    /// <summary>Unmaps and closes all shards.</summary>
    public void Dispose() => throw new NotImplementedException();
}
