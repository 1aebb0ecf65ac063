namespace IQuant.Core.Gguf;

/// <summary>Limits for <see cref="GgufFile.Open"/>. Exceeding one gives GgufStringTooLong / GgufArrayTooLong /
/// GgufTooManyKeys / GgufTooManyTensors. Independently of these, every count and length is checked against the bytes
/// left in the file before anything is allocated (GgufTruncated), so memory stays proportional to the file size.</summary>
public sealed record GgufReadOptions
{
    /// <summary>The defaults.</summary>
    public static GgufReadOptions Default { get; } = new();

    /// <summary>Longest string (bytes) accepted, key or value. Default 256 MiB.</summary>
    public long MaxStringLength { get; init; } = 256L << 20;

    /// <summary>Largest array element count accepted. Default 256 Mi elements.</summary>
    public long MaxArrayCount { get; init; } = 256L << 20;

    /// <summary>Largest n_tensors accepted (per shard). Default 1,000,000.</summary>
    public long MaxTensors { get; init; } = 1_000_000;

    /// <summary>Largest n_kv accepted (per shard). Default 1,000,000.</summary>
    public long MaxKeys { get; init; } = 1_000_000;

    /// <summary>Accept tensor type ids unknown to the type table (their <see cref="GgufTensorInfo.TypeInfo"/> is null and
    /// their <see cref="GgufTensorInfo.ByteSize"/> 0: only their start offset is checked, and their bytes cannot be read). Default false
    /// (GgufUnknownTensorType).</summary>
    public bool AllowUnknownTensorTypes { get; init; }

    /// <summary>Open the other shards of a split set (default true). When false, a shard is read as a single file.</summary>
    public bool OpenSplitShards { get; init; } = true;
}
