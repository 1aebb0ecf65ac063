using IQuant.Core.Gguf;

namespace IQuant.Core.Inference;

/// <summary>How RoPE pairs the dimensions of a head (llama.cpp's rope types).</summary>
public enum RopeKind
{
    /// <summary>Adjacent pairs (x[2i], x[2i+1]) — llama.cpp LLAMA_ROPE_TYPE_NORM (llama, mistral).</summary>
    Normal,
    /// <summary>Halves (x[i], x[i + n_rot/2]) — LLAMA_ROPE_TYPE_NEOX (qwen2, qwen3).</summary>
    Neox,
}

/// <summary>RoPE frequency scaling declared by the model (<c>{arch}.rope.scaling.type</c>).</summary>
public enum RopeScalingKind
{
    /// <summary>No scaling.</summary>
    None,
    /// <summary>Linear position interpolation: theta × freq_scale.</summary>
    Linear,
    /// <summary>YaRN (ggml's rope_yarn with ext_factor 1).</summary>
    Yarn,
}

/// <summary>
/// Hyper-parameters of a llama-family model read from GGUF metadata (<c>{arch}.*</c> keys), the way llama.cpp's
/// <c>llm_load_hparams</c> reads them for the supported architectures.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>Architectures the engine runs.</summary>
    public static IReadOnlyList<string> SupportedArchitectures { get; } = ["llama", "qwen2", "qwen3"];

    /// <summary><c>general.architecture</c>.</summary>
    public required string Architecture { get; init; }
    /// <summary>Model width (n_embd).</summary>
    public required int EmbeddingLength { get; init; }
    /// <summary>Number of transformer blocks.</summary>
    public required int BlockCount { get; init; }
    /// <summary>FFN hidden size.</summary>
    public required int FeedForwardLength { get; init; }
    /// <summary>Query heads.</summary>
    public required int HeadCount { get; init; }
    /// <summary>Key/value heads (GQA when fewer than <see cref="HeadCount"/>).</summary>
    public required int HeadCountKv { get; init; }
    /// <summary>Dimension of one key head (<c>attention.key_length</c>, default n_embd / n_head).</summary>
    public required int HeadDimK { get; init; }
    /// <summary>Dimension of one value head (<c>attention.value_length</c>, default n_embd / n_head).</summary>
    public required int HeadDimV { get; init; }
    /// <summary>Vocabulary size (rows of token_embd).</summary>
    public required int VocabSize { get; init; }
    /// <summary>Training context length.</summary>
    public required int ContextLength { get; init; }
    /// <summary>RMSNorm epsilon.</summary>
    public required float RmsEpsilon { get; init; }
    /// <summary>RoPE base frequency.</summary>
    public required float RopeFreqBase { get; init; }
    /// <summary>Number of rotated dimensions per head (<c>rope.dimension_count</c>, default the head dimension).</summary>
    public required int RopeDimensions { get; init; }
    /// <summary>Pairing of the rotated dimensions.</summary>
    public required RopeKind RopeKind { get; init; }
    /// <summary>Frequency scaling kind.</summary>
    public RopeScalingKind RopeScaling { get; init; }
    /// <summary>freq_scale = 1 / rope.scaling.factor (1 when unscaled).</summary>
    public float RopeFreqScale { get; init; } = 1f;
    /// <summary>YaRN: the original training context (<c>rope.scaling.original_context_length</c>).</summary>
    public int RopeOriginalContext { get; init; }
    /// <summary>YaRN attention factor (<c>rope.scaling.attn_factor</c>, default 1).</summary>
    public float RopeAttnFactor { get; init; } = 1f;

    /// <summary>Query heads per key/value head.</summary>
    public int GqaRatio => HeadCount / HeadCountKv;

    /// <summary>Reads the hyper-parameters; throws <see cref="NotSupportedException"/> naming an unsupported architecture
    /// and <see cref="FormatException"/> for missing or inconsistent keys.</summary>
    public static ModelConfig FromGguf(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        string arch = file.GetString("general.architecture")
            ?? throw new FormatException($"'{file.Path}' has no general.architecture key; it is not a model file.");
        RopeKind rope = arch switch
        {
            "llama" => RopeKind.Normal,
            "qwen2" or "qwen3" => RopeKind.Neox,
            _ => throw new NotSupportedException(
                $"Architecture '{arch}' of '{file.Path}' is not supported by the IQuant engine (supported: {string.Join(", ", SupportedArchitectures)})."),
        };

        int Req(string key)
        {
            var v = file.GetInt32($"{arch}.{key}");
            if (v is null)
            {
                // Some files store per-layer arrays (e.g. head_count_kv); take the first value when all agree.
                var arr = file.GetArray<int>($"{arch}.{key}");
                if (arr is { Length: > 0 } && arr.All(x => x == arr[0])) return arr[0];
                throw new FormatException($"'{file.Path}' lacks the integer key {arch}.{key}.");
            }
            return v.Value;
        }
        int Opt(string key, int def) => file.GetInt32($"{arch}.{key}") ?? def;

        int nEmbd = Req("embedding_length");
        int nLayer = Req("block_count");
        int nFf = Req("feed_forward_length");
        int nHead = Req("attention.head_count");
        int nHeadKv = Opt("attention.head_count_kv", nHead);
        if (file.GetInt32($"{arch}.attention.head_count_kv") is null && file.GetArray<int>($"{arch}.attention.head_count_kv") is { Length: > 0 } kvArr)
        {
            if (kvArr.Any(x => x != kvArr[0])) throw new NotSupportedException($"'{file.Path}' has a different KV head count per layer; not supported.");
            nHeadKv = kvArr[0];
        }
        if (nHead <= 0 || nHeadKv <= 0 || nHead % nHeadKv != 0)
            throw new FormatException($"'{file.Path}': head_count {nHead} is not a multiple of head_count_kv {nHeadKv}.");
        int headK = Opt("attention.key_length", nEmbd / nHead);
        int headV = Opt("attention.value_length", nEmbd / nHead);
        if (headK != headV) throw new NotSupportedException($"'{file.Path}': key_length {headK} != value_length {headV} is not supported.");
        int ctx = Opt("context_length", 2048);
        float eps = file.GetFloat32($"{arch}.attention.layer_norm_rms_epsilon") ?? 1e-5f;
        float freqBase = file.GetFloat32($"{arch}.rope.freq_base") ?? 10000f;
        int nRot = Opt("rope.dimension_count", headK);
        if (nRot > headK || nRot % 2 != 0) throw new FormatException($"'{file.Path}': rope.dimension_count {nRot} does not fit head size {headK}.");

        var scaling = RopeScalingKind.None;
        float freqScale = 1f;
        string? st = file.GetString($"{arch}.rope.scaling.type");
        float? factor = file.GetFloat32($"{arch}.rope.scaling.factor") ?? file.GetFloat32($"{arch}.rope.scale_linear");
        switch (st)
        {
            case null or "" or "none": if (st is null && factor is { } f0 && f0 > 0 && f0 != 1f) { scaling = RopeScalingKind.Linear; freqScale = 1f / f0; } break;
            case "linear": scaling = RopeScalingKind.Linear; freqScale = factor is { } f1 && f1 > 0 ? 1f / f1 : 1f; break;
            case "yarn": scaling = RopeScalingKind.Yarn; freqScale = factor is { } f2 && f2 > 0 ? 1f / f2 : 1f; break;
            default: throw new NotSupportedException($"'{file.Path}': RoPE scaling type '{st}' is not supported (none, linear, yarn).");
        }
        if (scaling != RopeScalingKind.None && freqScale == 1f) scaling = RopeScalingKind.None;

        int vocab = file.FindTensor("token_embd.weight") is { } te && te.Dimensions >= 2 ? (int)te.Shape[1]
            : Opt("vocab_size", file.GetArray<string>("tokenizer.ggml.tokens")?.Length ?? 0);

        return new ModelConfig
        {
            Architecture = arch,
            EmbeddingLength = nEmbd,
            BlockCount = nLayer,
            FeedForwardLength = nFf,
            HeadCount = nHead,
            HeadCountKv = nHeadKv,
            HeadDimK = headK,
            HeadDimV = headV,
            VocabSize = vocab,
            ContextLength = ctx,
            RmsEpsilon = eps,
            RopeFreqBase = freqBase,
            RopeDimensions = nRot,
            RopeKind = rope,
            RopeScaling = scaling,
            RopeFreqScale = freqScale,
            RopeOriginalContext = Opt("rope.scaling.original_context_length", ctx),
            RopeAttnFactor = file.GetFloat32($"{arch}.rope.scaling.attn_factor") ?? 1f,
        };
    }
}
