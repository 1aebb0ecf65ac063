using IQuant.Core.Gguf;
using IQuant.Core.Inference;
using IQuant.Core.Types;

namespace IQuant.Core.Tests.Inference;

/// <summary>The forward pass against <see cref="NaiveLlama"/> on small random models of each architecture.</summary>
public sealed class ForwardTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("iquant-fwd-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private string Write(SyntheticModelSpec spec, string name)
    {
        string p = Path.Combine(_dir, name + ".gguf");
        SyntheticModel.Write(p, spec with { WeightStd = 0.08f, ContextLength = 64 }, threads: 1);
        return p;
    }

    public static TheoryData<string> Archs => new() { "llama-gqa", "llama-tied-freqs", "qwen2", "qwen3" };

    private static SyntheticModelSpec SpecFor(string name) => name switch
    {
        "llama-gqa" => new() { Architecture = "llama", EmbeddingLength = 128, FeedForwardLength = 256, HeadCount = 4, HeadCountKv = 2, VocabSize = 300, WeightType = GgmlType.F32 },
        "llama-tied-freqs" => new()
        {
            Architecture = "llama", EmbeddingLength = 128, FeedForwardLength = 256, HeadCount = 2, HeadCountKv = 1, VocabSize = 300,
            WeightType = GgmlType.F32, TiedOutput = true, RopeFreqBase = 500000f,
            RopeFreqFactors = Enumerable.Range(0, 32).Select(i => 1f + i * 0.5f).ToArray(),
        },
        "qwen2" => new() { Architecture = "qwen2", EmbeddingLength = 128, FeedForwardLength = 256, HeadCount = 4, HeadCountKv = 2, VocabSize = 300, WeightType = GgmlType.F32, QkvBias = true, RopeFreqBase = 1000000f },
        "qwen3" => new() { Architecture = "qwen3", EmbeddingLength = 128, FeedForwardLength = 256, HeadCount = 4, HeadCountKv = 2, HeadDim = 64, VocabSize = 300, WeightType = GgmlType.F32, QkNorm = true },
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Archs))]
    public void MatchesTheNaiveGraph(string arch)
    {
        string path = Write(SpecFor(arch), arch);
        using var model = LlamaModel.Load(path);
        using var f = GgufFile.Open(path);
        var naive = new NaiveLlama(f);
        int[] tokens = [1, 17, 290, 5, 42, 99, 3, 250, 7, 7, 123, 64];
        var expected = naive.Forward(tokens);
        foreach (int threads in new[] { 1, 2 })
        {
            using var ctx = new InferenceContext(model, new InferenceOptions { ContextLength = 32, Threads = threads, KvCacheType = KvCacheType.F32, BatchSize = 5 });
            var logits = new float[tokens.Length * ctx.VocabSize];
            ctx.Evaluate(tokens, 0, 0, logits);
            for (int t = 0; t < tokens.Length; t++)
                AssertClose(expected[t], logits.AsSpan(t * ctx.VocabSize, ctx.VocabSize), $"{arch}, {threads} threads, position {t}");
        }
    }

    [Theory]
    [MemberData(nameof(Archs))]
    public void OneTokenAtATimeEqualsTheBatch(string arch)
    {
        string path = Write(SpecFor(arch), arch);
        using var model = LlamaModel.Load(path);
        int[] tokens = [1, 8, 80, 280, 11, 12, 13, 200];
        using var a = new InferenceContext(model, new InferenceOptions { ContextLength = 16, Threads = 2, KvCacheType = KvCacheType.F16 });
        var batch = new float[tokens.Length * a.VocabSize];
        a.Evaluate(tokens, 0, 0, batch);
        using var b = new InferenceContext(model, new InferenceOptions { ContextLength = 16, Threads = 1, KvCacheType = KvCacheType.F16 });
        for (int t = 0; t < tokens.Length; t++)
        {
            var row = b.EvaluateLast(tokens.AsSpan(t, 1), t);
            AssertClose(batch.AsSpan(t * a.VocabSize, a.VocabSize).ToArray(), row, $"{arch} position {t}", 1e-4f);
        }
    }

    [Theory]
    [InlineData(KvCacheType.F16)]
    [InlineData(KvCacheType.F32)]
    public void ScalarAndSimdAttentionAgree(KvCacheType kv)
    {
        using var model = LlamaModel.Load(Write(SpecFor("llama-gqa"), "llama-simd"));
        int[] tokens = [1, 8, 80, 280, 11, 12, 13, 200, 9, 10];
        float[] Run(IQuant.Core.Quants.SimdLevel level)
        {
            using var _ = IQuant.Core.Quants.SimdPolicy.Override(level);
            using var ctx = new InferenceContext(model, new InferenceOptions { ContextLength = 16, Threads = 1, KvCacheType = kv });
            var logits = new float[tokens.Length * ctx.VocabSize];
            ctx.Evaluate(tokens, 0, 0, logits);
            return logits;
        }
        var scalar = Run(IQuant.Core.Quants.SimdLevel.Scalar);
        var simd = Run(IQuant.Core.Quants.SimdPolicy.Hardware);
        AssertClose(scalar, simd, $"KV {kv}", 1e-4f);
    }

    [Fact]
    public void ReadsTheHyperParameters()
    {
        string path = Write(SpecFor("qwen3"), "qwen3");
        using var f = GgufFile.Open(path);
        var c = ModelConfig.FromGguf(f);
        Assert.Equal("qwen3", c.Architecture);
        Assert.Equal(RopeKind.Neox, c.RopeKind);
        Assert.Equal(64, c.HeadDimK);
        Assert.Equal(2, c.GqaRatio);
        Assert.Equal(64, c.RopeDimensions);
        Assert.Equal(300, c.VocabSize);
        using var demo = GgufFile.Open(TestPaths.DemoModel);
        var d = ModelConfig.FromGguf(demo);
        Assert.Equal(("llama", 256, 6, 4, 4, 768, 512, 4096, 64, RopeKind.Normal), (d.Architecture, d.EmbeddingLength, d.BlockCount, d.HeadCount, d.HeadCountKv, d.FeedForwardLength, d.ContextLength, d.VocabSize, d.RopeDimensions, d.RopeKind));
        Assert.Equal(1e-5f, d.RmsEpsilon);
    }

    [Fact]
    public void AnUnknownArchitectureIsNamedInTheError()
    {
        string path = Write(SpecFor("llama-gqa") with { Architecture = "falcon" }, "falcon");
        var ex = Assert.Throws<NotSupportedException>(() => LlamaModel.Load(path));
        Assert.Contains("'falcon'", ex.Message);
        Assert.Contains("llama, qwen2, qwen3", ex.Message);
    }

    [Fact]
    public void TiedOutputUsesTheEmbeddingTable()
    {
        using var m = LlamaModel.Load(Write(SpecFor("llama-tied-freqs"), "tied"));
        Assert.True(m.TiedOutput);
        Assert.NotNull(m.RopeFreqFactors);
        using var demo = LlamaModel.Load(TestPaths.DemoModel);
        Assert.False(demo.TiedOutput);
    }

    [Fact]
    public void RejectsPositionsBeyondTheContext()
    {
        using var m = LlamaModel.Load(TestPaths.DemoModel);
        using var ctx = new InferenceContext(m, new InferenceOptions { ContextLength = 8, Threads = 1 });
        Assert.Throws<ArgumentException>(() => ctx.EvaluateLast(new int[4], 6));
        Assert.Throws<ArgumentOutOfRangeException>(() => ctx.EvaluateLast([5000], 0));
    }

    internal static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what, float tol = 2e-3f)
    {
        Assert.Equal(expected.Length, actual.Length);
        float scale = 0;
        foreach (var e in expected) scale = Math.Max(scale, Math.Abs(e));
        for (int i = 0; i < expected.Length; i++)
            if (Math.Abs(expected[i] - actual[i]) > tol * Math.Max(1f, scale))
                Assert.Fail($"{what}: logit {i} is {actual[i]}, expected {expected[i]} (max |logit| {scale})");
    }
}
