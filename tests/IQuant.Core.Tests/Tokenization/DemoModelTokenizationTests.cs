using System.Diagnostics;
using IQuant.Core.Tokenization;

namespace IQuant.Core.Tests.Tokenization;

/// <summary>Runs alone (no other test class in parallel) so that its CPU-time measurement is its own.</summary>
[CollectionDefinition(nameof(TokenizerTimingCollection), DisableParallelization = true)]
public sealed class TokenizerTimingCollection;

/// <summary>The demo model's vocabulary on the held-out evaluation text.</summary>
[Collection(nameof(TokenizerTimingCollection))]
public class DemoModelTokenizationTests
{
    [Fact]
    public void EvalTextGives64899TokensPlusBos()
    {
        string text = File.ReadAllText(TestPaths.RequireShared("models", "eval-public.txt"));
        var tok = new LlamaTokenizer(TestVocabs.Load(TestPaths.DemoModel));
        Assert.Equal(LlamaVocabType.Spm, tok.Type);
        Assert.Equal(4096, tok.Count);
        Assert.True(tok.AddBosDefault);
        Assert.True(tok.AddSpacePrefix);

        var withBos = tok.Encode(text, addBos: true, parseSpecial: false);
        // llama.cpp (test-tokenizer-0, add_special = false) gives 64,899 tokens for this text: the figure excludes
        // BOS. With BOS, as llama-perplexity and llama-cli tokenize it, there is one more.
        Assert.Equal(64_900, withBos.Count);
        Assert.Equal(tok.BosId, withBos[0]);
        var noBos = tok.Encode(text, addBos: false, parseSpecial: false);
        Assert.Equal(64_899, noBos.Count);
        Assert.True(withBos.Skip(1).SequenceEqual(noBos));
        Assert.Equal(text, tok.Decode(noBos));
        // llama_detokenize drops the dummy-prefix space only from a first token that is not preceded by BOS.
        Assert.Equal(" " + text, tok.Decode(withBos));
        Assert.Equal(" " + text, tok.Decode(withBos, removeSpecial: true, unparseSpecial: false));
    }

    [Fact]
    public void EvalTextTokenizesWellUnderOneSecond()
    {
        string text = File.ReadAllText(TestPaths.RequireShared("models", "eval-public.txt"));
        var tok = new LlamaTokenizer(TestVocabs.Load(TestPaths.DemoModel));
        tok.Encode("warm up", addBos: true, parseSpecial: false);

        // CPU time of this process (the machine is shared; wall-clock time says more about the neighbours).
        var proc = Process.GetCurrentProcess();
        var cpu0 = proc.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        var ids = tok.Encode(text, addBos: true, parseSpecial: false);
        sw.Stop();
        proc.Refresh();
        var cpu = proc.TotalProcessorTime - cpu0;
        Assert.Equal(64_900, ids.Count);
        Assert.True(cpu < TimeSpan.FromSeconds(1),
            $"tokenizing eval-public.txt took {cpu.TotalMilliseconds:F0} ms CPU ({sw.Elapsed.TotalMilliseconds:F0} ms wall)");
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"eval-public.txt: {ids.Count} tokens, {cpu.TotalMilliseconds:F0} ms CPU, {sw.Elapsed.TotalMilliseconds:F0} ms wall");
    }
}
