namespace IQuant.Core.Gguf;

/// <summary>Options of <see cref="GgufWriter"/>.</summary>
public sealed record GgufWriterOptions
{
    /// <summary>Replace an existing target (default false: GgufWriteTargetExists).</summary>
    public bool Overwrite { get; init; }

    /// <summary>Input files the target must not be (full paths and resolved symlinks are compared):
    /// GgufWriteTargetIsInput. Pass <see cref="GgufFile.ShardPaths"/> of every input model.</summary>
    public IReadOnlyList<string> InputPaths { get; init; } = [];

    /// <summary>Split so that each shard's tensor data (sum of PAD(nbytes, 32)) stays ≤ this (gguf-split
    /// --split-max-size); a single larger tensor gets a shard of its own. 0 = no limit.</summary>
    public long MaxShardBytes { get; init; }

    /// <summary>Split after this many tensors per shard (gguf-split --split-max-tensors). 0 = no limit.</summary>
    public int MaxShardTensors { get; init; }
}

/// <summary>
/// Streaming, atomic GGUF v3 writer. The layout (offsets with 32-byte alignment, data_start, shard assignment) is
/// computed in the constructor and every shard's header is written at once; tensor data then follows through
/// <see cref="WriteTensor(int, ReadOnlySpan{byte})"/> / <see cref="WriteTensorChunk"/> / <see cref="OpenTensor"/>
/// (any tensor order; chunks of one tensor in order; distinct tensors may be written from different threads).
/// <see cref="Commit"/> checks completeness, flushes, fsyncs and renames the hidden temp files
/// (<c>.&lt;name&gt;.&lt;random&gt;.tmp</c> beside the target) onto the targets; <see cref="Dispose"/> without Commit
/// deletes them.
/// </summary>
/// <remarks>
/// Metadata is written in the order given, except: <c>general.alignment</c> (if present) is written as UINT32 32,
/// the alignment this writer uses (spec §1.5 quirk); the split keys <c>split.no</c>, <c>split.count</c>,
/// <c>split.tensors.count</c> are removed and, for split output, re-added at the end of each shard's KVs
/// (shard 0 carries all KVs, the others only the split keys, like gguf-split). Split output names are
/// <c>&lt;base&gt;-0000k-of-0000N.gguf</c> where base is the target path without its <c>.gguf</c> extension.
/// </remarks>
public sealed class GgufWriter : IDisposable
{
    /// <summary>The alignment used for data (always 32).</summary>
    public const int Alignment = 32;

    /// <summary>Computes the layout, creates the temp file(s) and writes the headers.</summary>
    public GgufWriter(string path, IEnumerable<GgufMetadataEntry> metadata, IEnumerable<GgufTensorSpec> tensors,
        GgufWriterOptions? options = null) => throw new NotImplementedException();

    /// <summary>Final target paths, one per shard.</summary>
    public IReadOnlyList<string> ShardPaths => throw new NotImplementedException();

    /// <summary>The tensors with their computed layout (offsets, shard, file offsets).</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors => throw new NotImplementedException();

    /// <summary>The KVs written to shard <paramref name="shard"/> (after the alignment/split adjustments).</summary>
    public IReadOnlyList<GgufMetadataEntry> GetShardMetadata(int shard) => throw new NotImplementedException();

    /// <summary>Writes all bytes of tensor <paramref name="index"/> at once; the length must equal its ByteSize.</summary>
    public void WriteTensor(int index, ReadOnlySpan<byte> data) => throw new NotImplementedException();

    /// <summary>Appends a chunk to tensor <paramref name="index"/>; the chunks must add up to its ByteSize.</summary>
    public void WriteTensorChunk(int index, ReadOnlySpan<byte> chunk) => throw new NotImplementedException();

    /// <summary>A write-only stream appending to tensor <paramref name="index"/> (same rules as <see cref="WriteTensorChunk"/>).</summary>
    public Stream OpenTensor(int index) => throw new NotImplementedException();

    /// <summary>Copies a tensor's bytes from an opened model (any size; in chunks).</summary>
    public void CopyTensor(int index, GgufFile source, GgufTensorInfo tensor) => throw new NotImplementedException();

    /// <summary>Bytes still expected for tensor <paramref name="index"/>.</summary>
    public long RemainingBytes(int index) => throw new NotImplementedException();

    /// <summary>Verifies every tensor is complete, flushes and fsyncs, then renames the temp file(s) onto the target(s).</summary>
    public void Commit() => throw new NotImplementedException();

    /// <summary>Closes; without a successful <see cref="Commit"/> the temp files are deleted and no target is touched.</summary>
    public void Dispose() => throw new NotImplementedException();
}
