using System.Buffers.Binary;
using System.Text;
using IQuant.Core.Gguf;

namespace IQuant.Core.Quantization;

/// <summary>Thrown for an importance-matrix file IQuant cannot use; <see cref="ErrorId"/> is stable.</summary>
public sealed class ImatrixFormatException(string errorId, string path, string message) : Exception(message)
{
    /// <summary>Stable id for PowerShell ErrorRecords.</summary>
    public string ErrorId { get; } = errorId;
    /// <summary>The imatrix file.</summary>
    public string Path { get; } = path;
}

/// <summary>One imatrix entry: a tensor name, the number of calls, and the per-column values as stored.</summary>
public sealed record ImatrixEntry(string Name, int Calls, float[] Values)
{
    /// <summary>
    /// What llama-quantize passes to the quantizer: each stored value divided by the call count (f32 division),
    /// i.e. the mean of the squared activations per column (spec §7.2).
    /// </summary>
    public float[] Weights()
    {
        var w = (float[])Values.Clone();
        if (Calls > 0)
        {
            float n = Calls;
            for (int i = 0; i < w.Length; i++) w[i] /= n;
        }
        return w;
    }
}

/// <summary>
/// An importance matrix: the legacy ik/llama.cpp <c>.dat</c> format (spec §7.2) or the mainline GGUF format
/// (spec §7.3, converted as ik's convert_imatrix_gguf_to_dat.py does), plus the metadata llama-quantize records.
/// </summary>
public sealed class ImatrixFile
{
    /// <summary>Entries in file order.</summary>
    public required IReadOnlyList<ImatrixEntry> Entries { get; init; }
    /// <summary>Chunks processed (the .dat trailer's last_call, GGUF imatrix.chunk_count), or 0.</summary>
    public int Chunks { get; init; }
    /// <summary>The calibration dataset name, if recorded.</summary>
    public string? Dataset { get; init; }
    /// <summary>The file it was read from.</summary>
    public string Path { get; init; } = "";
    /// <summary>"dat" or "gguf".</summary>
    public string Format { get; init; } = "dat";

    private Dictionary<string, ImatrixEntry>? _byName;

    /// <summary>The entry for a tensor name, or null.</summary>
    public ImatrixEntry? Find(string name)
    {
        _byName ??= Entries.GroupBy(e => e.Name).ToDictionary(g => g.Key, g => g.First());
        return _byName.GetValueOrDefault(name);
    }

    /// <summary>
    /// The entry llama-quantize would use for a tensor, with its fallbacks (spec §7.4): ffn_up_exps / ffn_gate_exps →
    /// ffn_gate_up_exps → ffn_up_exps; ffn_gate_up_exps → ffn_up_exps; ffn_gate → ffn_up; attn_v_b ↔ attn_kv_b.
    /// </summary>
    public ImatrixEntry? FindFor(string tensorName)
    {
        var e = Find(tensorName);
        if (e is not null) return e;
        string n = tensorName;
        if (n.EndsWith("ffn_up_exps.weight", StringComparison.Ordinal) || n.EndsWith("ffn_gate_exps.weight", StringComparison.Ordinal))
        {
            var stem = n[..n.LastIndexOf("ffn_", StringComparison.Ordinal)];
            return Find(stem + "ffn_gate_up_exps.weight") ?? Find(stem + "ffn_up_exps.weight");
        }
        if (n.EndsWith("ffn_gate_up_exps.weight", StringComparison.Ordinal))
            return Find(n.Replace("ffn_gate_up_exps.weight", "ffn_up_exps.weight", StringComparison.Ordinal));
        if (n.EndsWith("ffn_gate.weight", StringComparison.Ordinal))
            return Find(n.Replace("ffn_gate.weight", "ffn_up.weight", StringComparison.Ordinal));
        if (n.EndsWith(".attn_v_b.weight", StringComparison.Ordinal))
            return Find(n.Replace(".attn_v_b.weight", ".attn_kv_b.weight", StringComparison.Ordinal));
        if (n.EndsWith(".attn_kv_b.weight", StringComparison.Ordinal))
            return Find(n.Replace(".attn_kv_b.weight", ".attn_v_b.weight", StringComparison.Ordinal));
        return null;
    }

    /// <summary>Reads a .dat or GGUF imatrix file (detected by the GGUF magic). Throws <see cref="ImatrixFormatException"/>.</summary>
    public static ImatrixFile Load(string path)
    {
        byte[] head = new byte[4];
        if (Directory.Exists(path)) throw new ImatrixFormatException("ImatrixNotAFile", path, $"'{path}' is a directory, not an imatrix file.");
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            if (fs.Read(head, 0, 4) == 4 && head.AsSpan().SequenceEqual("GGUF"u8)) return LoadGguf(path);
        }
        catch (UnauthorizedAccessException ex) { throw new ImatrixFormatException("ImatrixAccessDenied", path, $"Cannot read imatrix '{path}': {ex.Message}"); }
        catch (FileNotFoundException) { throw new ImatrixFormatException("ImatrixNotFound", path, $"Imatrix file '{path}' does not exist."); }
        catch (DirectoryNotFoundException) { throw new ImatrixFormatException("ImatrixNotFound", path, $"Imatrix file '{path}' does not exist."); }
        return LoadDat(path);
    }

    private static ImatrixFile LoadDat(string path)
    {
        byte[] data;
        try { data = File.ReadAllBytes(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        { throw new ImatrixFormatException("ImatrixUnreadable", path, $"Cannot read imatrix '{path}': {ex.Message}"); }
        var r = new Reader(data, path);
        int n = r.Int32("entry count");
        if (n <= 0) throw r.Fail("ImatrixEmpty", $"declares {n} entries");
        // Every entry needs at least 12 bytes, so a count that cannot fit is rejected before allocating.
        if ((long)n * 12 > data.Length) throw r.Fail("ImatrixTruncated", $"declares {n} entries but the file has only {data.Length} bytes");
        var entries = new List<ImatrixEntry>(n);
        for (int i = 0; i < n; i++)
        {
            int len = r.Int32("name length");
            if (len <= 0 || len > r.Remaining) throw r.Fail("ImatrixTruncated", $"entry {i}: name length {len} exceeds the file");
            string name = r.Utf8(len);
            int calls = r.Int32("call count");
            int nval = r.Int32("value count");
            if (nval <= 0 || (long)nval * 4 > r.Remaining) throw r.Fail("ImatrixTruncated", $"entry '{name}': {nval} values exceed the file");
            var values = r.Floats(nval);
            for (int j = 0; j < values.Length; j++)
                if (!float.IsFinite(values[j]))
                    throw new ImatrixFormatException("ImatrixValueNotFinite", path, $"Imatrix entry '{name}' has a non-finite value ({values[j]}) at column {j}.");
            if (calls < 0) throw r.Fail("ImatrixBadCallCount", $"entry '{name}' has call count {calls}");
            entries.Add(new ImatrixEntry(name, calls, values));
        }
        int chunks = 0; string? dataset = null;
        if (r.Remaining >= 4)
        {
            chunks = r.Int32("chunk count");
            if (r.Remaining >= 4)
            {
                int dl = r.Int32("dataset length");
                if (dl > 0 && dl <= r.Remaining) dataset = r.Utf8(dl);
            }
        }
        return new ImatrixFile { Entries = entries, Chunks = chunks, Dataset = dataset, Path = path, Format = "dat" };
    }

    private static ImatrixFile LoadGguf(string path)
    {
        GgufFile g;
        try { g = GgufFile.Open(path); }
        catch (GgufFormatException ex) { throw new ImatrixFormatException("ImatrixBadGguf", path, $"Imatrix '{path}' is not a valid GGUF file: {ex.Message}"); }
        using (g)
        {
            int chunkSize = Convert.ToInt32(g.FindMetadata("imatrix.chunk_size")?.Value ?? 0);
            int chunkCount = Convert.ToInt32(g.FindMetadata("imatrix.chunk_count")?.Value ?? 0);
            string? dataset = (g.FindMetadata("imatrix.datasets")?.Value as string[])?.FirstOrDefault();
            if (chunkSize <= 0) throw new ImatrixFormatException("ImatrixBadGguf", path, $"GGUF imatrix '{path}' has no positive imatrix.chunk_size.");
            var entries = new List<ImatrixEntry>();
            foreach (var t in g.Tensors)
            {
                string? stem = t.Name.EndsWith(".in_sum2", StringComparison.Ordinal) ? t.Name[..^8]
                    : t.Name.EndsWith(".sums", StringComparison.Ordinal) ? t.Name[..^5] : null;
                if (stem is null) continue;
                var counts = g.FindTensor(stem + ".counts");
                if (counts is null || t.Type != Types.GgmlType.F32 || counts.Type != Types.GgmlType.F32)
                    throw new ImatrixFormatException("ImatrixBadGguf", path, $"GGUF imatrix entry '{stem}' lacks an F32 .counts tensor.");
                var sums = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(g.GetTensorBytes(t));
                var cnt = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(g.GetTensorBytes(counts));
                if (cnt.Length == 0) continue;
                // As convert_imatrix_gguf_to_dat.py: values = in_sum2 / chunk_size, ncall = counts[0] / chunk_size.
                var values = new float[sums.Length];
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = sums[i] / chunkSize;
                    if (!float.IsFinite(values[i]))
                        throw new ImatrixFormatException("ImatrixValueNotFinite", path, $"Imatrix entry '{stem}' has a non-finite value at column {i}.");
                }
                entries.Add(new ImatrixEntry(stem, (int)(cnt[0] / chunkSize), values));
            }
            if (entries.Count == 0) throw new ImatrixFormatException("ImatrixEmpty", path, $"GGUF imatrix '{path}' has no entries.");
            return new ImatrixFile { Entries = entries, Chunks = chunkCount, Dataset = dataset, Path = path, Format = "gguf" };
        }
    }

    /// <summary>Writes the legacy .dat format (readable by ik_llama.cpp's llama-quantize).</summary>
    public void SaveDat(string path)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Entries.Count);
            foreach (var e in Entries)
            {
                var nb = Encoding.UTF8.GetBytes(e.Name);
                w.Write(nb.Length); w.Write(nb); w.Write(e.Calls); w.Write(e.Values.Length);
                foreach (var v in e.Values) w.Write(v);
            }
            w.Write(Chunks);
            var db = Encoding.UTF8.GetBytes(Dataset ?? "");
            w.Write(db.Length); w.Write(db);
        }
        AtomicFile.Write(path, ms.GetBuffer().AsSpan(0, (int)ms.Length));
    }

    private ref struct Reader(byte[] data, string path)
    {
        private int _pos;
        public readonly int Remaining => data.Length - _pos;
        public int Int32(string what)
        {
            if (Remaining < 4) throw Fail("ImatrixTruncated", $"ends inside the {what}");
            int v = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(_pos)); _pos += 4; return v;
        }
        public string Utf8(int len) { var s = Encoding.UTF8.GetString(data, _pos, len); _pos += len; return s; }
        public float[] Floats(int n)
        {
            var f = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(data.AsSpan(_pos, n * 4)).ToArray();
            _pos += n * 4; return f;
        }
        public readonly ImatrixFormatException Fail(string id, string msg) =>
            new(id, path, $"Imatrix '{path}' is malformed at offset {_pos}: {msg}.");
    }
}
