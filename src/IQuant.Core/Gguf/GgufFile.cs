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
    private GgufShard[] _shards = [];
    private Dictionary<string, GgufTensorInfo> _tensorsByName = [];
    private Dictionary<string, GgufMetadataEntry>? _metaByKey;
    private bool _disposed;

    private GgufFile() { }

    /// <summary>Opens and validates a GGUF file. For a split set pass the first shard (<c>-00001-of-0000N.gguf</c>);
    /// the other shards are found by name. Throws <see cref="GgufFormatException"/> for anything invalid.</summary>
    public static GgufFile Open(string path, GgufReadOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= GgufReadOptions.Default;
        string full = System.IO.Path.GetFullPath(path);
        var names = new Dictionary<string, GgufTensorInfo>(StringComparer.Ordinal);
        var shards = new List<GgufShard>(1);
        try
        {
            var first = GgufShard.Open(full, 0, 0, options, names);
            shards.Add(first);
            if (options.OpenSplitShards)
                OpenOtherShards(first, shards, options, names);

            var f = new GgufFile();
            f._shards = shards.ToArray();
            f._tensorsByName = names;
            f.Path = full;
            var paths = new string[shards.Count];
            var infos = new GgufShardInfo[shards.Count];
            long total = 0;
            int firstTensor = 0;
            for (int i = 0; i < shards.Count; i++)
            {
                var s = shards[i];
                paths[i] = s.Path;
                infos[i] = new GgufShardInfo(i, s.Path, s.Version, s.Alignment, s.DataOffset, s.Length, s.Metadata.AsReadOnly(), firstTensor, s.Tensors.Count);
                firstTensor += s.Tensors.Count;
                total += s.Length;
            }
            f.ShardPaths = paths;
            f.Shards = infos;
            f.FileSize = total;
            f.Version = first.Version;
            f.Alignment = first.Alignment;
            f.DataOffset = first.DataOffset;
            f.Metadata = first.Metadata.AsReadOnly();
            if (shards.Count == 1)
                f.Tensors = first.Tensors.AsReadOnly();
            else
            {
                var all = new List<GgufTensorInfo>(firstTensor);
                foreach (var s in shards) all.AddRange(s.Tensors);
                f.Tensors = all.AsReadOnly();
            }
            return f;
        }
        catch
        {
            foreach (var s in shards) s.Dispose();
            throw;
        }
    }

    private static void OpenOtherShards(GgufShard first, List<GgufShard> shards, GgufReadOptions options, Dictionary<string, GgufTensorInfo> names)
    {
        var countE = Find(first.Metadata, SplitKeys.Count);
        if (countE is null) return;
        string path = first.Path;
        if (!TryInteger(countE.Value, out long count) || count < 0 || count > 99999)
            throw new GgufFormatException(GgufErrorIds.SplitMismatch, path, null,
                $"split.count in '{path}' is {countE.FormatValue()} ({countE.TypeName}); expected a shard count.");
        if (count <= 1) return;
        long no = SplitInt(first, SplitKeys.No);
        if (no != 0)
            throw new GgufFormatException(GgufErrorIds.SplitNotFirstShard, path, null,
                $"'{path}' is shard {no + 1} of {count} of a split model; open the first shard ({SplitName(path, count) ?? "-00001-of-" + count.ToString("D5") + ".gguf"}).");
        long totalTensors = SplitInt(first, SplitKeys.TensorsCount);
        string prefix = SplitPrefix(path, 1, count)
            ?? throw new GgufFormatException(GgufErrorIds.SplitMismatch, path, null,
                $"'{path}' is the first of {count} shards but its name does not end in -00001-of-{count:D5}.gguf, so the other shards cannot be found.");
        int next = first.Tensors.Count;
        for (int k = 1; k < count; k++)
        {
            string sp = $"{prefix}-{k + 1:D5}-of-{count:D5}.gguf";
            if (!File.Exists(sp))
                throw new GgufFormatException(GgufErrorIds.SplitMissingShard, sp, null,
                    $"Shard {k + 1} of {count} of the split model '{path}' is missing: '{sp}' does not exist.");
            var s = GgufShard.Open(sp, k, next, options, names);
            shards.Add(s);
            next += s.Tensors.Count;
            long sno = SplitInt(s, SplitKeys.No);
            long scount = SplitInt(s, SplitKeys.Count);
            long stotal = SplitInt(s, SplitKeys.TensorsCount);
            if (sno != k || scount != count || stotal != totalTensors)
                throw new GgufFormatException(GgufErrorIds.SplitMismatch, sp, null,
                    $"'{sp}' has split.no = {sno}, split.count = {scount}, split.tensors.count = {stotal}; expected {k}, {count}, {totalTensors}.");
        }
        if (next != totalTensors)
            throw new GgufFormatException(GgufErrorIds.SplitMismatch, path, null,
                $"split.tensors.count of '{path}' is {totalTensors} but its {count} shards hold {next} tensors.");
    }

    private static GgufMetadataEntry? Find(List<GgufMetadataEntry> md, string key)
    {
        foreach (var e in md) if (e.Key == key) return e;
        return null;
    }

    private static long SplitInt(GgufShard s, string key)
    {
        var e = Find(s.Metadata, key);
        if (e is null)
            throw new GgufFormatException(GgufErrorIds.SplitMismatch, s.Path, null, $"Shard '{s.Path}' of a split model has no {key} key.");
        if (!TryInteger(e.Value, out long v))
            throw new GgufFormatException(GgufErrorIds.SplitMismatch, s.Path, null, $"{key} in '{s.Path}' is {e.FormatValue()} ({e.TypeName}), not an integer.");
        return v;
    }

    private static bool TryInteger(object o, out long v)
    {
        switch (o)
        {
            case byte b: v = b; return true;
            case sbyte sb: v = sb; return true;
            case ushort us: v = us; return true;
            case short sh: v = sh; return true;
            case uint ui: v = ui; return true;
            case int i: v = i; return true;
            case long l: v = l; return true;
            case ulong ul when ul <= long.MaxValue: v = (long)ul; return true;
            default: v = 0; return false;
        }
    }

    /// <summary>The path without its <c>-0000k-of-0000N.gguf</c> suffix when it has exactly that suffix, else null.</summary>
    internal static string? SplitPrefix(string path, long no, long count)
    {
        string suffix = $"-{no:D5}-of-{count:D5}.gguf";
        return path.EndsWith(suffix, StringComparison.Ordinal) && path.Length > suffix.Length ? path[..^suffix.Length] : null;
    }

    private static string? SplitName(string path, long count)
    {
        // Strip any -NNNNN-of-NNNNN.gguf suffix and name the first shard.
        const int SuffixLen = 20; // -00001-of-00004.gguf
        if (path.Length <= SuffixLen || !path.EndsWith(".gguf", StringComparison.Ordinal)) return null;
        string tail = path[^SuffixLen..];
        if (tail[0] != '-' || tail.Substring(6, 4) != "-of-") return null;
        return $"{path[..^SuffixLen]}-00001-of-{count:D5}.gguf";
    }

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
    public GgufMetadataEntry? FindMetadata(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var d = _metaByKey;
        if (d is null)
        {
            d = new Dictionary<string, GgufMetadataEntry>(Metadata.Count, StringComparer.Ordinal);
            foreach (var e in Metadata) d.TryAdd(e.Key, e);
            _metaByKey = d;
        }
        return d.GetValueOrDefault(key);
    }

    /// <summary>The tensor with this name, or null.</summary>
    public GgufTensorInfo? FindTensor(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _tensorsByName.GetValueOrDefault(name);
    }

    private GgufShard ShardOf(GgufTensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if ((uint)tensor.Index >= (uint)Tensors.Count || !ReferenceEquals(Tensors[tensor.Index], tensor))
            throw new ArgumentException($"Tensor '{tensor.Name}' does not belong to '{Path}'.", nameof(tensor));
        if (tensor.TypeInfo is null)
            throw new NotSupportedException($"Tensor '{tensor.Name}' has type id {tensor.TypeId}, unknown to IQuant; its size and bytes are unknown.");
        return _shards[tensor.ShardIndex];
    }

    /// <summary>Pointer to the first byte of the tensor's data, valid until <see cref="Dispose"/>.</summary>
    public byte* GetTensorPointer(GgufTensorInfo tensor) => ShardOf(tensor).Base + tensor.FileOffset;

    /// <summary>The tensor's bytes (<see cref="GgufTensorInfo.ByteSize"/>). Throws <see cref="NotSupportedException"/>
    /// when larger than int.MaxValue — use <see cref="GetRows"/> or <see cref="GetTensorPointer"/>.</summary>
    public ReadOnlySpan<byte> GetTensorBytes(GgufTensorInfo tensor)
    {
        var s = ShardOf(tensor);
        if (tensor.ByteSize > int.MaxValue)
            throw new NotSupportedException($"Tensor '{tensor.Name}' has {tensor.ByteSize} bytes, more than a span can hold; use GetRows or GetTensorPointer.");
        return new ReadOnlySpan<byte>(s.Base + tensor.FileOffset, (int)tensor.ByteSize);
    }

    /// <summary>Bytes of rows [firstRow, firstRow+rowCount) (row = ne0 elements incl. row meta).
    /// Not available for I2_S (whose scale trails the whole tensor).</summary>
    public ReadOnlySpan<byte> GetRows(GgufTensorInfo tensor, long firstRow, int rowCount)
    {
        var s = ShardOf(tensor);
        if (tensor.Type == GgmlType.I2_S)
            throw new NotSupportedException("I2_S tensors have no self-contained rows; use GetTensorBytes.");
        if (firstRow < 0 || rowCount < 0 || firstRow > tensor.Rows || rowCount > tensor.Rows - firstRow)
            throw new ArgumentOutOfRangeException(nameof(firstRow), $"Rows {firstRow}..+{rowCount} are outside tensor '{tensor.Name}' ({tensor.Rows} rows).");
        long bytes = tensor.RowSize * rowCount;
        if (bytes > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(rowCount), $"{rowCount} rows of {tensor.RowSize} bytes exceed int.MaxValue bytes.");
        return new ReadOnlySpan<byte>(s.Base + tensor.FileOffset + firstRow * tensor.RowSize, (int)bytes);
    }

    /// <summary>Bytes [offset, offset+length) of the tensor's data.</summary>
    public ReadOnlySpan<byte> GetTensorSlice(GgufTensorInfo tensor, long offset, int length)
    {
        var s = ShardOf(tensor);
        if (offset < 0 || length < 0 || offset > tensor.ByteSize || length > tensor.ByteSize - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"Bytes {offset}..+{length} are outside tensor '{tensor.Name}' ({tensor.ByteSize} bytes).");
        return new ReadOnlySpan<byte>(s.Base + tensor.FileOffset + offset, length);
    }

    /// <summary>Value of <paramref name="key"/> converted to <typeparamref name="T"/>, or null when absent or not
    /// convertible. Integers convert to any integer/float type that holds the value exactly (u32 ↔ i32 ↔ u64 ...),
    /// f32 widens to f64, f64 narrows to f32 only when exact. Bools only read as bool.</summary>
    public T? GetValue<T>(string key) where T : struct =>
        FindMetadata(key) is { } e && GgufValueConvert.TryConvert(e.Value, out T v) ? v : null;

    /// <summary>Like <see cref="GetValue{T}"/> but also for <c>string</c> and arrays (see <see cref="GetArray{T}"/>), as a Try pattern.</summary>
    public bool TryGetValue<T>(string key, out T value)
    {
        if (FindMetadata(key) is { } e && GgufValueConvert.TryConvert(e.Value, out value)) return true;
        value = default!;
        return false;
    }

    /// <summary>String value, or null when absent or not a string.</summary>
    public string? GetString(string key) => FindMetadata(key)?.Value as string;

    /// <summary>Integer value as u32 (null when absent or not representable).</summary>
    public uint? GetUInt32(string key) => GetValue<uint>(key);
    /// <summary>Integer value as i32 (null when absent or not representable).</summary>
    public int? GetInt32(string key) => GetValue<int>(key);
    /// <summary>Integer value as u64 (null when absent or not representable).</summary>
    public ulong? GetUInt64(string key) => GetValue<ulong>(key);
    /// <summary>Integer value as i64 (null when absent or not representable).</summary>
    public long? GetInt64(string key) => GetValue<long>(key);
    /// <summary>Float value as f32 (from f32, or f64/integers that convert exactly).</summary>
    public float? GetFloat32(string key) => GetValue<float>(key);
    /// <summary>Float value as f64 (from f32, f64 or integers that convert exactly).</summary>
    public double? GetFloat64(string key) => GetValue<double>(key);
    /// <summary>Bool value.</summary>
    public bool? GetBool(string key) => GetValue<bool>(key);

    /// <summary>Array value with elements of <typeparamref name="T"/>, or null. The stored array is returned as is when
    /// its element type is <typeparamref name="T"/> (do not modify it); otherwise every element is converted like
    /// <see cref="GetValue{T}"/> into a new array (null if one does not convert).</summary>
    public T[]? GetArray<T>(string key) =>
        FindMetadata(key) is { Value: System.Array } e && GgufValueConvert.TryConvert(e.Value, out T[] v) ? v : null;

    /// <summary>Unmaps and closes all shards.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        DisposeReadHandles();
        foreach (var s in _shards) s.Dispose();
    }
}

internal static class SplitKeys
{
    public const string No = "split.no";
    public const string Count = "split.count";
    public const string TensorsCount = "split.tensors.count";

    public static bool IsSplitKey(string key) => key is No or Count or TensorsCount;
}
