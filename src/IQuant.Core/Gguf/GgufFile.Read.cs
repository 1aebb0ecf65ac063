using Microsoft.Win32.SafeHandles;

namespace IQuant.Core.Gguf;

public sealed unsafe partial class GgufFile
{
    private SafeFileHandle?[]? _readHandles;
    private readonly object _readGate = new();

    /// <summary>
    /// Copies <c>destination.Length</c> bytes of a tensor's data, starting <paramref name="offset"/> bytes into it, with
    /// positional reads (pread) instead of the memory map. Streaming jobs (quantizing a whole model) use this so the
    /// pages they pass over are not mapped into the process: its working set stays bounded by its buffers, not by the
    /// model size. Thread-safe.
    /// </summary>
    public void ReadTensorData(GgufTensorInfo tensor, long offset, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (offset < 0 || offset + destination.Length > tensor.ByteSize)
            throw new ArgumentOutOfRangeException(nameof(offset), $"Bytes {offset}..{offset + destination.Length} are outside tensor '{tensor.Name}' ({tensor.ByteSize} bytes).");
        var handle = ReadHandle(tensor.ShardIndex, tensor.ShardPath);
        long pos = tensor.FileOffset + offset;
        while (!destination.IsEmpty)
        {
            int n = RandomAccess.Read(handle, destination, pos);
            if (n <= 0) throw new GgufFormatException(GgufErrorIds.Truncated, tensor.ShardPath, pos, $"'{tensor.ShardPath}' ended at offset {pos} inside tensor '{tensor.Name}'.");
            destination = destination[n..];
            pos += n;
        }
    }

    private SafeFileHandle ReadHandle(int shard, string path)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_readGate)
        {
            _readHandles ??= new SafeFileHandle?[ShardPaths.Count];
            return _readHandles[shard] ??= File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, FileOptions.RandomAccess);
        }
    }

    private void DisposeReadHandles()
    {
        lock (_readGate)
        {
            if (_readHandles is null) return;
            foreach (var h in _readHandles) h?.Dispose();
            _readHandles = null;
        }
    }
}
