using IQuant.Core.Gguf;
using IQuant.Core.Inference;
using IQuant.Core.Types;

namespace IQuant.Core.Tests.Inference;

/// <summary>
/// llama-perplexity's method. The full-text figures of ik_llama.cpp (shared/models/README.md) are checked by
/// <see cref="FullTextWithinHalfAPercentOfIkLlamaCpp"/> for F16 and IQ4_KS, and for every file by
/// <see cref="FullTextMatchesIkLlamaCpp"/> when IQUANT_FULL_PPL=1 (recorded in bench/RESULTS-inference.md); the other
/// files are checked on their first 16 chunks against figures IQuant computed and verified that way.
/// </summary>
public sealed class PerplexityTests
{
    /// <summary>ik_llama.cpp llama-perplexity -c 512 on eval-public.txt (shared/models/README.md).</summary>
    public static readonly Dictionary<string, (double Ppl, double Err)> IkFullText = new()
    {
        ["f16"] = (36.1605, 0.5248),
        ["IQ2_K"] = (37.3276, 0.5375), ["IQ2_K-im"] = (37.2661, 0.5371),
        ["IQ2_KS"] = (37.8693, 0.5441), ["IQ2_KS-im"] = (37.7533, 0.5427),
        ["IQ3_K"] = (36.4111, 0.5276), ["IQ3_K-im"] = (36.4074, 0.5275),
        ["IQ3_KS"] = (36.5097, 0.5302), ["IQ3_KS-im"] = (36.4980, 0.5292),
        ["IQ4_K"] = (36.2136, 0.5250), ["IQ4_K-im"] = (36.2164, 0.5256),
        ["IQ4_KS"] = (36.2132, 0.5247), ["IQ4_KS-im"] = (36.2077, 0.5250),
    };

    private static PerplexityResult Run(string file, int chunks, int threads = 2)
    {
        using var m = LlamaModel.Load(file);
        var tok = m.Tokenizer;
        var ids = tok.Encode(File.ReadAllText(TestPaths.RequireShared("models", "eval-public.txt")), tok.AddBosDefault, false);
        using var ctx = new InferenceContext(m, new InferenceOptions { ContextLength = 512, Threads = threads });
        return Perplexity.Compute(ctx, ids, 512, chunks, tok.AddBosDefault, tok.BosId);
    }

    public static TheoryData<string> QuantizedFiles => new(IkFullText.Keys.Where(k => k != "f16"));

    private static readonly Lazy<PerplexityResult> s_f16First16 =
        new(() => Run(TestPaths.RequireShared("models", "iquant-demo-f16.gguf"), 16));

    /// <summary>
    /// Every reference quantization on the first 16 chunks (the full text of all 13 files takes minutes; CI runs it for
    /// F16 and IQ4_KS below, bench/Test-PerplexityConformance.ps1 for all). No figure of our own is assumed: what is
    /// checked is that quantizing costs what it costs in ik_llama.cpp — the PPL ratio quantized/F16 over these chunks
    /// matches ik's full-text ratio within 1% (the 16-chunk sample itself differs from the full text by up to 0.62%, IQ2_K; a wrong kernel moves it by far more).
    /// </summary>
    [Theory]
    [MemberData(nameof(QuantizedFiles))]
    public void First16ChunksDegradeAsInIkLlamaCpp(string name)
    {
        string file = TestPaths.RequireShared("models", $"iquant-demo-{name}.gguf");
        var r = Run(file, 16);
        var f16 = s_f16First16.Value;
        Assert.Equal(16, r.Chunks);
        Assert.Equal(64_900, r.Tokens);
        Assert.Equal(16 * 255, r.ScoredTokens);
        double ours = r.Ppl / f16.Ppl, theirs = IkFullText[name].Ppl / IkFullText["f16"].Ppl;
        Assert.True(ours > 1, $"{name}: quantized PPL {r.Ppl:F4} is not above F16's {f16.Ppl:F4}");
        Assert.True(Math.Abs(ours / theirs - 1) < 0.01, $"{name}: PPL ratio to F16 {ours:F5} over 16 chunks, ik_llama.cpp full text {theirs:F5}");
    }

    /// <summary>The full text (126 chunks, about 40 s each on two shared cores) for the F16 model and one quantized file.</summary>
    [Theory]
    [InlineData("f16")]
    [InlineData("IQ4_KS")]
    public void FullTextWithinHalfAPercentOfIkLlamaCpp(string name)
    {
        var r = Run(TestPaths.RequireShared("models", $"iquant-demo-{name}.gguf"), 0);
        var ik = IkFullText[name];
        Assert.Equal(126, r.Chunks);
        Assert.True(Math.Abs(r.Ppl / ik.Ppl - 1) < 0.005, $"{name}: PPL {r.Ppl:F4}, ik_llama.cpp {ik.Ppl:F4}");
        Assert.True(Math.Abs(r.Error / ik.Err - 1) < 0.02, $"{name}: ± {r.Error:F4}, ik_llama.cpp {ik.Err:F4}");
        if (name == "f16") Assert.Equal(ik.Ppl, Math.Round(r.Ppl, 4));   // the F16 model gives ik's figure to the last digit
    }

    [Fact]
    public void FullTextMatchesIkLlamaCpp()
    {
        if (Environment.GetEnvironmentVariable("IQUANT_FULL_PPL") != "1")
            Assert.Skip("full-text perplexity of every demo file takes minutes; set IQUANT_FULL_PPL=1 (results in bench/RESULTS-inference.md)");
        var failures = new List<string>();
        foreach (var (name, ik) in IkFullText)
        {
            var r = Run(TestPaths.RequireShared("models", $"iquant-demo-{name}.gguf"), 0);
            double rel = r.Ppl / ik.Ppl - 1;
            TestContext.Current.SendDiagnosticMessage($"{name}: {r.Ppl:F4} ± {r.Error:F4} (ik {ik.Ppl:F4}, {rel:P3})");
            if (Math.Abs(rel) > 0.005) failures.Add($"{name}: {r.Ppl:F4} vs ik {ik.Ppl:F4} ({rel:P2})");
            if (Math.Abs(r.Error / ik.Err - 1) > 0.02) failures.Add($"{name}: ± {r.Error:F4} vs ik {ik.Err:F4}");
        }
        Assert.Empty(failures);
    }

    [Fact]
    public void ScoresTheSecondHalfOfEachChunkWithBosFirst()
    {
        // A tiny random model: check the method's indexing against the naive graph.
        string dir = Directory.CreateTempSubdirectory("iquant-ppl-").FullName;
        try
        {
            string path = Path.Combine(dir, "m.gguf");
            SyntheticModel.Write(path, new SyntheticModelSpec { EmbeddingLength = 64, FeedForwardLength = 128, HeadCount = 2, HeadCountKv = 2, VocabSize = 300, WeightType = GgmlType.F32, WeightStd = 0.2f }, 1);
            using var m = LlamaModel.Load(path);
            using var f = GgufFile.Open(path);
            var naive = new NaiveLlama(f);
            var rnd = new Random(3);
            var tokens = Enumerable.Range(0, 37).Select(_ => rnd.Next(3, 300)).ToArray(); // 2 chunks of 16, 5 left over
            using var ctx = new InferenceContext(m, new InferenceOptions { ContextLength = 16, Threads = 1, KvCacheType = KvCacheType.F32 });
            var r = Perplexity.Compute(ctx, tokens, 16, 0, addBos: true, bosId: 1);
            Assert.Equal(2, r.Chunks);
            Assert.Equal(2 * 7, r.ScoredTokens);
            double nll = 0, nll2 = 0;
            for (int c = 0; c < 2; c++)
            {
                var chunk = tokens.AsSpan(c * 16, 16).ToArray();
                chunk[0] = 1;
                var logits = naive.Forward(chunk);
                for (int j = 8; j < 15; j++)
                {
                    var row = logits[j];
                    double max = row.Max();
                    double lse = Math.Log(row.Sum(x => Math.Exp(x - max))) + max;
                    double v = lse - row[tokens[c * 16 + j + 1]];
                    nll += v; nll2 += v * v;
                }
            }
            double mean = nll / 14;
            Assert.Equal(Math.Exp(mean), r.Ppl, 1e-3);
            double err = Math.Sqrt((nll2 / 14 - mean * mean) / 13) * Math.Exp(mean);
            Assert.Equal(err, r.Error, 1e-3);
        }
        finally { Directory.Delete(dir, true); }
    }
}
