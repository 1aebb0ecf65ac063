using System.Collections;
using System.Globalization;
using IQuant.Core.Gguf;

namespace IQuant.Core.Tokenization;

/// <summary>
/// Token types as stored in <c>tokenizer.ggml.token_type</c> (same numbering as sentencepiece's
/// <c>ModelProto.SentencePiece.Type</c>).
/// </summary>
public enum GgufTokenType
{
    /// <summary>0: no type given.</summary>
    Undefined = 0,
    /// <summary>1: an ordinary piece.</summary>
    Normal = 1,
    /// <summary>2: the unknown piece.</summary>
    Unknown = 2,
    /// <summary>3: a control token (BOS, EOS, <c>&lt;|im_start|&gt;</c>, ...).</summary>
    Control = 3,
    /// <summary>4: a user-defined token, always matched as whole text before tokenization.</summary>
    UserDefined = 4,
    /// <summary>5: an unused slot.</summary>
    Unused = 5,
    /// <summary>6: a byte-fallback piece <c>&lt;0xXX&gt;</c>.</summary>
    Byte = 6,
}

/// <summary>
/// The tokenizer part of a GGUF file's metadata (the <c>tokenizer.*</c> keys, plus <c>general.name</c> and
/// <c>general.architecture</c>, which llama.cpp also consults). Plain data: build it with an object initializer,
/// from a metadata dictionary (<see cref="FromMetadata(IReadOnlyDictionary{string, object})"/>) or from a lookup
/// function, then hand it to <see cref="LlamaTokenizer"/>.
/// </summary>
public sealed record GgufVocabulary
{
    /// <summary>Metadata key names.</summary>
    public static class Keys
    {
#pragma warning disable CS1591
        public const string Model = "tokenizer.ggml.model";
        public const string Pre = "tokenizer.ggml.pre";
        public const string Tokens = "tokenizer.ggml.tokens";
        public const string Scores = "tokenizer.ggml.scores";
        public const string TokenType = "tokenizer.ggml.token_type";
        public const string Merges = "tokenizer.ggml.merges";
        public const string BosId = "tokenizer.ggml.bos_token_id";
        public const string EosId = "tokenizer.ggml.eos_token_id";
        public const string EotId = "tokenizer.ggml.eot_token_id";
        public const string EomId = "tokenizer.ggml.eom_token_id";
        public const string UnknownId = "tokenizer.ggml.unknown_token_id";
        public const string SeparatorId = "tokenizer.ggml.seperator_token_id"; // sic: the GGUF spelling
        public const string PaddingId = "tokenizer.ggml.padding_token_id";
        public const string MaskId = "tokenizer.ggml.mask_token_id";
        public const string FimPreId = "tokenizer.ggml.fim_pre_token_id";
        public const string FimSufId = "tokenizer.ggml.fim_suf_token_id";
        public const string FimMidId = "tokenizer.ggml.fim_mid_token_id";
        public const string FimPadId = "tokenizer.ggml.fim_pad_token_id";
        public const string FimRepId = "tokenizer.ggml.fim_rep_token_id";
        public const string FimSepId = "tokenizer.ggml.fim_sep_token_id";
        public const string PrefixId = "tokenizer.ggml.prefix_token_id"; // deprecated alias of fim_pre
        public const string SuffixId = "tokenizer.ggml.suffix_token_id"; // deprecated alias of fim_suf
        public const string MiddleId = "tokenizer.ggml.middle_token_id"; // deprecated alias of fim_mid
        public const string AddBos = "tokenizer.ggml.add_bos_token";
        public const string AddEos = "tokenizer.ggml.add_eos_token";
        public const string AddSep = "tokenizer.ggml.add_sep_token";
        public const string AddSpacePrefix = "tokenizer.ggml.add_space_prefix";
        public const string RemoveExtraWhitespaces = "tokenizer.ggml.remove_extra_whitespaces";
        public const string ChatTemplate = "tokenizer.chat_template";
        public const string GeneralName = "general.name";
        public const string GeneralArchitecture = "general.architecture";
#pragma warning restore CS1591
    }

    /// <summary><c>tokenizer.ggml.model</c>: <c>llama</c> (SentencePiece), <c>gpt2</c> (byte-level BPE), ...</summary>
    public required string Model { get; init; }

    /// <summary><c>tokenizer.ggml.pre</c>: the BPE pre-tokenizer name (<c>gpt-2</c>, <c>llama-bpe</c>, ...), or null.</summary>
    public string? Pre { get; init; }

    /// <summary><c>tokenizer.ggml.tokens</c>: token texts, indexed by id.</summary>
    public required IReadOnlyList<string> Tokens { get; init; }

    /// <summary><c>tokenizer.ggml.scores</c> (SentencePiece merge priorities), or null.</summary>
    public IReadOnlyList<float>? Scores { get; init; }

    /// <summary><c>tokenizer.ggml.token_type</c>, or null (then every token counts as normal).</summary>
    public IReadOnlyList<GgufTokenType>? TokenTypes { get; init; }

    /// <summary><c>tokenizer.ggml.merges</c>: BPE merges <c>"left right"</c> in rank order, or null.</summary>
    public IReadOnlyList<string>? Merges { get; init; }

#pragma warning disable CS1591
    public int? BosTokenId { get; init; }
    public int? EosTokenId { get; init; }
    public int? EotTokenId { get; init; }
    public int? EomTokenId { get; init; }
    public int? UnknownTokenId { get; init; }
    public int? SeparatorTokenId { get; init; }
    public int? PaddingTokenId { get; init; }
    public int? MaskTokenId { get; init; }
    public int? FimPreTokenId { get; init; }
    public int? FimSufTokenId { get; init; }
    public int? FimMidTokenId { get; init; }
    public int? FimPadTokenId { get; init; }
    public int? FimRepTokenId { get; init; }
    public int? FimSepTokenId { get; init; }
#pragma warning restore CS1591

    /// <summary><c>tokenizer.ggml.add_bos_token</c>, or null when absent (the model type's default applies).</summary>
    public bool? AddBosToken { get; init; }

    /// <summary><c>tokenizer.ggml.add_eos_token</c>, or null when absent.</summary>
    public bool? AddEosToken { get; init; }

    /// <summary><c>tokenizer.ggml.add_sep_token</c>, or null when absent.</summary>
    public bool? AddSepToken { get; init; }

    /// <summary><c>tokenizer.ggml.add_space_prefix</c>, or null when absent (SentencePiece then defaults to true).</summary>
    public bool? AddSpacePrefix { get; init; }

    /// <summary><c>tokenizer.ggml.remove_extra_whitespaces</c>, or null when absent (used by UGM only; kept for completeness).</summary>
    public bool? RemoveExtraWhitespaces { get; init; }

    /// <summary><c>tokenizer.chat_template</c> (a Jinja template), or null.</summary>
    public string? ChatTemplate { get; init; }

    /// <summary><c>general.name</c>; llama.cpp keys a few per-model token attributes on it (phi-3).</summary>
    public string? ModelName { get; init; }

    /// <summary><c>general.architecture</c>.</summary>
    public string? Architecture { get; init; }

    /// <summary>Number of tokens.</summary>
    public int Count => Tokens.Count;

    /// <summary>The type of token <paramref name="id"/> (<see cref="GgufTokenType.Normal"/> when no types are stored).</summary>
    public GgufTokenType GetTokenType(int id) => TokenTypes is { } t ? t[id] : GgufTokenType.Normal;

    /// <summary>Reads the vocabulary from an open GGUF file's metadata.</summary>
    /// <exception cref="FormatException">The file has no (or a malformed) tokenizer vocabulary.</exception>
    public static GgufVocabulary FromGguf(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        return FromMetadata(k => file.FindMetadata(k)?.Value);
    }

    /// <summary>Opens <paramref name="path"/>, reads its vocabulary and closes it again.</summary>
    public static GgufVocabulary FromGguf(string path)
    {
        using var file = GgufFile.Open(path);
        return FromGguf(file);
    }

    /// <summary>Builds the vocabulary from a metadata dictionary (key → value, arrays as typed CLR arrays).</summary>
    public static GgufVocabulary FromMetadata(IReadOnlyDictionary<string, object> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        return FromMetadata(k => metadata.TryGetValue(k, out var v) ? v : null);
    }

    /// <summary>
    /// Builds the vocabulary from a lookup function (key → value or null when absent). Values may be any CLR
    /// integer type for ids and token types, bool for flags, string, and arrays (or other enumerables) for lists.
    /// </summary>
    /// <exception cref="FormatException">A required key is missing or a value has the wrong shape.</exception>
    public static GgufVocabulary FromMetadata(Func<string, object?> lookup)
    {
        ArgumentNullException.ThrowIfNull(lookup);
        string model = GetString(lookup, Keys.Model) ?? throw new FormatException($"Missing metadata key '{Keys.Model}'.");
        var tokens = GetStringList(lookup, Keys.Tokens) ?? throw new FormatException($"Missing metadata key '{Keys.Tokens}'.");
        var scores = GetFloatList(lookup, Keys.Scores);
        var types = GetIntList(lookup, Keys.TokenType);
        if (scores is not null && scores.Length < tokens.Length)
            throw new FormatException($"'{Keys.Scores}' has {scores.Length} values for {tokens.Length} tokens.");
        if (types is not null && types.Length < tokens.Length)
            throw new FormatException($"'{Keys.TokenType}' has {types.Length} values for {tokens.Length} tokens.");
        GgufTokenType[]? tt = null;
        if (types is not null)
        {
            tt = new GgufTokenType[tokens.Length];
            for (int i = 0; i < tt.Length; i++) tt[i] = (GgufTokenType)types[i];
        }
        if (scores is not null && scores.Length > tokens.Length) Array.Resize(ref scores, tokens.Length);

        return new GgufVocabulary
        {
            Model = model,
            Pre = GetString(lookup, Keys.Pre),
            Tokens = tokens,
            Scores = scores,
            TokenTypes = tt,
            Merges = GetStringList(lookup, Keys.Merges),
            BosTokenId = GetInt(lookup, Keys.BosId),
            EosTokenId = GetInt(lookup, Keys.EosId),
            EotTokenId = GetInt(lookup, Keys.EotId),
            EomTokenId = GetInt(lookup, Keys.EomId),
            UnknownTokenId = GetInt(lookup, Keys.UnknownId),
            SeparatorTokenId = GetInt(lookup, Keys.SeparatorId),
            PaddingTokenId = GetInt(lookup, Keys.PaddingId),
            MaskTokenId = GetInt(lookup, Keys.MaskId),
            FimPreTokenId = GetInt(lookup, Keys.FimPreId) ?? GetInt(lookup, Keys.PrefixId),
            FimSufTokenId = GetInt(lookup, Keys.FimSufId) ?? GetInt(lookup, Keys.SuffixId),
            FimMidTokenId = GetInt(lookup, Keys.FimMidId) ?? GetInt(lookup, Keys.MiddleId),
            FimPadTokenId = GetInt(lookup, Keys.FimPadId),
            FimRepTokenId = GetInt(lookup, Keys.FimRepId),
            FimSepTokenId = GetInt(lookup, Keys.FimSepId),
            AddBosToken = GetBool(lookup, Keys.AddBos),
            AddEosToken = GetBool(lookup, Keys.AddEos),
            AddSepToken = GetBool(lookup, Keys.AddSep),
            AddSpacePrefix = GetBool(lookup, Keys.AddSpacePrefix),
            RemoveExtraWhitespaces = GetBool(lookup, Keys.RemoveExtraWhitespaces),
            ChatTemplate = GetString(lookup, Keys.ChatTemplate),
            ModelName = GetString(lookup, Keys.GeneralName),
            Architecture = GetString(lookup, Keys.GeneralArchitecture),
        };
    }

    private static string? GetString(Func<string, object?> lookup, string key) => lookup(key) switch
    {
        null => null,
        string s => s,
        var v => throw new FormatException($"Metadata '{key}' should be a string, not {v.GetType().Name}."),
    };

    private static bool? GetBool(Func<string, object?> lookup, string key) => lookup(key) switch
    {
        null => null,
        bool b => b,
        var v when IsInteger(v) => Convert.ToInt64(v, CultureInfo.InvariantCulture) != 0,
        var v => throw new FormatException($"Metadata '{key}' should be a bool, not {v.GetType().Name}."),
    };

    private static int? GetInt(Func<string, object?> lookup, string key)
    {
        var v = lookup(key);
        if (v is null) return null;
        if (!IsInteger(v)) throw new FormatException($"Metadata '{key}' should be an integer, not {v.GetType().Name}.");
        // Token ids are stored as uint32; a value beyond int range cannot be a valid id, map it to -1 (invalid).
        return v switch
        {
            ulong u => u <= int.MaxValue ? (int)u : -1,
            uint u => u <= int.MaxValue ? (int)u : -1,
            long l => l is >= int.MinValue and <= int.MaxValue ? (int)l : -1,
            _ => Convert.ToInt32(v, CultureInfo.InvariantCulture),
        };
    }

    private static bool IsInteger(object v) =>
        v is byte or sbyte or short or ushort or int or uint or long or ulong;

    private static string[]? GetStringList(Func<string, object?> lookup, string key)
    {
        var v = lookup(key);
        switch (v)
        {
            case null: return null;
            case string[] a: return a;
            case IEnumerable<string> e: return e.ToArray();
            case IEnumerable e when v is not string:
                var list = new List<string>();
                foreach (var x in e)
                    list.Add(x as string ?? throw new FormatException($"Metadata '{key}' should be a string array."));
                return list.ToArray();
            default: throw new FormatException($"Metadata '{key}' should be a string array, not {v.GetType().Name}.");
        }
    }

    private static float[]? GetFloatList(Func<string, object?> lookup, string key)
    {
        var v = lookup(key);
        switch (v)
        {
            case null: return null;
            case float[] a: return (float[])a.Clone();
            case double[] d: return Array.ConvertAll(d, x => (float)x);
            case IEnumerable e when v is not string:
                var list = new List<float>();
                foreach (var x in e)
                    list.Add(x switch
                    {
                        float f => f,
                        double d => (float)d,
                        _ when x is not null && IsInteger(x) => Convert.ToSingle(x, CultureInfo.InvariantCulture),
                        _ => throw new FormatException($"Metadata '{key}' should be a float array."),
                    });
                return list.ToArray();
            default: throw new FormatException($"Metadata '{key}' should be a float array, not {v.GetType().Name}.");
        }
    }

    private static int[]? GetIntList(Func<string, object?> lookup, string key)
    {
        var v = lookup(key);
        switch (v)
        {
            case null: return null;
            case int[] a: return a;
            case IEnumerable e when v is not string:
                var list = new List<int>();
                foreach (var x in e)
                {
                    if (x is null || !IsInteger(x)) throw new FormatException($"Metadata '{key}' should be an integer array.");
                    list.Add(Convert.ToInt32(x, CultureInfo.InvariantCulture));
                }
                return list.ToArray();
            default: throw new FormatException($"Metadata '{key}' should be an integer array, not {v.GetType().Name}.");
        }
    }
}
