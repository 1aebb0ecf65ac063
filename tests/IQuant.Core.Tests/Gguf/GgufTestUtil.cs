using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using IQuant.Core.Gguf;

namespace IQuant.Core.Tests.Gguf;

/// <summary>A byte-level GGUF builder for hand-made (often malformed) files.</summary>
internal sealed class RawGguf
{
    private readonly MemoryStream _ms = new();

    public long Position => _ms.Position;

    public RawGguf U8(byte v) { _ms.WriteByte(v); return this; }
    public RawGguf U16(ushort v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); _ms.Write(b); return this; }
    public RawGguf U32(uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); _ms.Write(b); return this; }
    public RawGguf I32(int v) => U32((uint)v);
    public RawGguf U64(ulong v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); _ms.Write(b); return this; }
    public RawGguf Bytes(ReadOnlySpan<byte> b) { _ms.Write(b); return this; }

    public RawGguf Str(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        U64((ulong)b.Length);
        return Bytes(b);
    }

    /// <summary>magic, version, n_tensors, n_kv.</summary>
    public RawGguf Header(ulong nTensors, ulong nKv, uint version = 3, uint magic = 0x46554747) =>
        U32(magic).U32(version).U64(nTensors).U64(nKv);

    public RawGguf KvU32(string key, uint v) => Str(key).U32(4).U32(v);
    public RawGguf KvString(string key, string v) => Str(key).U32(8).Str(v);

    public RawGguf TensorInfo(string name, ulong[] ne, int type, ulong offset)
    {
        Str(name).U32((uint)ne.Length);
        foreach (var d in ne) U64(d);
        return I32(type).U64(offset);
    }

    /// <summary>Zero bytes up to the next multiple of <paramref name="alignment"/>.</summary>
    public RawGguf Pad(int alignment = 32)
    {
        while (_ms.Position % alignment != 0) _ms.WriteByte(0);
        return this;
    }

    public RawGguf Zeros(int n) { _ms.Write(new byte[n]); return this; }

    public byte[] ToArray() => _ms.ToArray();
}

/// <summary>A temp folder deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "iquant-gguf-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Write(string name, byte[] bytes)
    {
        var p = File(name);
        System.IO.File.WriteAllBytes(p, bytes);
        return p;
    }

    public void Dispose()
    {
        try
        {
            foreach (var f in Directory.EnumerateFileSystemEntries(Path, "*", SearchOption.AllDirectories))
            {
                if (!OperatingSystem.IsWindows()) try { System.IO.File.SetUnixFileMode(f, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute); } catch { }
            }
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

internal static class GgufAssert
{
    /// <summary>Opens <paramref name="path"/> expecting a <see cref="GgufFormatException"/> with <paramref name="errorId"/>,
    /// within 1 s and without allocating more than 1 MB + the file size.</summary>
    public static GgufFormatException Fails(string path, string errorId, GgufReadOptions? options = null)
    {
        long size = System.IO.File.Exists(path) ? new FileInfo(path).Length : 0;
        // The machine is shared (2 cores, heavy load): a wall-clock limit is checked on the best of up to 3 attempts, so
        // that JIT warm-up and scheduling noise do not count; the work itself is what must stay under 1 s.
        TimeSpan best = TimeSpan.MaxValue;
        long bestAlloc = long.MaxValue;
        GgufFormatException? ex = null;
        for (int attempt = 0; attempt < 3 && best >= TimeSpan.FromSeconds(1); attempt++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var sw = Stopwatch.StartNew();
            ex = null;
            try
            {
                using var f = GgufFile.Open(path, options);
            }
            catch (GgufFormatException e)
            {
                ex = e;
            }
            sw.Stop();
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(ex is not null, $"Opening {path} ({size} bytes) succeeded; expected {errorId}.");
            Assert.True(ex!.ErrorId == errorId, $"Expected {errorId} but got {ex.ErrorId}: {ex.Message}");
            if (sw.Elapsed < best) best = sw.Elapsed;
            bestAlloc = Math.Min(bestAlloc, allocated);
        }
        Assert.False(string.IsNullOrWhiteSpace(ex!.Message));
        Assert.False(string.IsNullOrEmpty(ex.Path));
        if (!errorId.StartsWith("GgufSplit", StringComparison.Ordinal) && errorId != GgufErrorIds.DuplicateTensorName)
            Assert.Equal(System.IO.Path.GetFullPath(path), ex.Path);
        Assert.True(best < TimeSpan.FromSeconds(1), $"Took {best.TotalMilliseconds:F0} ms: {ex.Message}");
        Assert.True(bestAlloc < (1 << 20) + size, $"Allocated {bestAlloc} bytes for a {size}-byte file: {ex.Message}");
        return ex;
    }

    public static GgufFormatException Fails(TempDir dir, byte[] bytes, string errorId, GgufReadOptions? options = null)
        => Fails(dir.Write("m-" + Guid.NewGuid().ToString("N")[..8] + ".gguf", bytes), errorId, options);

    /// <summary>Deep value equality of two metadata entries (typed arrays element-wise, floats bitwise).</summary>
    public static void Equal(GgufMetadataEntry a, GgufMetadataEntry b)
    {
        Assert.Equal(a.Key, b.Key);
        Assert.Equal(a.Type, b.Type);
        Assert.Equal(a.ElementType, b.ElementType);
        Assert.Equal(a.Value.GetType(), b.Value.GetType());
        switch (a.Value)
        {
            case float f: Assert.Equal(BitConverter.SingleToUInt32Bits(f), BitConverter.SingleToUInt32Bits((float)b.Value)); break;
            case double d: Assert.Equal(BitConverter.DoubleToUInt64Bits(d), BitConverter.DoubleToUInt64Bits((double)b.Value)); break;
            case float[] fa: Assert.Equal(fa.Select(BitConverter.SingleToUInt32Bits), ((float[])b.Value).Select(BitConverter.SingleToUInt32Bits)); break;
            case double[] da: Assert.Equal(da.Select(BitConverter.DoubleToUInt64Bits), ((double[])b.Value).Select(BitConverter.DoubleToUInt64Bits)); break;
            case System.Array arr: Assert.Equal(arr.Cast<object>(), ((System.Array)b.Value).Cast<object>()); break;
            default: Assert.Equal(a.Value, b.Value); break;
        }
    }

    public static void SameModel(GgufFile a, GgufFile b, bool compareMetadata = true)
    {
        if (compareMetadata)
        {
            Assert.Equal(a.Metadata.Count, b.Metadata.Count);
            for (int i = 0; i < a.Metadata.Count; i++) Equal(a.Metadata[i], b.Metadata[i]);
        }
        Assert.Equal(a.Tensors.Count, b.Tensors.Count);
        for (int i = 0; i < a.Tensors.Count; i++)
        {
            var x = a.Tensors[i];
            var y = b.Tensors[i];
            Assert.Equal(x.Name, y.Name);
            Assert.Equal(x.Shape, y.Shape);
            Assert.Equal(x.TypeId, y.TypeId);
            Assert.Equal(x.ByteSize, y.ByteSize);
            Assert.Equal(x.Index, y.Index);
            Assert.True(a.GetTensorBytes(x).SequenceEqual(b.GetTensorBytes(y)), $"Tensor {x.Name} bytes differ.");
        }
    }

    /// <summary>Re-writes <paramref name="src"/> with <see cref="GgufWriter"/> (same metadata, tensors, bytes).</summary>
    public static IReadOnlyList<string> Rewrite(GgufFile src, string target, GgufWriterOptions? options = null, bool keepShards = false)
    {
        using var w = new GgufWriter(target, src.Metadata, src.Tensors.Select(t => GgufTensorSpec.From(t, keepShard: keepShards)), options);
        for (int i = 0; i < src.Tensors.Count; i++) w.CopyTensor(i, src, src.Tensors[i]);
        w.Commit();
        return w.ShardPaths;
    }
}
