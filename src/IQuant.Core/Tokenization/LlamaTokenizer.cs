using System.Text;

namespace IQuant.Core.Tokenization;

/// <summary>Token attributes, as llama.cpp's <c>llama_token_attr</c> (same bit values).</summary>
[Flags]
public enum LlamaTokenAttributes
{
    /// <summary>No type known.</summary>
    Undefined = 0,
#pragma warning disable CS1591
    Unknown = 1 << 0,
    Unused = 1 << 1,
    Normal = 1 << 2,
    Control = 1 << 3,
    UserDefined = 1 << 4,
    Byte = 1 << 5,
    Normalized = 1 << 6,
    /// <summary>Whitespace left of the token is removed when it is split out of text.</summary>
    LStrip = 1 << 7,
    /// <summary>Whitespace right of the token is removed when it is split out of text.</summary>
    RStrip = 1 << 8,
    SingleWord = 1 << 9,
#pragma warning restore CS1591
}

/// <summary>The tokenizer algorithm of a vocabulary.</summary>
public enum LlamaVocabType
{
    /// <summary>SentencePiece BPE with byte fallback (<c>tokenizer.ggml.model = llama</c>).</summary>
    Spm,
    /// <summary>Byte-level BPE with a regex pre-tokenizer (<c>tokenizer.ggml.model = gpt2</c>).</summary>
    Bpe,
}

/// <summary>
/// Tokenizes and detokenizes exactly as llama.cpp (<c>llama_tokenize</c>, <c>llama_token_to_piece</c>,
/// <c>llama_detokenize</c>), from a GGUF vocabulary alone.
/// </summary>
/// <remarks>
/// <para>Pipeline: (1) special tokens are cut out of the text first (llama.cpp's <c>tokenizer_st_partition</c>:
/// longest token text first; user-defined tokens always, control tokens only when <c>parseSpecial</c>);
/// (2) each remaining raw fragment is tokenized — SentencePiece by <see cref="SpmEncoder"/> (ours; see there why),
/// byte-level BPE by <see cref="LlamaCppPreTokenizer"/> (ours) plus Microsoft.ML.Tokenizers' <c>BpeTokenizer</c>
/// for the merges.</para>
/// <para>Instances are immutable and thread-safe.</para>
/// </remarks>
public sealed class LlamaTokenizer
{
    private readonly string[] _texts;
    private readonly float[] _scores;
    private readonly LlamaTokenAttributes[] _attrs;
    private readonly Dictionary<string, int> _tokenToId;
    private readonly HashSet<int> _eog = new();
    private readonly int[] _specialCache;
    private readonly byte[][] _pieces; // llama_token_to_piece(special: true) per token
    private readonly bool _cleanSpaces;
    private readonly SpmEncoder? _spm;
    private readonly BpeEncoder? _bpe;

    /// <summary>Builds the tokenizer for <paramref name="vocabulary"/>.</summary>
    /// <exception cref="NotSupportedException">The model type or BPE pre-type is not supported.</exception>
    /// <exception cref="FormatException">The vocabulary is inconsistent (e.g. BPE without merges).</exception>
    public LlamaTokenizer(GgufVocabulary vocabulary)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        Vocabulary = vocabulary;
        int n = vocabulary.Tokens.Count;
        if (n == 0) throw new FormatException("The vocabulary has no tokens.");
        if (vocabulary.Scores is { } s0 && s0.Count < n)
            throw new FormatException($"The vocabulary has {s0.Count} scores for {n} tokens.");
        if (vocabulary.TokenTypes is { } t0 && t0.Count < n)
            throw new FormatException($"The vocabulary has {t0.Count} token types for {n} tokens.");

        // ---- type and its defaults (llama_vocab::impl::load) ----
        int bos, eos, unk;
        bool addSpacePrefix, addBos, addEos;
        switch (vocabulary.Model)
        {
            case "llama":
                Type = LlamaVocabType.Spm;
                bos = 1; eos = 2; unk = 0;
                addSpacePrefix = true; _cleanSpaces = false; addBos = true; addEos = false;
                break;
            case "gpt2":
                Type = LlamaVocabType.Bpe;
                bos = 11; eos = 11; unk = -1;
                PreType = BpePreType.Resolve(vocabulary.Pre);
                addSpacePrefix = false; _cleanSpaces = PreType.CleanSpaces; addBos = PreType.AddBos; addEos = false;
                break;
            default:
                throw new NotSupportedException($"Tokenizer model '{vocabulary.Model}' is not supported (only 'llama' and 'gpt2').");
        }
        if (vocabulary.AddSpacePrefix is { } asp) addSpacePrefix = asp;

        // ---- tokens ----
        _texts = new string[n];
        _scores = new float[n];
        _attrs = new LlamaTokenAttributes[n];
        _tokenToId = new Dictionary<string, int>(n, StringComparer.Ordinal);
        for (int i = 0; i < n; i++)
        {
            string word = vocabulary.Tokens[i];
            if (string.IsNullOrEmpty(word)) word = $"[EMPTY_{i}]";
            _tokenToId[word] = i;
            _texts[i] = word;
            _scores[i] = vocabulary.Scores is { } sc ? sc[i] : 0f;
            _attrs[i] = vocabulary.TokenTypes is null ? LlamaTokenAttributes.Normal : vocabulary.TokenTypes[i] switch
            {
                GgufTokenType.Unknown => LlamaTokenAttributes.Unknown,
                GgufTokenType.Unused => LlamaTokenAttributes.Unused,
                GgufTokenType.Normal => LlamaTokenAttributes.Normal,
                GgufTokenType.Control => LlamaTokenAttributes.Control,
                GgufTokenType.UserDefined => LlamaTokenAttributes.UserDefined,
                GgufTokenType.Byte => LlamaTokenAttributes.Byte,
                _ => LlamaTokenAttributes.Undefined,
            };
        }

        // ---- special token ids from the metadata (ignored when out of range, as llama.cpp does) ----
        int Pick(int? value, int fallback) => value is { } v && v >= 0 && v < n ? v : fallback < n ? fallback : -1;
        bos = Pick(vocabulary.BosTokenId, bos);
        eos = Pick(vocabulary.EosTokenId, eos);
        unk = Pick(vocabulary.UnknownTokenId, unk);
        int eot = Pick(vocabulary.EotTokenId, -1);
        int eom = Pick(vocabulary.EomTokenId, -1);
        int sep = Pick(vocabulary.SeparatorTokenId, -1);
        int pad = Pick(vocabulary.PaddingTokenId, -1);
        int fimPre = Pick(vocabulary.FimPreTokenId, -1), fimSuf = Pick(vocabulary.FimSufTokenId, -1);
        int fimMid = Pick(vocabulary.FimMidTokenId, -1), fimPad = Pick(vocabulary.FimPadTokenId, -1);
        int fimRep = Pick(vocabulary.FimRepTokenId, -1), fimSep = Pick(vocabulary.FimSepTokenId, -1);
        if (vocabulary.AddBosToken is { } ab) addBos = ab;
        if (vocabulary.AddEosToken is { } ae) addEos = ae;

        // ---- llama.cpp's text-based detection of special tokens (forcing them to CONTROL) ----
        void Detect(ref int id, string[] names)
        {
            if (id >= 0) return;
            int found = int.MaxValue;
            foreach (var name in names)
                if (_tokenToId.TryGetValue(name, out int t)) found = Math.Min(found, t);
            if (found == int.MaxValue) return;
            id = found;
            _attrs[found] |= LlamaTokenAttributes.Control;
        }
        Detect(ref eot, ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>",
            "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"]);
        Detect(ref eom, ["<|eom_id|>"]);
        Detect(ref fimPre, ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"]);
        Detect(ref fimSuf, ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"]);
        Detect(ref fimMid, ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"]);
        Detect(ref fimPad, ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"]);
        Detect(ref fimRep, ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"]);
        Detect(ref fimSep, ["<|file_sep|>"]);

        for (int i = 0; i < n; i++)
            if ((_attrs[i] & LlamaTokenAttributes.Control) != 0 && _texts[i].Contains("unused", StringComparison.Ordinal))
                _attrs[i] |= LlamaTokenAttributes.Unused;

        // ---- end-of-generation tokens ----
        foreach (int id in (ReadOnlySpan<int>)[fimPad, fimRep, fimSep])
            if (id >= 0) _eog.Add(id);
        string[] eogTexts =
        [
            "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
            "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
            "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>",
        ];
        foreach (var text in eogTexts)
            if (_tokenToId.TryGetValue(text, out int id))
            {
                _eog.Add(id);
                _attrs[id] |= LlamaTokenAttributes.Control;
            }
        foreach (var t in (ReadOnlySpan<string>)["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"])
            if (_tokenToId.TryGetValue(t, out int gid)) _attrs[gid] = LlamaTokenAttributes.UserDefined;
        foreach (int id in (ReadOnlySpan<int>)[eos, eot, eom])
            if (id >= 0) _eog.Add(id);
        {
            // o200k_harmony / solar-open: <|end|> is not end-of-generation there.
            bool Has(string s) => _eog.Any(id => _texts[id] == s);
            int endId = _eog.FirstOrDefault(id => _texts[id] == "<|end|>", -1);
            bool hasCall = Has("<|call|>") || Has("<|calls|>");
            if (endId >= 0 && ((Has("<|return|>") && hasCall) || (hasCall && Has("<|flush|>"))))
            {
                _eog.Remove(endId);
                _attrs[endId] = LlamaTokenAttributes.UserDefined;
            }
            // gemma4 / paddleocr: </s> is not end-of-generation when <|tool_response> is.
            int sId = _eog.FirstOrDefault(id => _texts[id] == "</s>", -1);
            if (sId >= 0 && Has("<|tool_response>"))
            {
                _eog.Remove(sId);
                _attrs[sId] = LlamaTokenAttributes.Normal;
            }
        }

        // ---- special tokens cut out of text: longest (UTF-8 length) first ----
        var special = new List<int>();
        for (int i = 0; i < n; i++)
            if ((_attrs[i] & (LlamaTokenAttributes.Control | LlamaTokenAttributes.UserDefined | LlamaTokenAttributes.Unknown)) != 0)
                special.Add(i);
        var byteLen = special.ToDictionary(i => i, i => Encoding.UTF8.GetByteCount(_texts[i]));
        // llama.cpp uses std::sort (unstable) by length only; we break ties by id so the order is deterministic.
        special.Sort((a, b) => byteLen[a] != byteLen[b] ? byteLen[b].CompareTo(byteLen[a]) : a.CompareTo(b));
        _specialCache = special.ToArray();

        // ---- pieces (llama_token_to_piece with special = true), built before the per-model attributes ----
        _pieces = new byte[n][];
        for (int i = 0; i < n; i++) _pieces[i] = BuildPiece(i);

        // ---- per-model attributes llama.cpp keys on names ----
        string name = (vocabulary.ModelName ?? "").ToLowerInvariant();
        string pre = vocabulary.Pre ?? "";
        string arch = vocabulary.Architecture ?? "";
        void SetAttr(string text, LlamaTokenAttributes a, bool on)
        {
            if (_tokenToId.TryGetValue(text, out int id))
                _attrs[id] = on ? _attrs[id] | a : _attrs[id] & ~a;
        }
        if (pre.Contains("jina-v2-de") || pre.Contains("jina-v2-es") || pre.Contains("jina-v2-code")
            || arch.Contains("nomic-bert-moe") || arch.Contains("jina-bert-v3"))
        {
            SetAttr("<mask>", LlamaTokenAttributes.LStrip, true);
        }
        else if (name.Contains("phi-3") || name.Contains("phi3"))
        {
            foreach (int id in _specialCache) _attrs[id] |= LlamaTokenAttributes.RStrip;
            SetAttr("</s>", LlamaTokenAttributes.RStrip, true);
            foreach (var t in (ReadOnlySpan<string>)["<unk>", "<s>", "<|endoftext|>"]) SetAttr(t, LlamaTokenAttributes.RStrip, false);
        }
        else if (name.Contains("modern-bert"))
        {
            SetAttr("[MASK]", LlamaTokenAttributes.LStrip, true);
        }

        BosId = bos; EosId = eos; EotId = eot; EomId = eom; UnknownId = unk; SeparatorId = sep; PaddingId = pad;
        FimPrefixId = fimPre; FimSuffixId = fimSuf; FimMiddleId = fimMid;
        AddBosDefault = addBos; AddEosDefault = addEos; AddSpacePrefix = addSpacePrefix;

        // ---- the encoders ----
        if (Type == LlamaVocabType.Spm)
        {
            var byteTokens = new int[256];
            for (int b = 0; b < 256; b++)
            {
                byteTokens[b] = _tokenToId.TryGetValue($"<0x{b:X2}>", out int id) ? id
                    : b < 0x80 && _tokenToId.TryGetValue(((char)b).ToString(), out id) ? id : -1;
            }
            _spm = new SpmEncoder(_tokenToId, _scores, byteTokens, unk);
        }
        else
        {
            _bpe = new BpeEncoder(vocabulary, _tokenToId, PreType!);
        }
    }

    /// <summary>The vocabulary this tokenizer was built from.</summary>
    public GgufVocabulary Vocabulary { get; }

    /// <summary>SentencePiece or byte-level BPE.</summary>
    public LlamaVocabType Type { get; }

    /// <summary>For BPE vocabularies: the resolved pre-tokenizer type; null for SentencePiece.</summary>
    public BpePreType? PreType { get; }

    /// <summary>The pre-tokenizer of a BPE vocabulary (usable as a Microsoft.ML.Tokenizers pre-tokenizer); null for SentencePiece.</summary>
    public LlamaCppPreTokenizer? PreTokenizer => _bpe?.PreTokenizer;

    /// <summary>Number of tokens.</summary>
    public int Count => _texts.Length;

#pragma warning disable CS1591
    /// <summary>Beginning-of-sequence token, or -1.</summary>
    public int BosId { get; }
    /// <summary>End-of-sequence token, or -1.</summary>
    public int EosId { get; }
    /// <summary>End-of-turn token (from metadata, else detected by text), or -1.</summary>
    public int EotId { get; }
    public int EomId { get; }
    public int UnknownId { get; }
    public int SeparatorId { get; }
    public int PaddingId { get; }
    public int FimPrefixId { get; }
    public int FimSuffixId { get; }
    public int FimMiddleId { get; }
#pragma warning restore CS1591

    /// <summary>Whether llama.cpp adds BOS to a prompt for this vocabulary (<c>llama_vocab_get_add_bos</c>).</summary>
    public bool AddBosDefault { get; }

    /// <summary>Whether llama.cpp adds EOS to a prompt for this vocabulary (<c>llama_vocab_get_add_eos</c>).</summary>
    public bool AddEosDefault { get; }

    /// <summary>Whether a space is put before text that starts the input or follows a special token (SentencePiece).</summary>
    public bool AddSpacePrefix { get; }

    /// <summary>The end-of-generation tokens (EOS, EOT, EOM, <c>&lt;|im_end|&gt;</c>, ...).</summary>
    public IReadOnlyCollection<int> EogIds => _eog;

    /// <summary>Whether generating <paramref name="id"/> ends generation.</summary>
    public bool IsEog(int id) => _eog.Contains(id);

    /// <summary>The stored text of token <paramref name="id"/> (<c>▁Hello</c>, <c>Ġworld</c>, <c>&lt;0x0A&gt;</c>).</summary>
    public string GetTokenText(int id) => _texts[CheckId(id)];

    /// <summary>The attributes of token <paramref name="id"/> (after llama.cpp's adjustments).</summary>
    public LlamaTokenAttributes GetAttributes(int id) => _attrs[CheckId(id)];

    /// <summary>The score of token <paramref name="id"/> (0 when the vocabulary has none).</summary>
    public float GetScore(int id) => _scores[CheckId(id)];

    /// <summary>Looks up a token by its exact stored text.</summary>
    public bool TryGetTokenId(string text, out int id) => _tokenToId.TryGetValue(text, out id);

    // ---------------------------------------------------------------------------------------------------
    // Encoding
    // ---------------------------------------------------------------------------------------------------

    /// <summary>
    /// Tokenizes <paramref name="text"/> as <c>llama_tokenize</c>. <paramref name="addBos"/> prepends BOS (pass
    /// <see cref="AddBosDefault"/> for llama.cpp's <c>add_special</c> behaviour); <paramref name="parseSpecial"/>
    /// lets control tokens written in the text (<c>&lt;|im_start|&gt;</c>, <c>&lt;s&gt;</c>) become those tokens —
    /// user-defined tokens are always recognised, as in llama.cpp.
    /// </summary>
    public IReadOnlyList<int> Encode(string text, bool addBos, bool parseSpecial) => Encode(text, addBos, parseSpecial, addEos: false);

    /// <summary>As <see cref="Encode(string, bool, bool)"/>, optionally appending EOS (pass <see cref="AddEosDefault"/>
    /// together with <see cref="AddBosDefault"/> for llama.cpp's <c>add_special = true</c>).</summary>
    public IReadOnlyList<int> Encode(string text, bool addBos, bool parseSpecial, bool addEos)
    {
        ArgumentNullException.ThrowIfNull(text);
        var output = new List<int>(text.Length / 3 + 4);
        if (addBos)
        {
            if (BosId < 0) throw new InvalidOperationException("The vocabulary has no BOS token.");
            output.Add(BosId);
        }

        var fragments = Partition(text, parseSpecial);
        if (_spm is not null)
        {
            bool prevSpecial = true; // the start counts as "after a special token": it gets the space prefix
            foreach (var f in fragments)
            {
                if (f.Token >= 0)
                {
                    output.Add(f.Token);
                    prevSpecial = true;
                    continue;
                }
                var sb = new StringBuilder(f.Length + 1);
                if (AddSpacePrefix && prevSpecial) sb.Append(' ');
                sb.Append(text, f.Offset, f.Length);
                sb.Replace(' ', '\u2581');
                _spm.Encode(sb.ToString(), output);
                prevSpecial = false;
            }
        }
        else
        {
            foreach (var f in fragments)
            {
                if (f.Token >= 0) output.Add(f.Token);
                else _bpe!.Encode(text.AsSpan(f.Offset, f.Length), output);
            }
        }

        if (addEos)
        {
            if (EosId < 0) throw new InvalidOperationException("The vocabulary has no EOS token.");
            output.Add(EosId);
        }
        return output;
    }

    private readonly record struct Fragment(int Token, int Offset, int Length);

    // llama.cpp's tokenizer_st_partition: for each special token (longest first), split every raw fragment at
    // each of its occurrences, left to right.
    private List<Fragment> Partition(string text, bool parseSpecial)
    {
        var frags = new List<Fragment>();
        if (text.Length == 0) return frags;
        frags.Add(new Fragment(-1, 0, text.Length));
        var next = new List<Fragment>();
        foreach (int id in _specialCache)
        {
            var attr = _attrs[id];
            if (!parseSpecial && (attr & (LlamaTokenAttributes.Control | LlamaTokenAttributes.Unknown)) != 0) continue;
            string st = _texts[id];
            if (!text.Contains(st, StringComparison.Ordinal)) continue;

            next.Clear();
            foreach (var f in frags)
            {
                if (f.Token >= 0) { next.Add(f); continue; }
                int off = f.Offset, len = f.Length;
                while (len > 0)
                {
                    int m = text.IndexOf(st, off, len, StringComparison.Ordinal);
                    if (m < 0) { next.Add(new Fragment(-1, off, len)); break; }
                    int leftLen = m - off;
                    if ((attr & LlamaTokenAttributes.LStrip) != 0)
                        while (leftLen > 0 && IsCSpace(text[off + leftLen - 1])) leftLen--;
                    if (leftLen > 0) next.Add(new Fragment(-1, off, leftLen));
                    next.Add(new Fragment(id, 0, 0));
                    int rOff = m + st.Length, rLen = off + len - rOff;
                    if ((attr & LlamaTokenAttributes.RStrip) != 0)
                        while (rLen > 0 && IsCSpace(text[rOff])) { rOff++; rLen--; }
                    off = rOff;
                    len = rLen;
                }
            }
            (frags, next) = (next, frags);
        }
        return frags;
    }

    // C isspace() in the "C" locale.
    private static bool IsCSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';

    // ---------------------------------------------------------------------------------------------------
    // Decoding
    // ---------------------------------------------------------------------------------------------------

    /// <summary>
    /// The text of token <paramref name="id"/> as <c>llama_token_to_piece(special: true)</c>: control and
    /// unknown tokens render their text. A byte-fallback token on its own is one byte and decodes to U+FFFD
    /// unless it is ASCII; use <see cref="TokenToPieceBytes"/> or <see cref="Decode(IEnumerable{int})"/> for text.
    /// </summary>
    public string TokenToPiece(int id) => TokenToPiece(id, special: true);

    /// <summary>As <c>llama_token_to_piece</c>: with <paramref name="special"/> false, control and unknown tokens give "".</summary>
    public string TokenToPiece(int id, bool special) => Encoding.UTF8.GetString(TokenToPieceBytes(id, special));

    /// <summary>The raw bytes of a token's piece (see <see cref="TokenToPiece(int, bool)"/>).</summary>
    public ReadOnlySpan<byte> TokenToPieceBytes(int id, bool special = true)
    {
        CheckId(id);
        if (!special && (_attrs[id] & (LlamaTokenAttributes.Unknown | LlamaTokenAttributes.Control)) != 0) return default;
        return _pieces[id];
    }

    /// <summary>
    /// Detokenizes as <c>llama_detokenize(remove_special: false, unparse_special: false)</c>: control tokens
    /// (BOS, EOS, ...) produce nothing, the SentencePiece dummy-prefix space of the first token is dropped, and
    /// for BPE pre-types that ask for it, llama.cpp's <c>clean_spaces</c> rules apply.
    /// </summary>
    public string Decode(IEnumerable<int> ids) => Decode(ids, removeSpecial: false, unparseSpecial: false);

    /// <summary>
    /// As <c>llama_detokenize</c>. <paramref name="removeSpecial"/> drops a leading BOS / trailing EOS when the
    /// vocabulary adds them; <paramref name="unparseSpecial"/> renders control tokens as their text.
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool removeSpecial, bool unparseSpecial)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var list = ids as IReadOnlyList<int> ?? ids.ToArray();
        int first = 0, count = list.Count;
        bool removeSpace = AddSpacePrefix;
        if (removeSpecial && AddBosDefault && count > 0 && list[0] == BosId)
        {
            removeSpace = false;
            first = 1;
            count--;
        }
        if (removeSpecial && AddEosDefault && count > 0 && list[first + count - 1] == EosId) count--;

        var buf = new List<byte>(count * 4);
        for (int i = first; i < first + count; i++)
        {
            var piece = TokenToPieceBytes(list[i], unparseSpecial);
            if (removeSpace && piece.Length > 0 && piece[0] == (byte)' ') piece = piece[1..];
            removeSpace = false;
            foreach (byte b in piece) buf.Add(b);
        }
        byte[] text = buf.ToArray();
        int total = text.Length;
        if (_cleanSpaces) total = CleanSpaces(text, total);
        return Encoding.UTF8.GetString(text, 0, total);
    }

    // llama_detokenize's clean_up_tokenization_spaces: three in-place passes over the bytes.
    private static int CleanSpaces(byte[] text, int total)
    {
        // 1) " ?", " !", " .", " ," lose the space
        int total1 = total;
        total = total > 0 ? 1 : 0;
        for (int i = 1; i < total1; i++)
        {
            byte x = text[i];
            if (text[i - 1] == ' ' && x is (byte)'?' or (byte)'!' or (byte)'.' or (byte)',') total--;
            text[total++] = x;
        }
        // 2) " ' " becomes "'"
        int total2 = total;
        total = total > 0 ? 1 : 0;
        for (int i = 1; i < total2; i++)
        {
            byte x = text[i];
            if (x == '\'' && i + 1 < total2 && text[i - 1] == ' ' && text[i + 1] == ' ')
            {
                total--;
                text[++i] = 0;
            }
            text[total++] = x;
        }
        // 3) " 's", " 'm", " 're", " 've" lose the space
        int total3 = total;
        total = total > 0 ? 1 : 0;
        for (int i = 1; i < total3; i++)
        {
            byte x = text[i];
            if (text[i - 1] == ' ' && x == '\'' && i + 1 < total3)
            {
                byte x1 = text[i + 1];
                if (x1 is (byte)'s' or (byte)'m') total--;
                else if (i + 2 < total3)
                {
                    byte x2 = text[i + 2];
                    if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) total--;
                }
            }
            text[total++] = x;
        }
        return total;
    }

    private byte[] BuildPiece(int id)
    {
        var attr = _attrs[id];
        string text = _texts[id];
        if ((attr & (LlamaTokenAttributes.Unknown | LlamaTokenAttributes.Control | LlamaTokenAttributes.UserDefined)) != 0)
            return Encoding.UTF8.GetBytes(text);
        if ((attr & LlamaTokenAttributes.Normal) != 0)
        {
            if (Type == LlamaVocabType.Spm)
                return Encoding.UTF8.GetBytes(text.Replace('\u2581', ' '));
            return DecodeByteLevel(text);
        }
        if ((attr & LlamaTokenAttributes.Byte) != 0)
            return [ByteOfByteToken(text)];
        return [];
    }

    // A byte-level BPE token back to its bytes; a codepoint outside the byte map gives llama.cpp's marker text.
    private static byte[] DecodeByteLevel(string text)
    {
        var bytes = new List<byte>(text.Length);
        Span<byte> u = stackalloc byte[4];
        foreach (var rune in text.EnumerateRunes())
        {
            int v = rune.Value;
            if (v < ByteLevel.CharToByte.Length && ByteLevel.CharToByte[v] >= 0)
            {
                bytes.Add((byte)ByteLevel.CharToByte[v]);
                continue;
            }
            var sb = new StringBuilder("[UNK_BYTE_0x");
            int nb = rune.EncodeToUtf8(u);
            for (int k = 0; k < nb; k++) sb.Append(u[k].ToString("x2"));
            sb.Append(text).Append(']');
            bytes.AddRange(Encoding.UTF8.GetBytes(sb.ToString()));
        }
        return bytes.ToArray();
    }

    // "<0xXX>" → XX (strtol semantics on the two characters after "<0x").
    private static byte ByteOfByteToken(string text)
    {
        if (text.Length >= 5 && byte.TryParse(text.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out byte b))
            return b;
        return 0;
    }

    private int CheckId(int id)
    {
        if ((uint)id >= (uint)_texts.Length)
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id must be in [0, {_texts.Length}).");
        return id;
    }
}
