using IQuant.Core.Calibration;

namespace IQuant.Core.Tests.Calibration;

/// <summary>llama-perplexity's KL-divergence statistics on hand-computed cases.</summary>
public sealed class KlDivergenceTests
{
    private static ushort[] Encode(float[] logits, int token, out double nll)
    {
        var row = new ushort[LogitsBaseFile.RowValues(logits.Length)];
        nll = LogitsBaseFile.EncodeRow(logits, token, row);
        return row;
    }

    private static double Kl(float[] p, float[] q)
    {
        double Lse(float[] x) { double m = x.Max(); return m + Math.Log(x.Sum(v => Math.Exp(v - m))); }
        double lp = Lse(p), lq = Lse(q), s = 0;
        for (int i = 0; i < p.Length; i++) s += Math.Exp(p[i] - lp) * ((p[i] - lp) - (q[i] - lq));
        return s;
    }

    [Fact]
    public void RowLayoutAndNll()
    {
        Assert.Equal(4 + 4, LogitsBaseFile.RowValues(3));      // 2·⌈3/2⌉ + 4
        Assert.Equal(4 + 4, LogitsBaseFile.RowValues(4));
        Assert.Equal(255, LogitsBaseFile.ScoredPerChunk(512));
        float[] logits = [1f, 2f, 3f, 0f];
        var row = Encode(logits, 2, out double nll);
        double lse = Math.Log(Math.Exp(1) + Math.Exp(2) + Math.Exp(3) + Math.Exp(0));
        Assert.Equal(lse - 3, nll, 5);
        float s = BitConverter.Int32BitsToSingle(row[0] | row[1] << 16);
        float minLogProb = BitConverter.Int32BitsToSingle(row[2] | row[3] << 16);
        Assert.Equal(3f / 65535f, s, 9);                     // (max − min) / 65535 with min = 0
        Assert.Equal((float)(0 - lse), minLogProb, 5);
        Assert.Equal(0, row[4 + 3]);                         // the minimum maps to 0
        Assert.Equal(65535, row[4 + 2]);                     // the maximum to 65535
        Assert.Equal(LogitsBaseFile.NearestInt(1f / s * 2f), row[4 + 1]);     // logit 2 of [0, 3]
        Assert.Equal(0, row[^1]);                            // padding
    }

    [Fact]
    public void LogitsBelowMaxMinus24AreClamped()
    {
        float[] logits = [30f, 0f, 5f, 29f];
        var row = Encode(logits, 0, out _);
        Assert.Equal(0, row[4 + 1]);                         // 0 < 30 − 24: stored as the floor
        Assert.Equal(0, row[4 + 2]);                         // 5 < 6: likewise
        Assert.Equal(65535, row[4 + 0]);
    }

    [Fact]
    public void NearestIntRoundsHalfToEven()
    {
        Assert.Equal(2, LogitsBaseFile.NearestInt(2.5f));
        Assert.Equal(4, LogitsBaseFile.NearestInt(3.5f));
        Assert.Equal(3, LogitsBaseFile.NearestInt(2.6f));
        Assert.Equal(-2, LogitsBaseFile.NearestInt(-2.4f));
        Assert.Equal(65535, LogitsBaseFile.NearestInt(65535f));
    }

    [Fact]
    public void IdenticalDistributionsGiveZeroKld()
    {
        var acc = new KlAccumulator();
        float[] logits = [0.5f, -1f, 2f, 0f, 1.5f];
        acc.Add(logits, Encode(logits, 3, out _), 3);
        Assert.InRange(acc.Klds[0], -1e-4, 1e-4);           // only the 16-bit rounding of the reference remains
        var r = acc.Result(1, 4, TimeSpan.Zero);
        Assert.Equal(1.0, r.SameTop);
        Assert.Equal(r.ReferencePpl, r.Ppl, 4);
    }

    [Fact]
    public void KldMatchesTheDefinition()
    {
        float[] p = [2f, 1f, 0f, -1f];
        float[] q = [1f, 1.5f, 0.5f, -2f];
        var acc = new KlAccumulator();
        acc.Add(q, Encode(p, 1, out double nllBase), 1);
        Assert.Equal(Kl(p, q), acc.Klds[0], 4);
        var r = acc.Result(1, 4, TimeSpan.Zero);
        Assert.Equal(0.0, r.SameTop);                        // argmax 0 vs 1
        double lq = Math.Log(q.Sum(v => Math.Exp(v)));
        Assert.Equal(Math.Exp(lq - 1.5), r.Ppl, 4);          // PPL of one token = 1/p(token)
        Assert.Equal(Math.Exp(nllBase), r.ReferencePpl, 3);
        double pq = Math.Exp(1.5 - lq), pp = Math.Exp(-nllBase);
        Assert.Equal(pq - pp, r.MeanDeltaP, 4);
        Assert.Equal(Math.Abs(pq - pp), r.RmsDeltaP, 4);
    }

    [Fact]
    public void TokensBelowTheProbabilityFloorAreIgnored()
    {
        // The reference gives token 1 log-probability ≈ −20 (< −16): it does not contribute, as in llama-perplexity.
        float[] p = [0f, -20f];
        float[] q = [0f, 0f];
        var acc = new KlAccumulator();
        acc.Add(q, Encode(p, 0, out _), 0);
        double pBase = 1 / (1 + Math.Exp(-20));
        Assert.Equal(pBase * (Math.Log(pBase) - Math.Log(0.5)), acc.Klds[0], 4);
    }

    [Fact]
    public void StatisticsHelpers()
    {
        // mean_and_uncertainty: mean, and sqrt(var/(n−1)) only for n > 10.
        var (m, e) = KlAccumulator.MeanAndUncertainty(10, 30, 5);
        Assert.Equal(2, m);
        Assert.Equal(0, e);
        double[] v = Enumerable.Range(1, 11).Select(i => (double)i).ToArray();
        (m, e) = KlAccumulator.MeanAndUncertainty(v.Sum(), v.Sum(x => x * x), 11);
        Assert.Equal(6, m);
        Assert.Equal(Math.Sqrt(10.0 / 10), e, 12);           // population variance 10, n − 1 = 10
        float[] sorted = [1f, 2f, 3f, 4f];
        Assert.Equal(2.5f, KlAccumulator.Median(sorted));
        Assert.Equal(3f, KlAccumulator.Median([1f, 3f, 7f]));
        Assert.Equal(1f, KlAccumulator.Percentile(sorted, 0f));
        Assert.Equal(4f, KlAccumulator.Percentile(sorted, 1f));
        Assert.Equal(3.97f, KlAccumulator.Percentile(sorted, 0.99f), 5); // 0.99·3 = 2.97 → 3 + 0.97·(4 − 3)
        Assert.Equal(1.3f, KlAccumulator.Percentile(sorted, 0.1f), 5);
        Assert.Equal(0, KlAccumulator.Covariance(1, 1, 1, 9));
    }

    [Fact]
    public void ResultAggregatesSeveralPositions()
    {
        var acc = new KlAccumulator();
        var rng = new Random(5);
        double sum = 0;
        var klds = new List<double>();
        for (int t = 0; t < 40; t++)
        {
            var p = Enumerable.Range(0, 8).Select(_ => (float)(rng.NextDouble() * 4)).ToArray();
            var q = p.Select(x => x + (float)(rng.NextDouble() - 0.5)).ToArray();
            acc.Add(q, Encode(p, t % 8, out _), t % 8);
            klds.Add(Kl(p, q)); sum += klds[^1];
        }
        var r = acc.Result(2, 42, TimeSpan.Zero);
        Assert.Equal(40, r.Count);
        Assert.Equal(sum / 40, r.MeanKld, 4);
        var s = klds.Order().ToList();
        Assert.Equal((s[19] + s[20]) / 2, r.MedianKld, 4);
        Assert.Equal(s[^1], r.MaxKld, 4);
        Assert.True(r.MeanKldError > 0);
        Assert.InRange(r.SameTop, 0, 1);
        Assert.Equal(Math.Exp(Math.Log(r.Ppl) - Math.Log(r.ReferencePpl)), r.PplRatio, 9);
    }

    [Fact]
    public void ReferenceFileRoundTrip()
    {
        string dir = Directory.CreateTempSubdirectory("iquant-kld-").FullName;
        try
        {
            string model = Path.Combine(dir, "m.gguf");
            IQuant.Core.Inference.SyntheticModel.Write(model, new IQuant.Core.Inference.SyntheticModelSpec
            { EmbeddingLength = 64, FeedForwardLength = 128, HeadCount = 2, HeadCountKv = 2, VocabSize = 300, ContextLength = 64, WeightType = Types.GgmlType.F32, WeightStd = 0.1f }, threads: 1);
            using var m = IQuant.Core.Inference.LlamaModel.Load(model);
            using var ctx = new IQuant.Core.Inference.InferenceContext(m, new() { ContextLength = 32, Threads = 1 });
            var tokens = Enumerable.Range(0, 100).Select(i => 3 + (i * 37) % 290).ToArray();
            string refPath = Path.Combine(dir, "ref.logits");
            var pr = KlDivergence.WriteReference(ctx, tokens, 32, 0, true, 1, refPath);
            Assert.Equal(3, pr.Chunks);
            var f = LogitsBaseFile.ReadHeader(refPath);
            Assert.Equal((32, 300, 3), (f.Context, f.VocabSize, f.Chunks));
            Assert.Equal(tokens.Take(96), f.Tokens);             // the text's tokens, BOS not substituted
            Assert.Equal(f.ExpectedLength, new FileInfo(refPath).Length);
            // The same model against its own reference: KLD ≈ 0 (16-bit rounding), same top everywhere, same PPL.
            var r = KlDivergence.Compare(ctx, f, true, 1);
            Assert.Equal(3 * 15, r.Count);
            Assert.True(r.MeanKld < 1e-6, r.MeanKld.ToString());
            Assert.Equal(1.0, r.SameTop);
            Assert.Equal(pr.Ppl, r.ReferencePpl, 3);
            Assert.Equal(pr.Ppl, r.Ppl, 9);
            // A truncated file is refused.
            var bytes = File.ReadAllBytes(refPath);
            File.WriteAllBytes(refPath, bytes[..^10]);
            Assert.Equal("LogitsFileTruncated", Assert.Throws<LogitsFileException>(() => LogitsBaseFile.ReadHeader(refPath)).ErrorId);
            File.WriteAllBytes(refPath, [.. "_logitz_"u8.ToArray(), .. bytes[8..]]);
            Assert.Equal("LogitsFileBadMagic", Assert.Throws<LogitsFileException>(() => LogitsBaseFile.ReadHeader(refPath)).ErrorId);
        }
        finally { Directory.Delete(dir, true); }
    }
}
