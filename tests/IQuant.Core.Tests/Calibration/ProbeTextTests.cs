using IQuant.Core.Calibration;
using IQuant.Core.Inference;

namespace IQuant.Core.Tests.Calibration;

/// <summary>The text sensitivity probes run on: chunks spread over a calibration text, or text sampled from the model.</summary>
public sealed class ProbeTextTests
{
    [Fact]
    public void SpreadChunks_TakesChunksEvenlyAcrossTheText()
    {
        var tokens = Enumerable.Range(0, 10 * 4 + 3).ToList();           // 10 whole chunks of 4 and a partial one
        var spread = MixPlanner.SpreadChunks(tokens, nCtx: 4, chunks: 3);
        // chunks 0, 3 (= 1·10/3) and 6 (= 2·10/3)
        Assert.Equal([0, 1, 2, 3, 12, 13, 14, 15, 24, 25, 26, 27], spread);
    }

    [Fact]
    public void SpreadChunks_ReturnsAllWhenTheTextHasNoMoreChunks()
    {
        var tokens = Enumerable.Range(0, 9).ToList();
        Assert.Same(tokens, MixPlanner.SpreadChunks(tokens, nCtx: 4, chunks: 2));
        Assert.Same(tokens, MixPlanner.SpreadChunks(tokens, nCtx: 4, chunks: 5));
    }

    [Fact]
    public void GeneratedCalibration_IsDeterministicStartsWithBosAndFollowsTheModel()
    {
        using var model = LlamaModel.Load(TestPaths.DemoModel);
        var tok = model.Tokenizer;
        const int chunks = 2, ctx = 48;
        var a = GeneratedCalibration.Generate(model, chunks, ctx, seed: 7, threads: 1);
        var b = GeneratedCalibration.Generate(model, chunks, ctx, seed: 7, threads: 2);
        var c = GeneratedCalibration.Generate(model, chunks, ctx, seed: 8, threads: 1);
        Assert.Equal(chunks * ctx, a.Count);
        Assert.Equal(a, b);                                   // same seed, any thread count: same text
        Assert.NotEqual(a, c);                                // another seed: another text
        for (int k = 0; k < chunks; k++)
        {
            Assert.Equal(tok.BosId, a[k * ctx]);
            Assert.DoesNotContain(tok.EosId, a.Skip(k * ctx + 1).Take(ctx - 1));
        }
        Assert.NotEqual(a.Take(ctx), a.Skip(ctx));            // each chunk is sampled anew

        // Sampled text is text the model predicts well: its perplexity is far below that of uniform random tokens.
        using var ctxEval = new InferenceContext(model, new InferenceOptions { ContextLength = ctx, Threads = 1 });
        double Nll(IReadOnlyList<int> t)
        {
            var logits = new float[ctx * model.Config.VocabSize];
            ctxEval.Evaluate(t.Take(ctx).ToArray(), 0, 0, logits);
            double s = 0;
            for (int i = 0; i < ctx - 1; i++)
            {
                var row = logits.AsSpan(i * model.Config.VocabSize, model.Config.VocabSize);
                float m = float.NegativeInfinity;
                foreach (var v in row) m = Math.Max(m, v);
                double z = 0;
                foreach (var v in row) z += Math.Exp(v - m);
                s += m + Math.Log(z) - row[t[i + 1]];
            }
            return s / (ctx - 1);
        }
        var rng = new Random(3);
        var random = new[] { tok.BosId }.Concat(Enumerable.Range(0, ctx - 1).Select(_ => rng.Next(3, model.Config.VocabSize))).ToList();
        Assert.True(Math.Exp(Nll(a)) < Math.Exp(Nll(random)) / 10, $"sampled PPL {Math.Exp(Nll(a)):F1}, random PPL {Math.Exp(Nll(random)):F1}");
    }
}

/// <summary>Type calibration: each type's perplexity change per unit of KL-divergence, shrunk by its noise.</summary>
public sealed class TypeFactorTests
{
    private static MixTypeMeasure M(double kld, double ln, double err) => new() { Kld = kld, LnPplRatio = ln, LnPplRatioError = err, Tokens = 1000 };

    [Fact]
    public void TypeFactors_ScaleByPerplexityPerKld_ShrinkNoisyTypes_AndClamp()
    {
        var a = new MixAnalysis
        {
            Key = "k", Tensors = [], Sensitivity = "probes",
            TypeMeasures = new()
            {
                [Types.GgmlType.IQ2_KS] = M(0.040, 0.056, 0.0010),     // r = 1.4, z = 56
                [Types.GgmlType.IQ4_KS] = M(0.0016, 0.0021, 0.0002),   // r = 1.3125, z = 10.5
                [Types.GgmlType.IQ4_K] = M(0.0013, 0.0025, 0.0002),    // r = 1.923, z = 12.5
                [Types.GgmlType.Q8_0] = M(0.00002, 0.0001, 0.0001),    // z = 1: noise, gets the pooled ratio
                [Types.GgmlType.IQ2_K] = M(0.025, 0.035, 0.0010),      // r = 1.4
                [Types.GgmlType.IQ6_K] = M(0.0002, 0.002, 0.0002),     // r = 10: clamped to 2× the pooled ratio
            },
        };
        var f = MixPlanner.TypeFactors(a);
        double pooled = (0.056 + 0.0021 + 0.0025 + 0.035 + 0.002) / (0.040 + 0.0016 + 0.0013 + 0.025 + 0.0002);   // Q8_0 (z = 1) left out
        double Expect(double kld, double ln, double err)
        {
            double z = ln / err, w = 1 - 4 / (z * z);
            return Math.Clamp((pooled + w * (ln / kld - pooled)) / pooled, 0.5, 2.0);
        }
        Assert.Equal(Expect(0.0016, 0.0021, 0.0002), f[Types.GgmlType.IQ4_KS], 12);
        Assert.Equal(Expect(0.0013, 0.0025, 0.0002), f[Types.GgmlType.IQ4_K], 12);
        Assert.True(f[Types.GgmlType.IQ4_K] > 1.2 * f[Types.GgmlType.IQ4_KS]);
        Assert.Equal(1.0, f[Types.GgmlType.Q8_0], 12);
        Assert.Equal(2.0, f[Types.GgmlType.IQ6_K], 12);
    }

    [Fact]
    public void TypeFactors_EmptyWithoutTypeCalibration()
    {
        var a = new MixAnalysis { Key = "k", Tensors = [], Sensitivity = "probes" };
        Assert.Empty(MixPlanner.TypeFactors(a));
    }
}
