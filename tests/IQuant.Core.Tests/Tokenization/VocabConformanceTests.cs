using System.Diagnostics;
using System.Text;
using IQuant.Core.Tokenization;

namespace IQuant.Core.Tests.Tokenization;

/// <summary>The test pairs that come with llama.cpp (<c>ggml-vocab-*.gguf.inp/.out</c>), read as its test-tokenizer-0 does.</summary>
internal static class VocabTestCases
{
    public const string Separator = "\n__ggml_vocab_test__\n";

    public static List<(string Text, int[] Ids)> Read(string ggufPath)
    {
        string raw = Encoding.UTF8.GetString(File.ReadAllBytes(ggufPath + ".inp"));
        var inputs = new List<string>();
        for (int pos = 0; pos < raw.Length; )
        {
            int next = raw.IndexOf(Separator, pos, StringComparison.Ordinal);
            if (next < 0) { inputs.Add(raw[pos..]); break; }
            inputs.Add(raw[pos..next]);
            pos = next + Separator.Length;
        }
        var outputs = File.ReadAllText(ggufPath + ".out").Split('\n');
        int nOut = outputs.Length - (outputs[^1].Length == 0 ? 1 : 0); // getline: no line after the final '\n'
        Assert.Equal(inputs.Count, nOut);
        var cases = new List<(string, int[])>();
        for (int i = 0; i < inputs.Count; i++)
        {
            var ids = outputs[i].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
            cases.Add((inputs[i], ids));
        }
        return cases;
    }
}

/// <summary>Conformance with llama.cpp's tokenizer on its own test files and on the demo model's eval text.</summary>
public class VocabConformanceTests
{
    public static TheoryData<string> VocabsWithTests => new()
    {
        "llama-spm", "phi-3", "gpt-2", "starcoder", "deepseek-coder", "falcon", "mpt",
    };

    [Theory]
    [MemberData(nameof(VocabsWithTests))]
    public void MatchesLlamaCppTestFile(string name)
    {
        string path = TestVocabs.VocabPath(name);
        var tok = TestVocabs.Tokenizer(path);
        var cases = VocabTestCases.Read(path);
        Assert.Equal(46, cases.Count);
        var failures = new StringBuilder();
        foreach (var (text, expected) in cases)
        {
            // test-tokenizer-0: add_special = false, parse_special = false
            var got = tok.Encode(text, addBos: false, parseSpecial: false);
            if (!got.SequenceEqual(expected))
                failures.AppendLine($"'{Escape(text)}': expected [{string.Join(' ', expected)}] got [{string.Join(' ', got)}]");
        }
        Assert.True(failures.Length == 0, $"{name}:\n{failures}");
    }

    [Theory]
    [MemberData(nameof(VocabsWithTests))]
    public void DecodeRoundTripsTestStrings(string name)
    {
        string path = TestVocabs.VocabPath(name);
        var tok = TestVocabs.Tokenizer(path);
        var failures = new StringBuilder();
        foreach (var (text, expected) in VocabTestCases.Read(path))
        {
            string back = tok.Decode(expected);
            string want = text;
            if (tok.PreType is { CleanSpaces: true })
                want = CleanSpacesReference(text);
            if (back != want) failures.AppendLine($"'{Escape(text)}' decoded to '{Escape(back)}'");
        }
        Assert.True(failures.Length == 0, $"{name}:\n{failures}");
    }

    // What llama_detokenize's clean_spaces does to a string (only the rules that the test strings exercise).
    private static string CleanSpacesReference(string s) =>
        s.Replace(" ?", "?").Replace(" !", "!").Replace(" .", ".").Replace(" ,", ",").Replace(" 's", "'s")
         .Replace(" 'm", "'m").Replace(" 're", "'re").Replace(" 've", "'ve");

    [Fact]
    public void GptNeoxVocabLoads()
    {
        var tok = TestVocabs.Tokenizer(TestVocabs.VocabPath("gpt-neox"));
        Assert.Equal(LlamaVocabType.Bpe, tok.Type);
        Assert.Equal("default", tok.PreType!.Name);
        Assert.Equal(50432, tok.Count);
        Assert.Equal(0, tok.BosId);
        Assert.Equal(0, tok.EosId);
        Assert.True(tok.IsEog(0));
        var ids = tok.Encode("Hello world", addBos: false, parseSpecial: false);
        Assert.Equal("Hello world", tok.Decode(ids));
        // a user-defined whitespace-run token is cut out even without parseSpecial
        var spaces = tok.Encode("a    b", addBos: false, parseSpecial: false);
        Assert.Contains(spaces, id => tok.GetAttributes(id).HasFlag(LlamaTokenAttributes.UserDefined));
    }

    internal static string Escape(string s) => s.Replace("\n", "\\n").Replace("\t", "\\t").Replace("\r", "\\r");
}
