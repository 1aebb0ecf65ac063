using System.Runtime.InteropServices;
using IQuant.Core.Gguf;
using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Core.Inference;

/// <summary>Shape of a synthetic llama-family model with random weights (for tests and benchmarks).</summary>
public sealed record SyntheticModelSpec
{
    /// <summary>llama, qwen2 or qwen3 (or anything, to test the error).</summary>
    public string Architecture { get; init; } = "llama";
    /// <summary>n_embd.</summary>
    public int EmbeddingLength { get; init; } = 256;
    /// <summary>n_ff.</summary>
    public int FeedForwardLength { get; init; } = 768;
    /// <summary>Layers.</summary>
    public int BlockCount { get; init; } = 2;
    /// <summary>Query heads.</summary>
    public int HeadCount { get; init; } = 4;
    /// <summary>KV heads.</summary>
    public int HeadCountKv { get; init; } = 4;
    /// <summary>Head dimension (0 = n_embd / n_head; otherwise written as attention.key_length/value_length).</summary>
    public int HeadDim { get; init; }
    /// <summary>Vocabulary size (token_embd rows). A byte-level tokenizer vocabulary is written when ≥ 259.</summary>
    public int VocabSize { get; init; } = 512;
    /// <summary>Training context.</summary>
    public int ContextLength { get; init; } = 256;
    /// <summary>RoPE base.</summary>
    public float RopeFreqBase { get; init; } = 10000f;
    /// <summary>rope.dimension_count (0 = head dim).</summary>
    public int RopeDimensions { get; init; }
    /// <summary>Type of the 2-D weights (F32, F16 or any codec type).</summary>
    public GgmlType WeightType { get; init; } = GgmlType.F16;
    /// <summary>No output.weight (tied embeddings).</summary>
    public bool TiedOutput { get; init; }
    /// <summary>Write attn_q/k/v.bias.</summary>
    public bool QkvBias { get; init; }
    /// <summary>Write attn_q_norm / attn_k_norm.</summary>
    public bool QkNorm { get; init; }
    /// <summary>Write a rope_freqs.weight tensor with these factors.</summary>
    public float[]? RopeFreqFactors { get; init; }
    /// <summary>Standard deviation of the weights (uniform distribution of that spread).</summary>
    public float WeightStd { get; init; } = 0.02f;
    /// <summary>Seed of the weights.</summary>
    public ulong Seed { get; init; } = 1;
}

/// <summary>Writes GGUF files of random llama-family models (values do not matter; shapes and types do).</summary>
public static class SyntheticModel
{
    /// <summary>Writes <paramref name="spec"/> to <paramref name="path"/> (overwrites). Quantized weight types are quantized
    /// with IQuant's codecs using <paramref name="threads"/> threads.</summary>
    public static void Write(string path, SyntheticModelSpec spec, int threads = 0, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        string a = spec.Architecture;
        int d = spec.EmbeddingLength, ff = spec.FeedForwardLength, hd = spec.HeadDim > 0 ? spec.HeadDim : d / spec.HeadCount;
        int qDim = spec.HeadCount * hd, kvDim = spec.HeadCountKv * hd;
        var md = new List<GgufMetadataEntry>
        {
            GgufMetadataEntry.String("general.architecture", a),
            GgufMetadataEntry.String("general.name", "iquant-synthetic"),
            GgufMetadataEntry.UInt32($"{a}.context_length", (uint)spec.ContextLength),
            GgufMetadataEntry.UInt32($"{a}.embedding_length", (uint)d),
            GgufMetadataEntry.UInt32($"{a}.block_count", (uint)spec.BlockCount),
            GgufMetadataEntry.UInt32($"{a}.feed_forward_length", (uint)ff),
            GgufMetadataEntry.UInt32($"{a}.attention.head_count", (uint)spec.HeadCount),
            GgufMetadataEntry.UInt32($"{a}.attention.head_count_kv", (uint)spec.HeadCountKv),
            GgufMetadataEntry.Float32($"{a}.attention.layer_norm_rms_epsilon", 1e-5f),
            GgufMetadataEntry.Float32($"{a}.rope.freq_base", spec.RopeFreqBase),
            GgufMetadataEntry.UInt32($"{a}.rope.dimension_count", (uint)(spec.RopeDimensions > 0 ? spec.RopeDimensions : hd)),
            GgufMetadataEntry.UInt32($"{a}.vocab_size", (uint)spec.VocabSize),
        };
        if (spec.HeadDim > 0)
        {
            md.Add(GgufMetadataEntry.UInt32($"{a}.attention.key_length", (uint)hd));
            md.Add(GgufMetadataEntry.UInt32($"{a}.attention.value_length", (uint)hd));
        }
        if (Recipe_FileType(spec.WeightType) is { } ft) md.Add(GgufMetadataEntry.UInt32("general.file_type", ft));
        if (spec.VocabSize >= 259) AddByteVocabulary(md, spec.VocabSize);

        var tensors = new List<(GgufTensorSpec Spec, int Cols, int Rows, bool Matrix, float Base)>();
        void Mat(string name, int cols, int rows) => tensors.Add((new GgufTensorSpec(name, [cols, rows], spec.WeightType), cols, rows, true, 0));
        void Vec(string name, int n, float baseValue) => tensors.Add((new GgufTensorSpec(name, [n], GgmlType.F32), n, 1, false, baseValue));
        Mat("token_embd.weight", d, spec.VocabSize);
        if (spec.RopeFreqFactors is not null) Vec("rope_freqs.weight", spec.RopeFreqFactors.Length, float.NaN);
        for (int l = 0; l < spec.BlockCount; l++)
        {
            string p = $"blk.{l}.";
            Vec(p + "attn_norm.weight", d, 1f);
            Mat(p + "attn_q.weight", d, qDim);
            Mat(p + "attn_k.weight", d, kvDim);
            Mat(p + "attn_v.weight", d, kvDim);
            if (spec.QkvBias) { Vec(p + "attn_q.bias", qDim, 0f); Vec(p + "attn_k.bias", kvDim, 0f); Vec(p + "attn_v.bias", kvDim, 0f); }
            if (spec.QkNorm) { Vec(p + "attn_q_norm.weight", hd, 1f); Vec(p + "attn_k_norm.weight", hd, 1f); }
            Mat(p + "attn_output.weight", qDim, d);
            Vec(p + "ffn_norm.weight", d, 1f);
            Mat(p + "ffn_gate.weight", d, ff);
            Mat(p + "ffn_up.weight", d, ff);
            Mat(p + "ffn_down.weight", ff, d);
        }
        Vec("output_norm.weight", d, 1f);
        if (!spec.TiedOutput) Mat("output.weight", d, spec.VocabSize);

        using var w = new GgufWriter(path, md, tensors.Select(t => t.Spec), new GgufWriterOptions { Overwrite = true });
        var info = TypeTable.Get(spec.WeightType);
        var codec = spec.WeightType is GgmlType.F32 or GgmlType.F16 ? null : Codecs.Get(spec.WeightType);
        for (int i = 0; i < tensors.Count; i++)
        {
            cancel.ThrowIfCancellationRequested();
            var t = tensors[i];
            ulong seed = spec.Seed * 0x9E3779B97F4A7C15UL + (ulong)i * 0xD1B54A32D192ED03UL + 1;
            if (!t.Matrix)
            {
                var v = new float[t.Cols];
                if (t.Spec.Name == "rope_freqs.weight") spec.RopeFreqFactors!.CopyTo(v, 0);
                else { Fill(v, seed, t.Base == 0 ? spec.WeightStd : 0.1f); for (int k = 0; k < v.Length; k++) v[k] += t.Base; }
                w.WriteTensor(i, MemoryMarshal.AsBytes(v.AsSpan()));
                continue;
            }
            // Matrices in slices of rows so memory stays small.
            int rowsPer = Math.Max(1, (1 << 22) / t.Cols);
            var src = new float[rowsPer * t.Cols];
            long rowBytes = info.RowSize(t.Cols);
            var dst = new byte[rowsPer * rowBytes];
            for (int r0 = 0; r0 < t.Rows; r0 += rowsPer)
            {
                int nr = Math.Min(rowsPer, t.Rows - r0);
                var s = src.AsSpan(0, nr * t.Cols);
                Fill(s, seed + (ulong)r0 * 7919UL, spec.WeightStd);
                var o = dst.AsSpan(0, (int)(nr * rowBytes));
                switch (spec.WeightType)
                {
                    case GgmlType.F32: MemoryMarshal.AsBytes(s).CopyTo(o); break;
                    case GgmlType.F16: System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(s, MemoryMarshal.Cast<byte, Half>(o)); break;
                    default: RowQuantizer.Quantize(codec!, s, t.Cols, default, o, threads, cancel); break;
                }
                w.WriteTensorChunk(i, o);
            }
        }
        w.Commit();
    }

    private static uint? Recipe_FileType(GgmlType t) => t switch
    {
        GgmlType.F32 => 0, GgmlType.F16 => 1, GgmlType.Q8_0 => 7,
        _ => Quantization.Recipe.FileTypeFor(t) is { } f ? (uint)f : null,
    };

    /// <summary>Uniform values with the given standard deviation (xorshift; deterministic).</summary>
    internal static void Fill(Span<float> v, ulong seed, float std)
    {
        ulong x = seed | 1;
        float a = std * MathF.Sqrt(3f) / (1u << 23);
        for (int i = 0; i < v.Length; i++)
        {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            int u = (int)(x >> 40) - (1 << 23); // [-2^23, 2^23)
            v[i] = u * a;
        }
    }

    /// <summary>A SentencePiece-style vocabulary: unk, bos, eos, 256 byte tokens, then filler pieces.</summary>
    private static void AddByteVocabulary(List<GgufMetadataEntry> md, int n)
    {
        var tokens = new string[n];
        var scores = new float[n];
        var types = new int[n];
        tokens[0] = "<unk>"; types[0] = 2;
        tokens[1] = "<s>"; types[1] = 3;
        tokens[2] = "</s>"; types[2] = 3;
        for (int b = 0; b < 256; b++) { tokens[3 + b] = $"<0x{b:X2}>"; types[3 + b] = 6; }
        for (int i = 259; i < n; i++) { tokens[i] = $"▁t{i}"; types[i] = 1; scores[i] = -i; }
        md.Add(GgufMetadataEntry.String("tokenizer.ggml.model", "llama"));
        md.Add(GgufMetadataEntry.Array("tokenizer.ggml.tokens", tokens));
        md.Add(GgufMetadataEntry.Array("tokenizer.ggml.scores", scores));
        md.Add(GgufMetadataEntry.Array("tokenizer.ggml.token_type", types));
        md.Add(GgufMetadataEntry.UInt32("tokenizer.ggml.bos_token_id", 1));
        md.Add(GgufMetadataEntry.UInt32("tokenizer.ggml.eos_token_id", 2));
        md.Add(GgufMetadataEntry.UInt32("tokenizer.ggml.unknown_token_id", 0));
    }
}
