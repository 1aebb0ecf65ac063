using IQuant.Core.Inference;

namespace IQuant.Core.Tests.Inference;

public sealed class SamplerTests
{
    private static float[] Logits(int n, int seed)
    {
        var r = new Random(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float)(r.NextDouble() * 8 - 4);
        return v;
    }

    [Fact]
    public void TheSameSeedGivesTheSameSequence()
    {
        var logits = Logits(1000, 1);
        var o = new SamplingOptions { Temperature = 1.2f, TopK = 0, TopP = 1, MinP = 0, Seed = 1234 };
        var a = new Sampler(1000, o);
        var b = new Sampler(1000, o);
        var sa = Enumerable.Range(0, 200).Select(_ => a.Sample(logits, [])).ToArray();
        var sb = Enumerable.Range(0, 200).Select(_ => b.Sample(logits, [])).ToArray();
        Assert.Equal(sa, sb);
        Assert.True(sa.Distinct().Count() > 20, "a hot sampler should spread");
        var c = new Sampler(1000, o with { Seed = 99 });
        Assert.NotEqual(sa, Enumerable.Range(0, 200).Select(_ => c.Sample(logits, [])).ToArray());
        Assert.Equal(1234UL, a.Seed);
    }

    [Fact]
    public void TemperatureZeroIsArgMax()
    {
        var logits = Logits(5000, 2);
        int best = Array.IndexOf(logits, logits.Max());
        var s = new Sampler(5000, SamplingOptions.Greedy);
        Assert.Equal(best, s.Sample(logits, []));
        var k1 = new Sampler(5000, new SamplingOptions { TopK = 1, Seed = 3 });
        for (int i = 0; i < 20; i++) Assert.Equal(best, k1.Sample(logits, []));
    }

    [Fact]
    public void TopKAndTopPAndMinPRestrictTheCandidates()
    {
        float[] logits = [5f, 4f, 3f, 0f, -10f];
        var k2 = new Sampler(5, new SamplingOptions { TopK = 2, TopP = 1, MinP = 0, Temperature = 5, Seed = 1 });
        var seen = Enumerable.Range(0, 400).Select(_ => k2.Sample(logits, [])).ToHashSet();
        Assert.Equal(new HashSet<int> { 0, 1 }, seen);
        // softmax(5,4,3,0,-10) ≈ .665 .245 .090 .004 ..: top-p 0.8 keeps tokens 0 and 1
        var p = new Sampler(5, new SamplingOptions { TopK = 0, TopP = 0.8f, MinP = 0, Temperature = 5, Seed = 1 });
        Assert.Equal(new HashSet<int> { 0, 1 }, Enumerable.Range(0, 400).Select(_ => p.Sample(logits, [])).ToHashSet());
        // min-p 0.2: p_i ≥ 0.2·p_max ⇔ logit ≥ 5 + ln 0.2 = 3.39: tokens 0 and 1
        var m = new Sampler(5, new SamplingOptions { TopK = 0, TopP = 1, MinP = 0.2f, Temperature = 5, Seed = 1 });
        Assert.Equal(new HashSet<int> { 0, 1 }, Enumerable.Range(0, 400).Select(_ => m.Sample(logits, [])).ToHashSet());
    }

    [Fact]
    public void RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits()
    {
        float[] logits = [3f, 2.5f, -1f, -1.2f];
        var g = new Sampler(4, new SamplingOptions { Temperature = 0, RepeatPenalty = 1.5f, RepeatLastN = 8 });
        Assert.Equal(0, g.Sample(logits, []));
        Assert.Equal(1, g.Sample(logits, [0]));          // 3/1.5 = 2 < 2.5
        Assert.Equal(1, g.Sample(logits, [0, 0, 0]));    // once per distinct token
        Assert.Equal(0, g.Sample(logits, [0, 9, 9, 9, 9, 9, 9, 9, 9])); // 0 is outside the last 8
        float[] neg = [-1f, -1.2f];
        var h = new Sampler(2, new SamplingOptions { Temperature = 0, RepeatPenalty = 1.5f });
        Assert.Equal(1, h.Sample(neg, [0]));             // -1·1.5 = -1.5 < -1.2
    }

    [Fact]
    public void SamplesFollowTheDistribution()
    {
        float[] logits = [MathF.Log(0.5f), MathF.Log(0.3f), MathF.Log(0.2f)];
        var s = new Sampler(3, new SamplingOptions { Temperature = 1, TopK = 0, TopP = 1, MinP = 0, Seed = 5 });
        var counts = new int[3];
        for (int i = 0; i < 20000; i++) counts[s.Sample(logits, [])]++;
        Assert.InRange(counts[0] / 20000.0, 0.48, 0.52);
        Assert.InRange(counts[1] / 20000.0, 0.28, 0.32);
        Assert.InRange(counts[2] / 20000.0, 0.18, 0.22);
    }
}
