namespace IQuant.Core.Tokenization;

/// <summary>
/// What a <c>tokenizer.ggml.pre</c> name means for a byte-level BPE vocabulary: the regex list llama.cpp splits
/// with, and the flags it sets for that name (<c>ignore_merges</c>, <c>clean_spaces</c>, default <c>add_bos</c>).
/// </summary>
/// <param name="Name">The pre-type name (<c>default</c> when the GGUF has none).</param>
/// <param name="Regexes">The split regexes, applied in order.</param>
/// <param name="IgnoreMerges">A word that is itself a vocabulary token is emitted without running merges.</param>
/// <param name="CleanSpaces">Detokenization removes spaces before <c>? ! . ,</c> and around lone apostrophes.</param>
/// <param name="AddBos">The default for adding BOS when the GGUF has no <c>add_bos_token</c>.</param>
public sealed record BpePreType(string Name, IReadOnlyList<string> Regexes, bool IgnoreMerges, bool CleanSpaces, bool AddBos)
{
    private static readonly string[] Default =
    [
        @"[\p{P}\$\+<=>\^~\|]+",
        LlamaCppPreTokenizer.Gpt2Regex,
        @"\p{N}+",
        "[0-9][0-9][0-9]",
    ];

    private static readonly string[] Gpt2 = [LlamaCppPreTokenizer.Gpt2Regex];
    private static readonly string[] Llama3 = [LlamaCppPreTokenizer.Llama3Regex];
    private static readonly string[] Qwen2 = [LlamaCppPreTokenizer.Qwen2Regex];
    private static readonly string[] Starcoder = [@"\p{N}", LlamaCppPreTokenizer.Gpt2Regex];
    private static readonly string[] Falcon = [@"[\p{P}\$\+<=>\^~\|`]+", LlamaCppPreTokenizer.Gpt2Regex, "[0-9][0-9][0-9]"];
    private static readonly string[] DeepseekCoder = ["[\r\n]", @"\s?\p{L}+", @"\s?\p{P}+", "[一-龥ࠀ-一가-퟿]+", @"\p{N}"];

    /// <summary>
    /// Resolves a <c>tokenizer.ggml.pre</c> value (null or empty means llama.cpp's DEFAULT, as for gpt-neox).
    /// </summary>
    /// <exception cref="NotSupportedException">The name is unknown, or llama.cpp needs more than a regex list for it.</exception>
    public static BpePreType Resolve(string? pre)
    {
        switch (pre ?? "")
        {
            case "" or "default":
                return new("default", Default, false, true, false);
            case "llama3" or "llama-v3" or "llama-bpe" or "falcon3" or "falcon-h1" or "pixtral" or "midm-2.0" or "lfm2"
                or "laguna" or "jina-v5-nano":
                return new(pre!, Llama3, IgnoreMerges: true, CleanSpaces: true, AddBos: true);
            case "dbrx" or "smaug-bpe":
                return new(pre!, Llama3, false, true, false);
            case "deepseek-coder":
                return new("deepseek-coder", DeepseekCoder, false, CleanSpaces: false, false);
            case "falcon":
                return new("falcon", Falcon, false, true, false);
            case "mpt" or "olmo" or "jais" or "gpt-2" or "phi-2" or "jina-es" or "jina-de" or "gigachat" or "jina-v2-es"
                or "jina-v2-de" or "a.x-4.0" or "mellum" or "modern-bert" or "exaone4":
                return new(pre!, Gpt2, false, true, false);
            case "trillion" or "granite-docling":
                return new(pre!, Gpt2, false, CleanSpaces: false, false);
            case "starcoder" or "refact" or "codeshell" or "exaone" or "minerva-7b" or "mellum2":
                return new(pre!, Starcoder, false, true, false);
            case "command-r" or "cohere2_moe" or "smollm":
                return new(pre!, Starcoder, false, CleanSpaces: false, false);
            case "qwen2" or "deepseek-r1-qwen" or "kormo" or "openpangu" or "f2llmv2" or "hunyuan" or "solar-open":
                return new(pre!, Qwen2, false, CleanSpaces: false, false);
            case "stablelm2" or "megrez":
                return new(pre!, Qwen2, false, true, false);
            default:
                throw new NotSupportedException($"The BPE pre-tokenizer '{pre}' is not supported.");
        }
    }
}
