using System.Runtime.InteropServices;
using IQuant.Core.Gguf;
using IQuant.Core.Kernels;
using IQuant.Core.Quants;
using IQuant.Core.Tokenization;
using IQuant.Core.Types;

namespace IQuant.Core.Inference;

/// <summary>The weights of one transformer block. Matrices point into the memory-mapped file.</summary>
public sealed class LlamaLayer
{
    /// <summary>attn_norm.weight.</summary>
    public required float[] AttnNorm { get; init; }
    /// <summary>attn_q.weight [n_embd → n_head·head_dim].</summary>
    public required WeightMatrix Wq { get; init; }
    /// <summary>attn_k.weight [n_embd → n_kv·head_dim].</summary>
    public required WeightMatrix Wk { get; init; }
    /// <summary>attn_v.weight [n_embd → n_kv·head_dim].</summary>
    public required WeightMatrix Wv { get; init; }
    /// <summary>attn_output.weight [n_head·head_dim → n_embd].</summary>
    public required WeightMatrix Wo { get; init; }
    /// <summary>Optional biases (qwen2 has q/k/v biases; some llama files carry them too).</summary>
    public float[]? Bq { get; init; }
    /// <summary>attn_k.bias.</summary>
    public float[]? Bk { get; init; }
    /// <summary>attn_v.bias.</summary>
    public float[]? Bv { get; init; }
    /// <summary>attn_output.bias.</summary>
    public float[]? Bo { get; init; }
    /// <summary>qwen3: per-head RMSNorm weights of q and k (head_dim values).</summary>
    public float[]? QNorm { get; init; }
    /// <summary>attn_k_norm.weight.</summary>
    public float[]? KNorm { get; init; }
    /// <summary>ffn_norm.weight.</summary>
    public required float[] FfnNorm { get; init; }
    /// <summary>ffn_gate.weight [n_embd → n_ff].</summary>
    public required WeightMatrix WGate { get; init; }
    /// <summary>ffn_up.weight [n_embd → n_ff].</summary>
    public required WeightMatrix WUp { get; init; }
    /// <summary>ffn_down.weight [n_ff → n_embd].</summary>
    public required WeightMatrix WDown { get; init; }
}

/// <summary>
/// A llama-family model (architectures llama, qwen2, qwen3) loaded from a GGUF file. The file stays open and the
/// weight matrices are used in place through the memory mapping; only norms, biases and RoPE factors are copied.
/// Thread-safe for concurrent use by several <see cref="InferenceContext"/>s. Dispose closes the file.
/// </summary>
public sealed unsafe class LlamaModel : IDisposable
{
    private readonly GgufFile _file;
    private readonly bool _ownsFile;
    private readonly GgufTensorInfo _tokEmbd;
    private LlamaTokenizer? _tokenizer;

    private LlamaModel(GgufFile file, bool ownsFile, ModelConfig config)
    {
        _file = file;
        _ownsFile = ownsFile;
        Config = config;
        var c = config;
        _tokEmbd = Need("token_embd.weight", c.EmbeddingLength, c.VocabSize);
        if (file.FindTensor("blk.0.ffn_gate_inp.weight") is not null)
            throw new NotSupportedException($"'{file.Path}' is a mixture-of-experts model (ffn_gate_inp); the IQuant engine runs dense models only.");
        if (!Codecs.CanDequantize(_tokEmbd.Type) && _tokEmbd.Type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16))
            throw new NotSupportedException($"token_embd.weight has type {_tokEmbd.Type}, which IQuant cannot read.");

        int qDim = c.HeadCount * c.HeadDimK, kvDim = c.HeadCountKv * c.HeadDimK, vDim = c.HeadCountKv * c.HeadDimV;
        var layers = new LlamaLayer[c.BlockCount];
        for (int i = 0; i < layers.Length; i++)
        {
            string p = $"blk.{i}.";
            layers[i] = new LlamaLayer
            {
                AttnNorm = Vector(p + "attn_norm.weight", c.EmbeddingLength)!,
                Wq = Matrix(p + "attn_q.weight", c.EmbeddingLength, qDim),
                Wk = Matrix(p + "attn_k.weight", c.EmbeddingLength, kvDim),
                Wv = Matrix(p + "attn_v.weight", c.EmbeddingLength, vDim),
                Wo = Matrix(p + "attn_output.weight", c.HeadCount * c.HeadDimV, c.EmbeddingLength),
                Bq = Vector(p + "attn_q.bias", qDim, optional: true),
                Bk = Vector(p + "attn_k.bias", kvDim, optional: true),
                Bv = Vector(p + "attn_v.bias", vDim, optional: true),
                Bo = Vector(p + "attn_output.bias", c.EmbeddingLength, optional: true),
                QNorm = Vector(p + "attn_q_norm.weight", c.HeadDimK, optional: c.Architecture != "qwen3"),
                KNorm = Vector(p + "attn_k_norm.weight", c.HeadDimK, optional: c.Architecture != "qwen3"),
                FfnNorm = Vector(p + "ffn_norm.weight", c.EmbeddingLength)!,
                WGate = Matrix(p + "ffn_gate.weight", c.EmbeddingLength, c.FeedForwardLength),
                WUp = Matrix(p + "ffn_up.weight", c.EmbeddingLength, c.FeedForwardLength),
                WDown = Matrix(p + "ffn_down.weight", c.FeedForwardLength, c.EmbeddingLength),
            };
        }
        Layers = layers;
        OutputNorm = Vector("output_norm.weight", c.EmbeddingLength)!;
        if (file.FindTensor("output.weight") is not null)
        {
            Output = Matrix("output.weight", c.EmbeddingLength, c.VocabSize);
            TiedOutput = false;
        }
        else
        {
            Output = Matrix("token_embd.weight", c.EmbeddingLength, c.VocabSize);
            TiedOutput = true;
        }
        float[]? freqs = file.FindTensor("rope_freqs.weight") is not null ? Vector("rope_freqs.weight", c.RopeDimensions / 2) : null;
        RopeFreqFactors = freqs;
        Rope = Rope.For(c, freqs);
    }

    /// <summary>Opens <paramref name="path"/> and loads the model (the file stays mapped until <see cref="Dispose"/>).</summary>
    public static LlamaModel Load(string path)
    {
        var file = GgufFile.Open(path);
        try { return Load(file, ownsFile: true); }
        catch { file.Dispose(); throw; }
    }

    /// <summary>Loads the model from an opened file; with <paramref name="ownsFile"/> the model disposes it.</summary>
    public static LlamaModel Load(GgufFile file, bool ownsFile = false)
    {
        ArgumentNullException.ThrowIfNull(file);
        var config = ModelConfig.FromGguf(file);
        return new LlamaModel(file, ownsFile, config);
    }

    /// <summary>The GGUF file.</summary>
    public GgufFile File => _file;
    /// <summary>Hyper-parameters.</summary>
    public ModelConfig Config { get; }
    /// <summary>Transformer blocks.</summary>
    public IReadOnlyList<LlamaLayer> Layers { get; }
    /// <summary>output_norm.weight.</summary>
    public float[] OutputNorm { get; }
    /// <summary>The output projection (token_embd when the model has no output.weight).</summary>
    public WeightMatrix Output { get; }
    /// <summary>True when the output projection is token_embd (tied embeddings).</summary>
    public bool TiedOutput { get; }
    /// <summary>llama3 RoPE frequency factors, or null.</summary>
    public float[]? RopeFreqFactors { get; }
    /// <summary>The RoPE of this model.</summary>
    public Rope Rope { get; }
    /// <summary>Type of the embedding table.</summary>
    public GgmlType EmbeddingType => _tokEmbd.Type;

    /// <summary>The tokenizer built from the file's vocabulary (created on first use).</summary>
    public LlamaTokenizer Tokenizer => _tokenizer ??= CreateTokenizer(_file);

    /// <summary>Builds a tokenizer from a GGUF file's tokenizer.* metadata (works for vocab-only files).</summary>
    public static LlamaTokenizer CreateTokenizer(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (file.FindMetadata(GgufVocabulary.Keys.Tokens) is null)
            throw new FormatException($"'{file.Path}' carries no vocabulary (no {GgufVocabulary.Keys.Tokens} key).");
        var vocab = GgufVocabulary.FromMetadata(k => file.FindMetadata(k)?.Value);
        return new LlamaTokenizer(vocab);
    }

    /// <summary>Bytes of weights read per generated token (all matrices once).</summary>
    public long WeightBytesPerToken
    {
        get
        {
            long b = Output.TotalBytes;
            foreach (var l in Layers)
                b += l.Wq.TotalBytes + l.Wk.TotalBytes + l.Wv.TotalBytes + l.Wo.TotalBytes + l.WGate.TotalBytes + l.WUp.TotalBytes + l.WDown.TotalBytes;
            return b;
        }
    }

    /// <summary>Writes the embedding of <paramref name="token"/> into <paramref name="dst"/> (n_embd values).</summary>
    public void Embed(int token, Span<float> dst)
    {
        if ((uint)token >= (uint)Config.VocabSize)
            throw new ArgumentOutOfRangeException(nameof(token), $"Token id {token} is outside the vocabulary (0..{Config.VocabSize - 1}).");
        var row = _file.GetRows(_tokEmbd, token, 1);
        DequantizeRow(_tokEmbd.Type, row, dst.Slice(0, Config.EmbeddingLength));
    }

    /// <summary>Dequantizes one row of any readable type (F32, F16, BF16 or a codec type).</summary>
    public static void DequantizeRow(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        switch (type)
        {
            case GgmlType.F32:
                MemoryMarshal.Cast<byte, float>(src).Slice(0, dst.Length).CopyTo(dst);
                break;
            case GgmlType.F16:
                System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(src).Slice(0, dst.Length), dst);
                break;
            case GgmlType.BF16:
                var h = MemoryMarshal.Cast<byte, ushort>(src);
                for (int i = 0; i < dst.Length; i++) dst[i] = BitConverter.Int32BitsToSingle(h[i] << 16);
                break;
            default:
                Codecs.Get(type).DequantizeRow(src, dst);
                break;
        }
    }

    private GgufTensorInfo Need(string name, long ne0, long ne1)
    {
        var t = _file.FindTensor(name) ?? throw new FormatException($"'{_file.Path}' lacks tensor '{name}' required by architecture {Config.Architecture}.");
        long r0 = t.Shape[0], r1 = t.Dimensions > 1 ? t.Shape[1] : 1;
        for (int d = 2; d < t.Dimensions; d++) if (t.Shape[d] != 1) r1 = -1;
        if (r0 != ne0 || r1 != ne1)
            throw new FormatException($"Tensor '{name}' of '{_file.Path}' has shape {t.ShapeText}; expected [{ne0}, {ne1}].");
        if (t.TypeInfo is null) throw new NotSupportedException($"Tensor '{name}' has type id {t.TypeId}, unknown to IQuant.");
        return t;
    }

    private WeightMatrix Matrix(string name, int cols, int rows)
    {
        var t = Need(name, cols, rows);
        if (!MatMul.Supports(t.Type))
            throw new NotSupportedException($"Tensor '{name}' has type {t.TypeInfo!.Name}, which the IQuant matmul kernels do not support.");
        return new WeightMatrix(t.Type, cols, rows, _file.GetTensorPointer(t));
    }

    private float[]? Vector(string name, int n, bool optional = false)
    {
        var t = _file.FindTensor(name);
        if (t is null)
        {
            if (optional) return null;
            throw new FormatException($"'{_file.Path}' lacks tensor '{name}' required by architecture {Config.Architecture}.");
        }
        if (t.Elements != n)
            throw new FormatException($"Tensor '{name}' of '{_file.Path}' has {t.Elements} values; expected {n}.");
        var v = new float[n];
        DequantizeRow(t.Type, _file.GetTensorBytes(t), v);
        return v;
    }

    /// <summary>Closes the file when the model owns it.</summary>
    public void Dispose()
    {
        if (_ownsFile) _file.Dispose();
    }
}
