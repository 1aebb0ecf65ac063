using IQuant.Core.Gguf;
using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Bench;

/// <summary>Shape of a synthetic llama model.</summary>
public sealed record SyntheticShape(int Embd, int Ff, int Layers, int Heads, int KvHeads, int Vocab, int Context = 2048)
{
    /// <summary>The ~0.84 B-parameter shape of the reference figures in shared/models/README.md.</summary>
    public static readonly SyntheticShape Llama084B = new(2048, 5632, 16, 32, 4, 32000);

    public long Parameters =>
        2L * Vocab * Embd + Embd + Layers * (2L * Embd + (long)Embd * Embd * 2 + 2L * Embd * (Embd * KvHeads / Heads) + 3L * Embd * Ff);
}

/// <summary>
/// Writes a llama-architecture GGUF with random N(0, 0.02) weights (deterministic), streaming, so a model of
/// several GB needs only a few MB of memory. Used by the whole-model benchmarks; the values do not matter for
/// speed, only the shape.
/// </summary>
public static class SyntheticModel
{
    public static string EnsureCached(SyntheticShape shape, GgmlType type)
    {
        var dir = Path.Combine(Path.GetTempPath(), "iquant-bench");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, $"synthetic-{shape.Embd}x{shape.Layers}-{type}.gguf".ToLowerInvariant());
        if (!File.Exists(path)) Write(path, shape, type);
        return path;
    }

    public static void Write(string path, SyntheticShape s, GgmlType type)
    {
        int kv = s.Embd * s.KvHeads / s.Heads;
        var tensors = new List<(string Name, long[] Shape, GgmlType Type)>
        {
            ("token_embd.weight", [s.Embd, s.Vocab], type),
        };
        for (int l = 0; l < s.Layers; l++)
        {
            string b = $"blk.{l}.";
            tensors.Add((b + "attn_norm.weight", [s.Embd], GgmlType.F32));
            tensors.Add((b + "attn_q.weight", [s.Embd, s.Embd], type));
            tensors.Add((b + "attn_k.weight", [s.Embd, kv], type));
            tensors.Add((b + "attn_v.weight", [s.Embd, kv], type));
            tensors.Add((b + "attn_output.weight", [s.Embd, s.Embd], type));
            tensors.Add((b + "ffn_norm.weight", [s.Embd], GgmlType.F32));
            tensors.Add((b + "ffn_gate.weight", [s.Embd, s.Ff], type));
            tensors.Add((b + "ffn_up.weight", [s.Embd, s.Ff], type));
            tensors.Add((b + "ffn_down.weight", [s.Ff, s.Embd], type));
        }
        tensors.Add(("output_norm.weight", [s.Embd], GgmlType.F32));
        tensors.Add(("output.weight", [s.Embd, s.Vocab], type));

        var vocab = new string[s.Vocab];
        var scores = new float[s.Vocab];
        var types = new int[s.Vocab];
        vocab[0] = "<unk>"; vocab[1] = "<s>"; vocab[2] = "</s>"; types[0] = 2; types[1] = 3; types[2] = 3;
        for (int i = 3; i < s.Vocab; i++) { vocab[i] = i < 259 ? $"<0x{i - 3:X2}>" : $"▁t{i}"; types[i] = i < 259 ? 6 : 1; scores[i] = -i; }
        var meta = new List<GgufMetadataEntry>
        {
            GgufMetadataEntry.String("general.architecture", "llama"),
            GgufMetadataEntry.String("general.name", $"synthetic-{s.Parameters / 1e9:0.00}B"),
            GgufMetadataEntry.UInt32("llama.context_length", (uint)s.Context),
            GgufMetadataEntry.UInt32("llama.embedding_length", (uint)s.Embd),
            GgufMetadataEntry.UInt32("llama.block_count", (uint)s.Layers),
            GgufMetadataEntry.UInt32("llama.feed_forward_length", (uint)s.Ff),
            GgufMetadataEntry.UInt32("llama.attention.head_count", (uint)s.Heads),
            GgufMetadataEntry.UInt32("llama.attention.head_count_kv", (uint)s.KvHeads),
            GgufMetadataEntry.UInt32("llama.rope.dimension_count", (uint)(s.Embd / s.Heads)),
            GgufMetadataEntry.Float32("llama.attention.layer_norm_rms_epsilon", 1e-5f),
            GgufMetadataEntry.Float32("llama.rope.freq_base", 10000f),
            GgufMetadataEntry.UInt32("llama.vocab_size", (uint)s.Vocab),
            GgufMetadataEntry.UInt32("general.file_type", type == GgmlType.F32 ? 0u : 1u),
            GgufMetadataEntry.String("tokenizer.ggml.model", "llama"),
            GgufMetadataEntry.Array("tokenizer.ggml.tokens", vocab),
            GgufMetadataEntry.Array("tokenizer.ggml.scores", scores),
            GgufMetadataEntry.Array("tokenizer.ggml.token_type", types),
            GgufMetadataEntry.UInt32("tokenizer.ggml.bos_token_id", 1),
            GgufMetadataEntry.UInt32("tokenizer.ggml.eos_token_id", 2),
            GgufMetadataEntry.UInt32("tokenizer.ggml.unknown_token_id", 0),
        };
        using var w = new GgufWriter(path, meta, tensors.Select(t => new GgufTensorSpec(t.Name, t.Shape, t.Type)), new GgufWriterOptions { Overwrite = true });
        ulong state = 0x9E3779B97F4A7C15UL;
        var f = new float[1 << 20];
        var bytes = new byte[f.Length * 4];
        for (int i = 0; i < tensors.Count; i++)
        {
            var (name, shape, ty) = tensors[i];
            long n = shape.Aggregate(1L, (a, b) => a * b);
            bool norm = shape.Length == 1;
            var codec = Codecs.Get(ty);
            for (long done = 0; done < n;)
            {
                int m = (int)Math.Min(f.Length, n - done);
                if (norm) f.AsSpan(0, m).Fill(1f);
                else Gaussian(f.AsSpan(0, m), 0.02f, ref state);
                int nb = (int)codec.Info.RowSize(m);
                codec.QuantizeRow(f.AsSpan(0, m), bytes.AsSpan(0, nb), default);
                w.WriteTensorChunk(i, bytes.AsSpan(0, nb));
                done += m;
            }
        }
        w.Commit();
    }

    /// <summary>N(0, sigma) values from xorshift64* and Box-Muller.</summary>
    public static void Gaussian(Span<float> x, float sigma, ref ulong state)
    {
        for (int i = 0; i < x.Length; i += 2)
        {
            double u1 = (Next(ref state) >> 11) * (1.0 / (1UL << 53)) + 1e-300;
            double u2 = (Next(ref state) >> 11) * (1.0 / (1UL << 53));
            double r = Math.Sqrt(-2 * Math.Log(u1)) * sigma;
            x[i] = (float)(r * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < x.Length) x[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2));
        }
    }

    private static ulong Next(ref ulong s)
    {
        s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
        return s * 2685821657736338717UL;
    }
}
