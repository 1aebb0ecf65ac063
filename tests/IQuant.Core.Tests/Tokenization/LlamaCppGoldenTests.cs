using System.Text;
using System.Text.Json;
using IQuant.Core.Tokenization;

namespace IQuant.Core.Tests.Tokenization;

/// <summary>
/// Compares with output recorded from llama.cpp's own tokenizer code (ik_llama.cpp 8337e4cd, run outside this
/// repository; only its outputs are kept, in Data/): word splits for every supported pre-type (including llama3 and
/// qwen2, which have no vocab file here), and full tokenize/detokenize with special-token parsing on and off.
/// </summary>
public class LlamaCppGoldenTests
{
    private static string DataFile(string name) =>
        Path.Combine(TestPaths.RepoRoot, "tests", "IQuant.Core.Tests", "Tokenization", "Data", name);

    private static IEnumerable<JsonElement> Lines(string name)
    {
        foreach (var line in File.ReadLines(DataFile(name)))
            if (line.Length > 0)
                yield return JsonDocument.Parse(line).RootElement;
    }

    public static TheoryData<string> PreTypes => new() { "default", "gpt-2", "llama-bpe", "qwen2", "starcoder", "falcon", "deepseek-coder" };

    [Theory]
    [MemberData(nameof(PreTypes))]
    public void PreTokenizerSplitsLikeLlamaCpp(string pre)
    {
        var splitter = new LlamaCppPreTokenizer(BpePreType.Resolve(pre).Regexes);
        var failures = new StringBuilder();
        int n = 0;
        foreach (var e in Lines("llamacpp-pretokenizer.jsonl").Where(e => e.GetProperty("pre").GetString() == pre))
        {
            n++;
            string text = e.GetProperty("text").GetString()!;
            var expected = e.GetProperty("utf8Lengths").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            var got = splitter.PreTokenize(text).Select(w => Encoding.UTF8.GetByteCount(text.AsSpan(w.Offset, w.Length))).ToArray();
            if (!got.SequenceEqual(expected))
                failures.AppendLine($"'{VocabConformanceTests.Escape(text)}': expected [{string.Join(',', expected)}] got [{string.Join(',', got)}]");
        }
        Assert.True(n > 300, $"only {n} golden lines for {pre}");
        Assert.True(failures.Length == 0, failures.ToString());
    }

    public static TheoryData<string> Vocabs => new()
    {
        "llama-spm", "phi-3", "gpt-2", "starcoder", "deepseek-coder", "falcon", "mpt", "gpt-neox", "iquant-demo",
    };

    [Theory]
    [MemberData(nameof(Vocabs))]
    public void TokenizesAndDetokenizesLikeLlamaCpp(string vocab)
    {
        string path = vocab == "iquant-demo" ? TestPaths.DemoModel : TestVocabs.VocabPath(vocab);
        var tok = TestVocabs.Tokenizer(path);
        var failures = new StringBuilder();
        int n = 0;
        foreach (var e in Lines("llamacpp-tokenize.jsonl").Where(e => e.GetProperty("vocab").GetString() == vocab))
        {
            n++;
            string text = e.GetProperty("text").GetString()!;
            bool addSpecial = e.GetProperty("addSpecial").GetBoolean();
            bool parseSpecial = e.GetProperty("parseSpecial").GetBoolean();
            var expected = e.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            // llama_tokenize's add_special = BOS if the vocab adds it, EOS if the vocab adds it
            var got = tok.Encode(text, addSpecial && tok.AddBosDefault, parseSpecial, addSpecial && tok.AddEosDefault).ToArray();
            if (!got.SequenceEqual(expected))
            {
                failures.AppendLine($"[{addSpecial},{parseSpecial}] '{VocabConformanceTests.Escape(text)}': expected [{string.Join(' ', expected)}] got [{string.Join(' ', got)}]");
                continue;
            }
            string detok = Encoding.UTF8.GetString(Convert.FromBase64String(e.GetProperty("detokenized").GetString()!));
            string back = tok.Decode(expected);
            if (back != detok)
                failures.AppendLine($"decode '{VocabConformanceTests.Escape(text)}': expected '{VocabConformanceTests.Escape(detok)}' got '{VocabConformanceTests.Escape(back)}'");
        }
        Assert.Equal(120, n);
        Assert.True(failures.Length == 0, failures.ToString());
    }
}
