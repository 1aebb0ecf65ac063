using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Win32.SafeHandles;
using IQuant.Core.Types;

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

    /// <summary>Longest tensor name ggml can hold (GGML_MAX_NAME - 1 bytes of UTF-8).</summary>
    public const int MaxTensorNameBytes = 63;

    private const int CopyChunk = 64 << 20;

    private sealed class Shard
    {
        public required string FinalPath;
        public required string TempPath;
        public SafeFileHandle? Handle;
        public required List<GgufMetadataEntry> Metadata;
        public long Length;
        public int FirstTensor, TensorCount;
    }

    private sealed class TensorState
    {
        public required GgufTensorInfo Info;
        public required Shard Shard;
        public long Written;
    }

    private readonly Shard[] _shards;
    private readonly TensorState[] _tensors;
    private readonly GgufTensorInfo[] _infos;
    private readonly GgufWriterOptions _options;
    private bool _committed, _disposed;

    /// <summary>Computes the layout, creates the temp file(s) and writes the headers.</summary>
    public GgufWriter(string path, IEnumerable<GgufMetadataEntry> metadata, IEnumerable<GgufTensorSpec> tensors,
        GgufWriterOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(tensors);
        _options = options ??= new GgufWriterOptions();
        if (options.MaxShardBytes < 0) throw new ArgumentOutOfRangeException(nameof(options), "MaxShardBytes must be >= 0.");
        if (options.MaxShardTensors < 0) throw new ArgumentOutOfRangeException(nameof(options), "MaxShardTensors must be >= 0.");
        string target = System.IO.Path.GetFullPath(path);

        // Metadata: alignment is ours, split keys are ours.
        var md = new List<GgufMetadataEntry>();
        foreach (var e in metadata)
        {
            if (e is null) throw new GgufWriteException(GgufErrorIds.WriteInvalidMetadata, target, "The metadata list contains null.");
            if (SplitKeys.IsSplitKey(e.Key)) continue;
            md.Add(e.Key == "general.alignment" ? GgufMetadataEntry.UInt32("general.alignment", Alignment) : e);
        }

        // Tensors and shard assignment.
        var specs = tensors.ToArray();
        var names = new HashSet<string>(specs.Length, StringComparer.Ordinal);
        int explicitShards = 0;
        for (int i = 0; i < specs.Length; i++)
        {
            var t = specs[i] ?? throw new GgufWriteException(GgufErrorIds.WriteInvalidTensor, target, $"Tensor spec {i} is null.");
            if (Encoding.UTF8.GetByteCount(t.Name) > MaxTensorNameBytes)
                throw new GgufWriteException(GgufErrorIds.WriteInvalidTensor, target,
                    $"Tensor name '{t.Name}' is longer than {MaxTensorNameBytes} bytes, which ggml cannot load.");
            if (!names.Add(t.Name))
                throw new GgufWriteException(GgufErrorIds.WriteInvalidTensor, target, $"Tensor name '{t.Name}' appears twice.");
            if (t.Shard is { } sh)
            {
                explicitShards++;
                if (sh < 0 || (i > 0 && specs[i - 1].Shard is { } prev && sh < prev))
                    throw new GgufWriteException(GgufErrorIds.WriteInvalidTensor, target,
                        $"Tensor '{t.Name}' has shard {sh}; shard numbers must be >= 0 and non-decreasing in tensor order.");
            }
        }
        if (explicitShards != 0 && explicitShards != specs.Length)
            throw new GgufWriteException(GgufErrorIds.WriteInvalidTensor, target, "Either every tensor spec or none must have a Shard.");
        var shardOf = new int[specs.Length];
        int shardCount;
        if (explicitShards > 0)
        {
            for (int i = 0; i < specs.Length; i++) shardOf[i] = specs[i].Shard!.Value;
            shardCount = specs.Length == 0 ? 1 : shardOf[^1] + 1;
        }
        else
        {
            int cur = 0, inShard = 0;
            long bytes = 0;
            for (int i = 0; i < specs.Length; i++)
            {
                long padded = Pad(specs[i].ByteSize);
                if (inShard > 0 && ((options.MaxShardTensors > 0 && inShard >= options.MaxShardTensors) ||
                                    (options.MaxShardBytes > 0 && bytes + padded > options.MaxShardBytes)))
                {
                    cur++; inShard = 0; bytes = 0;
                }
                shardOf[i] = cur;
                inShard++;
                bytes += padded;
            }
            shardCount = cur + 1;
        }
        if (shardCount > 99999)
            throw new GgufWriteException(GgufErrorIds.WriteInvalidTensor, target, $"{shardCount} shards is more than the 99999 a split name can number.");

        // Paths and refusal checks.
        string[] finals = new string[shardCount];
        if (shardCount == 1) finals[0] = target;
        else
        {
            string b = target.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) ? target[..^5] : target;
            for (int k = 0; k < shardCount; k++) finals[k] = $"{b}-{k + 1:D5}-of-{shardCount:D5}.gguf";
        }
        CheckTargets(finals, options);

        // Layout.
        _shards = new Shard[shardCount];
        for (int k = 0; k < shardCount; k++)
        {
            var sm = k == 0 ? new List<GgufMetadataEntry>(md) : new List<GgufMetadataEntry>(3);
            if (shardCount > 1)
            {
                sm.Add(GgufMetadataEntry.UInt16(SplitKeys.No, (ushort)k));
                sm.Add(GgufMetadataEntry.UInt16(SplitKeys.Count, (ushort)shardCount));
                sm.Add(GgufMetadataEntry.Int32(SplitKeys.TensorsCount, specs.Length));
            }
            _shards[k] = new Shard { FinalPath = finals[k], TempPath = TempName(finals[k]), Metadata = sm };
        }
        _tensors = new TensorState[specs.Length];
        _infos = new GgufTensorInfo[specs.Length];
        var headers = new byte[shardCount][];
        int ti = 0;
        for (int k = 0; k < shardCount; k++)
        {
            var shard = _shards[k];
            int first = ti;
            while (ti < specs.Length && shardOf[ti] == k) ti++;
            shard.FirstTensor = first;
            shard.TensorCount = ti - first;
            var hdr = BuildHeader(shard.Metadata, specs.AsSpan(first, ti - first), out var offsets);
            headers[k] = hdr;
            long dataStart = Pad(hdr.Length);
            long end = dataStart;
            for (int i = first; i < ti; i++)
            {
                var sp = specs[i];
                var g = GgufTensorInfo.ComputeGeometry(sp.TypeInfo, sp.Shape);
                ulong off = offsets[i - first];
                var info = new GgufTensorInfo(sp.Name, (long[])sp.Shape.Clone(), (int)sp.Type, sp.TypeInfo, g.Elements, g.RowSize, g.Rows,
                    g.ByteSize, off, dataStart + (long)off, k, shard.FinalPath, i);
                _infos[i] = info;
                _tensors[i] = new TensorState { Info = info, Shard = shard };
                end = dataStart + (long)off + Pad(g.ByteSize);
            }
            shard.Length = end;
        }

        // Create the temp files and write the headers.
        try
        {
            for (int k = 0; k < shardCount; k++)
            {
                var shard = _shards[k];
                shard.Handle = File.OpenHandle(shard.TempPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
                RandomAccess.SetLength(shard.Handle, shard.Length);
                RandomAccess.Write(shard.Handle, headers[k], 0);
            }
        }
        catch (Exception e)
        {
            Cleanup();
            if (e is IOException or UnauthorizedAccessException)
                throw new GgufWriteException(GgufErrorIds.WriteFailed, target, $"Cannot create '{target}': {e.Message}", e);
            throw;
        }
    }

    /// <summary>Shorthand for <see cref="GgufWriter(string, IEnumerable{GgufMetadataEntry}, IEnumerable{GgufTensorSpec}, GgufWriterOptions?)"/>
    /// with <see cref="GgufWriterOptions.Overwrite"/> and <see cref="GgufWriterOptions.InputPaths"/>.</summary>
    public GgufWriter(string path, IEnumerable<GgufMetadataEntry> metadata, IEnumerable<GgufTensorSpec> tensors, bool overwrite,
        IEnumerable<string>? inputPaths = null)
        : this(path, metadata, tensors, new GgufWriterOptions { Overwrite = overwrite, InputPaths = inputPaths?.ToArray() ?? [] })
    {
    }

    private static long Pad(long n) => (n + Alignment - 1) / Alignment * Alignment;

    private static string TempName(string final)
    {
        string dir = System.IO.Path.GetDirectoryName(final)!;
        string name = System.IO.Path.GetFileName(final);
        return System.IO.Path.Combine(dir, "." + name + "." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)) + ".tmp");
    }

    private static void CheckTargets(string[] finals, GgufWriterOptions options)
    {
        var cmp = OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;
        var inputs = new List<(string Full, string Real)>();
        foreach (var ip in options.InputPaths)
        {
            if (string.IsNullOrEmpty(ip)) continue;
            string full = System.IO.Path.GetFullPath(ip);
            inputs.Add((full, RealPath(full)));
        }
        foreach (var f in finals)
        {
            string real = RealPath(f);
            foreach (var (full, ireal) in inputs)
            {
                if (string.Equals(f, full, cmp) || string.Equals(real, ireal, cmp) || string.Equals(f, ireal, cmp) || string.Equals(real, full, cmp))
                    throw new GgufWriteException(GgufErrorIds.WriteTargetIsInput, f,
                        $"Refusing to write '{f}': it is an input file{(string.Equals(f, full, cmp) ? "" : $" ('{full}')")}.");
            }
            if (Directory.Exists(f))
                throw new GgufWriteException(GgufErrorIds.WriteFailed, f, $"Cannot write '{f}': it is a directory.");
            string? dir = System.IO.Path.GetDirectoryName(f);
            if (dir is not null && !Directory.Exists(dir))
                throw new GgufWriteException(GgufErrorIds.WriteFailed, f, $"Cannot write '{f}': folder '{dir}' does not exist.");
            if (!options.Overwrite && File.Exists(f))
                throw new GgufWriteException(GgufErrorIds.WriteTargetExists, f, $"'{f}' already exists (allow overwriting to replace it).");
        }
    }

    /// <summary>The path with every symbolic link on it resolved (as far as the components exist).</summary>
    internal static string RealPath(string path, int depth = 0)
    {
        string full = System.IO.Path.GetFullPath(path);
        if (depth > 40) return full;
        string root = System.IO.Path.GetPathRoot(full) ?? "";
        string cur = root;
        var parts = full[root.Length..].Split([System.IO.Path.DirectorySeparatorChar, System.IO.Path.AltDirectorySeparatorChar],
            StringSplitOptions.RemoveEmptyEntries);
        foreach (var part in parts)
        {
            cur = System.IO.Path.Combine(cur, part);
            string? target;
            try { target = new FileInfo(cur).LinkTarget; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { target = null; }
            if (target is not null)
            {
                string abs = System.IO.Path.IsPathRooted(target) ? target : System.IO.Path.Combine(System.IO.Path.GetDirectoryName(cur) ?? root, target);
                cur = RealPath(abs, depth + 1);
            }
        }
        return cur;
    }

    private static byte[] BuildHeader(List<GgufMetadataEntry> md, ReadOnlySpan<GgufTensorSpec> specs, out ulong[] offsets)
    {
        var w = new HeaderWriter();
        w.U32(GgufShard.Magic);
        w.U32(3);
        w.U64((ulong)specs.Length);
        w.U64((ulong)md.Count);
        foreach (var e in md)
        {
            w.Str(e.Key);
            w.U32((uint)e.Type);
            if (e.Type == GgufValueType.Array)
            {
                var et = e.ElementType!.Value;
                w.U32((uint)et);
                var arr = (System.Array)e.Value;
                w.U64((ulong)arr.LongLength);
                switch (arr)
                {
                    case string[] sa: foreach (var x in sa) w.Str(x); break;
                    case bool[] ba: foreach (var x in ba) w.U8(x ? (byte)1 : (byte)0); break;
                    case byte[] a: w.Raw(a); break;
                    case sbyte[] a: w.Raw(MemoryMarshal.AsBytes(a.AsSpan())); break;
                    case ushort[] a: w.Numbers(a.AsSpan()); break;
                    case short[] a: w.Numbers(a.AsSpan()); break;
                    case uint[] a: w.Numbers(a.AsSpan()); break;
                    case int[] a: w.Numbers(a.AsSpan()); break;
                    case float[] a: w.Numbers(a.AsSpan()); break;
                    case ulong[] a: w.Numbers(a.AsSpan()); break;
                    case long[] a: w.Numbers(a.AsSpan()); break;
                    case double[] a: w.Numbers(a.AsSpan()); break;
                    default: throw new InvalidOperationException("Unexpected array value " + arr.GetType());
                }
            }
            else
            {
                switch (e.Value)
                {
                    case byte v: w.U8(v); break;
                    case sbyte v: w.U8((byte)v); break;
                    case bool v: w.U8(v ? (byte)1 : (byte)0); break;
                    case ushort v: w.U16(v); break;
                    case short v: w.U16((ushort)v); break;
                    case uint v: w.U32(v); break;
                    case int v: w.U32((uint)v); break;
                    case float v: w.U32(BitConverter.SingleToUInt32Bits(v)); break;
                    case ulong v: w.U64(v); break;
                    case long v: w.U64((ulong)v); break;
                    case double v: w.U64(BitConverter.DoubleToUInt64Bits(v)); break;
                    case string v: w.Str(v); break;
                    default: throw new InvalidOperationException("Unexpected value " + e.Value.GetType());
                }
            }
        }
        offsets = new ulong[specs.Length];
        ulong off = 0;
        for (int i = 0; i < specs.Length; i++)
        {
            var t = specs[i];
            w.Str(t.Name);
            w.U32((uint)t.Shape.Length);
            foreach (var d in t.Shape) w.U64((ulong)d);
            w.U32((uint)(int)t.Type);
            w.U64(off);
            offsets[i] = off;
            off += (ulong)Pad(t.ByteSize);
        }
        return w.ToArray();
    }

    private sealed class HeaderWriter
    {
        private byte[] _buf = new byte[4096];
        private int _n;

        private Span<byte> Take(int n)
        {
            if (_n + n > _buf.Length)
            {
                long want = Math.Max((long)_buf.Length * 2, (long)_n + n);
                if (want > System.Array.MaxLength) want = System.Array.MaxLength;
                if (want < (long)_n + n) throw new InvalidOperationException("The GGUF header is larger than 2 GB.");
                System.Array.Resize(ref _buf, (int)want);
            }
            var s = _buf.AsSpan(_n, n);
            _n += n;
            return s;
        }

        public void U8(byte v) => Take(1)[0] = v;
        public void U16(ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(Take(2), v);
        public void U32(uint v) => BinaryPrimitives.WriteUInt32LittleEndian(Take(4), v);
        public void U64(ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(Take(8), v);
        public void Raw(ReadOnlySpan<byte> b) => b.CopyTo(Take(b.Length));

        public void Str(string s)
        {
            int n = Encoding.UTF8.GetByteCount(s);
            U64((ulong)n);
            Encoding.UTF8.GetBytes(s, Take(n));
        }

        public void Numbers<T>(ReadOnlySpan<T> a) where T : unmanaged
        {
            var b = MemoryMarshal.AsBytes(a);
            var dst = Take(b.Length);
            b.CopyTo(dst);
            if (!BitConverter.IsLittleEndian)
            {
                int size = b.Length / Math.Max(1, a.Length);
                for (int i = 0; i < dst.Length; i += size) dst.Slice(i, size).Reverse();
            }
        }

        public byte[] ToArray() => _buf.AsSpan(0, _n).ToArray();
    }

    /// <summary>Final target paths, one per shard.</summary>
    public IReadOnlyList<string> ShardPaths => System.Array.ConvertAll(_shards, s => s.FinalPath);

    /// <summary>The tensors with their computed layout (offsets, shard, file offsets; ShardPath is the final path).</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors => _infos;

    /// <summary>Total bytes of all shards.</summary>
    public long TotalBytes
    {
        get { long t = 0; foreach (var s in _shards) t += s.Length; return t; }
    }

    /// <summary>The KVs written to shard <paramref name="shard"/> (after the alignment/split adjustments).</summary>
    public IReadOnlyList<GgufMetadataEntry> GetShardMetadata(int shard) => _shards[shard].Metadata.AsReadOnly();

    private TensorState State(int index)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_committed) throw new InvalidOperationException("The writer has been committed.");
        if ((uint)index >= (uint)_tensors.Length)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"There are {_tensors.Length} tensors.");
        return _tensors[index];
    }

    /// <summary>Writes all bytes of tensor <paramref name="index"/> at once; the length must equal its ByteSize.</summary>
    public void WriteTensor(int index, ReadOnlySpan<byte> data)
    {
        var st = State(index);
        if (data.Length != st.Info.ByteSize)
            throw new GgufWriteException(GgufErrorIds.WriteSizeMismatch, st.Shard.FinalPath,
                $"Tensor '{st.Info.Name}' ({st.Info.Type}, shape {st.Info.ShapeText}) needs {st.Info.ByteSize} bytes, not {data.Length}.");
        lock (st)
        {
            if (st.Written != 0)
                throw new InvalidOperationException($"Tensor '{st.Info.Name}' has already been (partly) written.");
            WriteLocked(st, data);
        }
    }

    /// <summary>Appends a chunk to tensor <paramref name="index"/>; the chunks must add up to its ByteSize.</summary>
    public void WriteTensorChunk(int index, ReadOnlySpan<byte> chunk)
    {
        var st = State(index);
        lock (st) WriteLocked(st, chunk);
    }

    private void WriteLocked(TensorState st, ReadOnlySpan<byte> data)
    {
        if (data.Length > st.Info.ByteSize - st.Written)
            throw new GgufWriteException(GgufErrorIds.WriteSizeMismatch, st.Shard.FinalPath,
                $"Tensor '{st.Info.Name}' needs {st.Info.ByteSize} bytes; {st.Written} were written and {data.Length} more exceed that.");
        if (data.IsEmpty) return;
        try
        {
            RandomAccess.Write(st.Shard.Handle!, data, st.Info.FileOffset + st.Written);
        }
        catch (IOException e)
        {
            throw new GgufWriteException(GgufErrorIds.WriteFailed, st.Shard.FinalPath, $"Writing tensor '{st.Info.Name}' failed: {e.Message}", e);
        }
        st.Written += data.Length;
    }

    /// <summary>A write-only stream appending to tensor <paramref name="index"/> (same rules as <see cref="WriteTensorChunk"/>).</summary>
    public Stream OpenTensor(int index)
    {
        State(index);
        return new TensorStream(this, index);
    }

    /// <summary>Copies a tensor's bytes from an opened model (any size, in chunks). Sizes must match.</summary>
    public unsafe void CopyTensor(int index, GgufFile source, GgufTensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(source);
        var st = State(index);
        if (tensor.ByteSize != st.Info.ByteSize)
            throw new GgufWriteException(GgufErrorIds.WriteSizeMismatch, st.Shard.FinalPath,
                $"Tensor '{st.Info.Name}' needs {st.Info.ByteSize} bytes but source tensor '{tensor.Name}' has {tensor.ByteSize}.");
        byte* p = source.GetTensorPointer(tensor);
        lock (st)
        {
            if (st.Written != 0)
                throw new InvalidOperationException($"Tensor '{st.Info.Name}' has already been (partly) written.");
            for (long done = 0; done < tensor.ByteSize;)
            {
                int n = (int)Math.Min(CopyChunk, tensor.ByteSize - done);
                WriteLocked(st, new ReadOnlySpan<byte>(p + done, n));
                done += n;
            }
        }
    }

    /// <summary>Bytes still expected for tensor <paramref name="index"/>.</summary>
    public long RemainingBytes(int index)
    {
        var st = State(index);
        lock (st) return st.Info.ByteSize - st.Written;
    }

    /// <summary>Verifies every tensor is complete, flushes and fsyncs, then renames the temp file(s) onto the target(s).</summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_committed) return;
        foreach (var st in _tensors)
        {
            lock (st)
            {
                if (st.Written != st.Info.ByteSize)
                    throw new GgufWriteException(GgufErrorIds.WriteIncomplete, st.Shard.FinalPath,
                        $"Tensor '{st.Info.Name}' (index {st.Info.Index}) has {st.Written} of its {st.Info.ByteSize} bytes; nothing was committed.");
            }
        }
        try
        {
            foreach (var s in _shards)
            {
                using (var fs = new FileStream(s.Handle!, FileAccess.ReadWrite, 0))
                    fs.Flush(flushToDisk: true);
                s.Handle = null; // closed by the FileStream
            }
            foreach (var s in _shards)
            {
                if (!_options.Overwrite && File.Exists(s.FinalPath))
                    throw new GgufWriteException(GgufErrorIds.WriteTargetExists, s.FinalPath, $"'{s.FinalPath}' appeared while writing; not replaced.");
                File.Move(s.TempPath, s.FinalPath, _options.Overwrite);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not GgufWriteException)
        {
            throw new GgufWriteException(GgufErrorIds.WriteFailed, _shards[0].FinalPath, $"Committing '{_shards[0].FinalPath}' failed: {e.Message}", e);
        }
        _committed = true;
    }

    /// <summary>Closes; without a successful <see cref="Commit"/> the temp files are deleted and no target is touched.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Cleanup();
    }

    private void Cleanup()
    {
        foreach (var s in _shards ?? [])
        {
            if (s is null) continue;
            s.Handle?.Dispose();
            s.Handle = null;
            if (!_committed)
            {
                try { File.Delete(s.TempPath); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
    }

    private sealed class TensorStream(GgufWriter writer, int index) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer) => writer.WriteTensorChunk(index, buffer);
    }
}
