using System.Globalization;
using IQuant.Core.Tokenization;

namespace IQuant.Core.Tests.Tokenization;

/// <summary>Small hand-made vocabularies (no shared files needed).</summary>
public class TokenizerUnitTests
{
    // A tiny SentencePiece vocabulary, built from plain arrays the way a GGUF reader would hand them over.
    private static Dictionary<string, object> SpmMetadata(string? name = null)
    {
        var tokens = new List<string> { "<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "<|sep|>", "<|user|>" };
        var types = new List<int> { 2, 3, 3, 3, 1, 4, 3 };
        var scores = new List<float> { 0, 0, 0, 0, 0, 0, 0 };
        for (int b = 0; b < 256; b++) { tokens.Add($"<0x{b:X2}>"); types.Add(6); scores.Add(0); }
        foreach (var (t, s) in new[] { ("▁", -1f), ("a", -2f), ("b", -2f), ("aa", -3f), ("▁a", -3f), ("▁b", -3f), ("ab", -4f), ("▁ab", -5f), ("u", -2f), ("s", -2f), ("e", -2f), ("r", -2f), ("▁user", -6f), ("▁u", -4f), ("▁us", -5f), ("▁use", -5.5f) })
        {
            tokens.Add(t); types.Add(1); scores.Add(s);
        }
        var md = new Dictionary<string, object>
        {
            ["tokenizer.ggml.model"] = "llama",
            ["tokenizer.ggml.tokens"] = tokens.ToArray(),
            ["tokenizer.ggml.scores"] = scores.ToArray(),
            ["tokenizer.ggml.token_type"] = types.ToArray(),
            ["tokenizer.ggml.bos_token_id"] = 1u,       // uint32, as GGUF stores ids
            ["tokenizer.ggml.eos_token_id"] = (ulong)2, // any integer type is accepted
            ["tokenizer.ggml.unknown_token_id"] = 0,
            ["tokenizer.ggml.add_bos_token"] = true,
            ["tokenizer.chat_template"] = "{{ messages }}",
        };
        if (name is not null) md["general.name"] = name;
        return md;
    }

    private static LlamaTokenizer Spm(string? name = null) => new(GgufVocabulary.FromMetadata(SpmMetadata(name)));

    private static int[] Ids(LlamaTokenizer t, params string[] pieces) =>
        pieces.Select(p => t.TryGetTokenId(p, out int id) ? id : throw new InvalidOperationException(p)).ToArray();

    [Fact]
    public void VocabularyFromPlainMetadata()
    {
        var v = GgufVocabulary.FromMetadata(SpmMetadata());
        Assert.Equal("llama", v.Model);
        Assert.Null(v.Pre);
        Assert.Equal(1, v.BosTokenId);
        Assert.Equal(2, v.EosTokenId);
        Assert.True(v.AddBosToken);
        Assert.Null(v.AddSpacePrefix);
        Assert.Equal("{{ messages }}", v.ChatTemplate);
        Assert.Equal(GgufTokenType.Control, v.GetTokenType(1));
        Assert.Equal(GgufTokenType.Byte, v.GetTokenType(7));
        var t = new LlamaTokenizer(v);
        Assert.Equal(v.Count, t.Count);
        Assert.Equal(1, t.BosId);
        Assert.True(t.AddBosDefault);
        Assert.False(t.AddEosDefault);
        Assert.True(t.AddSpacePrefix); // SentencePiece default when the key is absent
    }

    [Fact]
    public void MissingOrMalformedMetadataThrows()
    {
        Assert.Throws<FormatException>(() => GgufVocabulary.FromMetadata(new Dictionary<string, object> { ["tokenizer.ggml.model"] = "llama" }));
        var md = SpmMetadata();
        md["tokenizer.ggml.bos_token_id"] = "1";
        Assert.Throws<FormatException>(() => GgufVocabulary.FromMetadata(md));
        md = SpmMetadata();
        md["tokenizer.ggml.model"] = "bert";
        Assert.Throws<NotSupportedException>(() => new LlamaTokenizer(GgufVocabulary.FromMetadata(md)));
    }

    [Fact]
    public void SentencePieceMergesLeftmostOfEqualScores()
    {
        var t = Spm();
        // "▁aaa": "▁a" and both "aa" pairs score -3; the leftmost ("▁a") merges first, then the remaining "aa".
        Assert.Equal(Ids(t, "▁a", "aa"), t.Encode("aaa", false, false));
        // Without the dummy prefix: "aa" + "a" (merging the rightmost pair first would give "a" + "aa").
        var md = SpmMetadata();
        md["tokenizer.ggml.add_space_prefix"] = false;
        var np = new LlamaTokenizer(GgufVocabulary.FromMetadata(md));
        Assert.False(np.AddSpacePrefix);
        Assert.Equal(Ids(np, "aa", "a"), np.Encode("aaa", false, false)); // right-first would give "a aa"
    }

    [Fact]
    public void SentencePieceByteFallbackAndDecode()
    {
        var t = Spm();
        var ids = t.Encode("ab\n€", addBos: true, parseSpecial: false);
        // ▁ab, then '\n' and '€' (E2 82 AC) are not pieces: byte fallback
        Assert.Equal([1, .. Ids(t, "▁ab", "<0x0A>", "<0xE2>", "<0x82>", "<0xAC>")], ids);
        Assert.Equal(" ab\n€", t.Decode(ids));          // after BOS the dummy-prefix space stays (llama.cpp)
        Assert.Equal("ab\n€", t.Decode(ids.Skip(1)));   // as the first token it is dropped
        Assert.Equal("<s> ab\n€", t.Decode(ids, removeSpecial: false, unparseSpecial: true));
        Assert.Equal("\uFFFD", t.TokenToPiece(ids[^1]));  // a lone continuation byte
        Assert.Equal([0xAC], t.TokenToPieceBytes(ids[^1]).ToArray());
        Assert.Equal("<s>", t.TokenToPiece(1));
        Assert.Equal("", t.TokenToPiece(1, special: false));
        Assert.Throws<ArgumentOutOfRangeException>(() => t.TokenToPiece(t.Count));
    }

    [Fact]
    public void SpecialTokensInText()
    {
        var t = Spm();
        int imStart = Ids(t, "<|im_start|>")[0], sep = Ids(t, "<|sep|>")[0];

        // parseSpecial: control tokens written in the text become tokens, and the text after a special token
        // gets the dummy prefix again.
        var parsed = t.Encode("<|im_start|>user", false, parseSpecial: true);
        Assert.Equal([imStart, .. Ids(t, "▁user")], parsed);

        // Without parseSpecial the control token is plain text ...
        var plain = t.Encode("<|im_start|>user", false, parseSpecial: false);
        Assert.DoesNotContain(imStart, plain);
        // ... but user-defined tokens are always cut out (llama.cpp's tokenizer_st_partition).
        var ud = t.Encode("a<|sep|>b", false, parseSpecial: false);
        Assert.Equal([.. Ids(t, "▁a"), sep, .. Ids(t, "▁b")], ud);
        // the fragment after a special token got a dummy prefix, which detokenizing keeps (as llama.cpp does)
        Assert.Equal("a<|sep|> b", t.Decode(ud));
    }

    [Fact]
    public void EndOfGenerationTokens()
    {
        var t = Spm();
        int imEnd = Ids(t, "<|im_end|>")[0];
        // typed NORMAL in the vocabulary, but llama.cpp forces it to CONTROL and end-of-generation by its text
        Assert.True(t.IsEog(imEnd));
        Assert.True(t.GetAttributes(imEnd).HasFlag(LlamaTokenAttributes.Control));
        Assert.Equal(imEnd, t.EotId);
        Assert.True(t.IsEog(t.EosId));
        Assert.False(t.IsEog(t.BosId));
        Assert.Contains(imEnd, t.EogIds);
    }

    [Fact]
    public void Phi3StripsWhitespaceAfterSpecialTokens()
    {
        var plain = Spm();
        var phi = Spm(name: "Phi3");
        int user = Ids(phi, "<|user|>")[0];
        // llama.cpp sets RSTRIP on phi-3's special tokens (keyed on general.name): "\n  " after <|user|> goes.
        Assert.Equal([user, .. Ids(phi, "▁a")], phi.Encode("<|user|>\n  a", false, parseSpecial: true));
        Assert.NotEqual(phi.Encode("<|user|>\n  a", false, true), plain.Encode("<|user|>\n  a", false, true));
        Assert.True(phi.GetAttributes(user).HasFlag(LlamaTokenAttributes.RStrip));
        Assert.False(phi.GetAttributes(1).HasFlag(LlamaTokenAttributes.RStrip)); // <s> is excluded
    }

    // A tiny byte-level BPE vocabulary.
    private static LlamaTokenizer Bpe(string? pre)
    {
        var tokens = new List<string> { "<|endoftext|>" };
        for (int b = 0; b < 256; b++)
        {
            string c = ByteLevelChar(b);
            if (!tokens.Contains(c)) tokens.Add(c);
        }
        tokens.AddRange(["he", "ll", "hell", "hello", "Ġw", "Ġwo", "or", "ld", "Ġwor", "Ġworld", "ĠĠ"]);
        var md = new Dictionary<string, object>
        {
            ["tokenizer.ggml.model"] = "gpt2",
            ["tokenizer.ggml.tokens"] = tokens.ToArray(),
            ["tokenizer.ggml.token_type"] = tokens.Select(t => t == "<|endoftext|>" ? 3 : 1).ToArray(),
            ["tokenizer.ggml.merges"] = new[] { "h e", "l l", "he ll", "hell o", "Ġ w", "o r", "l d", "Ġw or", "Ġwor ld", "Ġ Ġ" },
            ["tokenizer.ggml.bos_token_id"] = 0u,
            ["tokenizer.ggml.eos_token_id"] = 0u,
        };
        if (pre is not null) md["tokenizer.ggml.pre"] = pre;
        return new LlamaTokenizer(GgufVocabulary.FromMetadata(md));
    }

    private static string ByteLevelChar(int b)
    {
        // GPT-2's bytes_to_unicode
        var bs = Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range(0xA1, 0xAC - 0xA1 + 1)).Concat(Enumerable.Range(0xAE, 0xFF - 0xAE + 1)).ToList();
        if (bs.Contains(b)) return ((char)b).ToString();
        int n = 0;
        for (int x = 0; x < 256; x++)
        {
            if (bs.Contains(x)) continue;
            if (x == b) return ((char)(256 + n)).ToString();
            n++;
        }
        throw new ArgumentOutOfRangeException(nameof(b));
    }

    [Fact]
    public void ByteLevelBpe()
    {
        var t = Bpe("gpt-2");
        Assert.Equal(LlamaVocabType.Bpe, t.Type);
        Assert.False(t.AddBosDefault);
        Assert.True(t.PreType!.CleanSpaces);
        var ids = t.Encode("hello world", false, false);
        Assert.Equal(Ids(t, "hello", "Ġworld"), ids);
        Assert.Equal("hello world", t.Decode(ids));
        // clean_spaces (gpt-2): " ?" loses its space on decode, as llama_detokenize does
        Assert.Equal("hello?", t.Decode(t.Encode("hello ?", false, false)));
        // control token only with parseSpecial
        Assert.Equal([.. Ids(t, "hello"), 0], t.Encode("hello<|endoftext|>", false, true));
        Assert.Equal(1 + 13, t.Encode("hello<|endoftext|>", false, false).Count);
        Assert.True(t.IsEog(0));
    }

    [Fact]
    public void BpePreTypes()
    {
        Assert.Equal("default", Bpe(null).PreType!.Name);  // no tokenizer.ggml.pre: llama.cpp's DEFAULT
        var llama3 = Bpe("llama-bpe");
        Assert.True(llama3.PreType!.IgnoreMerges);
        Assert.True(llama3.AddBosDefault);
        Assert.False(Bpe("qwen2").PreType!.CleanSpaces);
        Assert.Throws<NotSupportedException>(() => Bpe("no-such-pre"));
        // llama3 splits digits in threes, qwen2 one by one
        Assert.Equal([3, 3, 1], llama3.PreTokenizer!.PreTokenize("1234567").Select(w => w.Length));
        Assert.Equal([1, 1, 1], Bpe("qwen2").PreTokenizer!.PreTokenize("123").Select(w => w.Length));
    }

    [Fact]
    public void CodepointFlagsFollowLlamaCppUnicodeVersion()
    {
        // llama.cpp's tables are Unicode 15.1: codepoints new in 16.0 are unassigned there, though .NET knows them.
        foreach (var (first, last) in CodepointFlags.PinnedRanges)
        {
            Assert.Equal(CpFlags.Undefined, CodepointFlags.Get(first));
            Assert.Equal(CpFlags.Undefined, CodepointFlags.Get(last));
            Assert.NotEqual(UnicodeCategory.OtherNotAssigned, CharUnicodeInfo.GetUnicodeCategory(first));
        }
        Assert.Equal(CpFlags.Letter, CodepointFlags.Get('a'));
        Assert.Equal(CpFlags.Letter, CodepointFlags.Get(0x1D400));      // 𝐀
        Assert.Equal(CpFlags.Number, CodepointFlags.Get(0x1D7CE));      // 𝟎
        Assert.Equal(CpFlags.Separator | CpFlags.Whitespace, CodepointFlags.Get(0x3000));
        Assert.Equal(CpFlags.Control | CpFlags.Whitespace, CodepointFlags.Get('\n'));
        for (int c = 0; c < 0x10000; c++)
            Assert.Equal(char.IsWhiteSpace((char)c), (CodepointFlags.Get(c) & CpFlags.Whitespace) != 0);
    }
}
