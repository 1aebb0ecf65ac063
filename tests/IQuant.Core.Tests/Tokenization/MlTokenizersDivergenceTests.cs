using System.Text.RegularExpressions;
using Google.Protobuf;
using IQuant.Core.Tokenization;
using Ml = Microsoft.ML.Tokenizers;

namespace IQuant.Core.Tests.Tokenization;

/// <summary>
/// Why parts of the tokenizer are ours and not Microsoft.ML.Tokenizers 2.0.1: each test shows the library
/// diverging from llama.cpp on a concrete input, next to our (llama.cpp-exact) output. If a future library
/// version fixes a divergence, its test fails — then reconsider using the library for that part.
/// </summary>
public class MlTokenizersDivergenceTests
{
    // ---------------------------------------------------------------------------------------------------
    // SentencePiece: ML merges the RIGHTMOST of equal-score pairs first; llama.cpp the leftmost.
    // ---------------------------------------------------------------------------------------------------

    [Fact]
    public void SentencePieceTieBreak_MlMergesRightmostFirst()
    {
        string path = TestVocabs.VocabPath("llama-spm");
        var ours = TestVocabs.Tokenizer(path);
        var ml = CreateMlSentencePiece(ours.Vocabulary);

        int Id(string piece) => ours.TryGetTokenId(piece, out int id) ? id : throw new InvalidOperationException(piece);

        // "!!!!!!": "!!" is a piece; scoring "!!" pairs equally, llama.cpp merges (1,2) first, then (3,4)...
        var expected = new[] { Id("▁!"), Id("!!"), Id("!!!") };       // ▁! !! !!!  = 1738 6824 21004
        Assert.Equal(new[] { 1738, 6824, 21004 }, expected);
        Assert.Equal(expected, ours.Encode("!!!!!!", addBos: false, parseSpecial: false));

        var mlIds = ml.EncodeToIds("!!!!!!", false, false);
        Assert.Equal(new[] { Id("▁!"), Id("!!!"), Id("!!") }, mlIds); // ▁! !!! !!  — differs
    }

    [Fact]
    public void SentencePieceTieBreak_MlFailsTwoOfTheLlamaCppTestStrings()
    {
        string path = TestVocabs.VocabPath("llama-spm");
        var ours = TestVocabs.Tokenizer(path);
        var ml = CreateMlSentencePiece(ours.Vocabulary);
        int mlWrong = 0, oursWrong = 0;
        foreach (var (text, expected) in VocabTestCases.Read(path))
        {
            if (!ml.EncodeToIds(text, false, false).SequenceEqual(expected)) mlWrong++;
            if (!ours.Encode(text, false, false).SequenceEqual(expected)) oursWrong++;
        }
        Assert.Equal(0, oursWrong);
        Assert.Equal(2, mlWrong); // "!!!!!!" and the long mixed string with runs of '-', '=', '\'' and '.'
    }

    /// <summary>
    /// A sentencepiece ModelProto synthesized from GGUF metadata (field numbers from sentencepiece_model.proto),
    /// with the settings that make ML.Tokenizers as close to llama.cpp as it gets (see shared/spec/tokenizers.md).
    /// </summary>
    internal static Ml.SentencePieceTokenizer CreateMlSentencePiece(GgufVocabulary v)
    {
        using var ms = new MemoryStream();
        var o = new CodedOutputStream(ms);
        bool hasBytes = false;
        for (int i = 0; i < v.Count; i++)
        {
            var type = v.GetTokenType(i);
            hasBytes |= type == GgufTokenType.Byte;
            var piece = new MemoryStream();
            var p = new CodedOutputStream(piece);
            p.WriteTag(1, WireFormat.WireType.LengthDelimited); p.WriteString(v.Tokens[i]);
            p.WriteTag(2, WireFormat.WireType.Fixed32); p.WriteFloat(v.Scores?[i] ?? 0f);
            p.WriteTag(3, WireFormat.WireType.Varint); p.WriteEnum(type == GgufTokenType.Undefined ? 1 : (int)type);
            p.Flush();
            o.WriteTag(1, WireFormat.WireType.LengthDelimited); o.WriteBytes(ByteString.CopyFrom(piece.ToArray()));
        }
        var trainer = new MemoryStream();
        var t = new CodedOutputStream(trainer);
        t.WriteTag(3, WireFormat.WireType.Varint); t.WriteEnum(2); // model_type = BPE
        t.WriteTag(4, WireFormat.WireType.Varint); t.WriteInt32(v.Count);
        t.WriteTag(24, WireFormat.WireType.Varint); t.WriteBool(false); // treat_whitespace_as_suffix
        t.WriteTag(35, WireFormat.WireType.Varint); t.WriteBool(hasBytes); // byte_fallback
        t.WriteTag(40, WireFormat.WireType.Varint); t.WriteInt32(v.UnknownTokenId ?? 0);
        t.WriteTag(41, WireFormat.WireType.Varint); t.WriteInt32(v.BosTokenId ?? 1);
        t.WriteTag(42, WireFormat.WireType.Varint); t.WriteInt32(v.EosTokenId ?? 2);
        t.WriteTag(43, WireFormat.WireType.Varint); t.WriteInt32(v.PaddingTokenId ?? -1);
        t.WriteTag(45, WireFormat.WireType.LengthDelimited); t.WriteString(v.Tokens[v.UnknownTokenId ?? 0]);
        t.WriteTag(46, WireFormat.WireType.LengthDelimited); t.WriteString(v.Tokens[v.BosTokenId ?? 1]);
        t.WriteTag(47, WireFormat.WireType.LengthDelimited); t.WriteString(v.Tokens[v.EosTokenId ?? 2]);
        t.Flush();
        o.WriteTag(2, WireFormat.WireType.LengthDelimited); o.WriteBytes(ByteString.CopyFrom(trainer.ToArray()));
        var norm = new MemoryStream();
        var n = new CodedOutputStream(norm);
        n.WriteTag(1, WireFormat.WireType.LengthDelimited); n.WriteString("identity");
        n.WriteTag(3, WireFormat.WireType.Varint); n.WriteBool(v.AddSpacePrefix ?? true); // add_dummy_prefix
        n.WriteTag(4, WireFormat.WireType.Varint); n.WriteBool(false); // remove_extra_whitespaces (proto2 default true!)
        n.WriteTag(5, WireFormat.WireType.Varint); n.WriteBool(true); // escape_whitespaces
        n.Flush();
        o.WriteTag(3, WireFormat.WireType.LengthDelimited); o.WriteBytes(ByteString.CopyFrom(norm.ToArray()));
        o.Flush();
        ms.Position = 0;
        return Ml.SentencePieceTokenizer.Create(ms, false, false);
    }

    // ---------------------------------------------------------------------------------------------------
    // Byte-level BPE: ML's merge loop is exact, its built-in pre-tokenizers are not.
    // ---------------------------------------------------------------------------------------------------

    private static Ml.BpeTokenizer CreateMlBpe(GgufVocabulary v, Ml.PreTokenizer pre)
    {
        var vocab = new List<KeyValuePair<string, int>>();
        for (int i = 0; i < v.Count; i++)
            if (v.GetTokenType(i) != GgufTokenType.UserDefined)
                vocab.Add(new(v.Tokens[i], i));
        return Ml.BpeTokenizer.Create(new Ml.BpeOptions(vocab) { Merges = v.Merges, ByteLevel = true, PreTokenizer = pre });
    }

    [Fact]
    public void RegexPreTokenizer_DropsTextItsRegexDoesNotMatch()
    {
        var ours = TestVocabs.Tokenizer(TestVocabs.VocabPath("gpt-2"));
        var ml = CreateMlBpe(ours.Vocabulary, new Ml.RegexPreTokenizer(new Regex(LlamaCppPreTokenizer.Gpt2Regex), null));

        int Id(string t) => ours.TryGetTokenId(t, out int id) ? id : throw new InvalidOperationException(t);
        // "\n" before a letter: "\s+(?!\S)" cannot take it, so it is a gap between matches — llama.cpp keeps it.
        var expected = new[] { Id("Hello"), Id("Ċ"), Id("world") }; // 15496 198 6894
        Assert.Equal(expected, ours.Encode("Hello\nworld", false, false));
        Assert.Equal(new[] { Id("Hello"), Id("world") }, ml.EncodeToIds("Hello\nworld")); // the newline is gone

        // With our pre-tokenizer plugged into ML's BpeTokenizer, the merge engine gives llama.cpp's answer.
        var mlWithOurs = CreateMlBpe(ours.Vocabulary, ours.PreTokenizer!);
        Assert.Equal(expected, mlWithOurs.EncodeToIds("Hello\nworld"));
    }

    [Fact]
    public void CompositePreTokenizer_DoesNotResplitEarlierMatches()
    {
        var ours = TestVocabs.Tokenizer(TestVocabs.VocabPath("falcon"));
        // falcon: punctuation runs, then GPT-2 (with the gap alternative ML needs), then 3-digit groups.
        var composite = new Ml.CompositePreTokenizer(
        [
            new Ml.RegexPreTokenizer(new Regex(@"[\p{P}\$\+<=>\^~\|`]+"), null),
            new Ml.RegexPreTokenizer(new Regex(LlamaCppPreTokenizer.Gpt2Regex + @"|\s+"), null),
            new Ml.RegexPreTokenizer(new Regex("[0-9][0-9][0-9]"), null),
        ], null);
        var ml = CreateMlBpe(ours.Vocabulary, composite);

        int Id(string t) => ours.TryGetTokenId(t, out int id) ? id : throw new InvalidOperationException(t);
        // llama.cpp splits the GPT-2 word "3333333" again into "333" "333" "3".
        var expected = new[] { Id("333"), Id("333"), Id("3") };
        Assert.Equal(expected, ours.Encode("3333333", false, false));
        var mlIds = ml.EncodeToIds("3333333");
        Assert.NotEqual(expected, mlIds); // the composite never re-splits the GPT-2 match
        Assert.Equal(ours.Decode(expected), ours.Decode(mlIds));
    }
}
