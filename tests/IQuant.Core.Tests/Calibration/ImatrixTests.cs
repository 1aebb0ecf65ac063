using IQuant.Core.Calibration;
using IQuant.Core.Gguf;
using IQuant.Core.Inference;
using IQuant.Core.Quantization;
using IQuant.Core.Types;

namespace IQuant.Core.Tests.Calibration;

/// <summary>The imatrix computation (llama-imatrix's collect/save arithmetic, chunking and BOS) and its file formats.</summary>
public sealed class ImatrixTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("iquant-imx-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    [Fact]
    public void CollectorStoresMeanTimesCalls()
    {
        var c = new ImatrixBuilder.Collector(minRows: 16, processOutput: false);
        var a = new float[20 * 4];
        for (int i = 0; i < a.Length; i++) a[i] = (i % 4) + 1 + i / 4 * 0.5f;     // row r, column j: j + 1 + r/2
        c.Observe(0, ActivationSite.Attention, a, 20, 4);
        c.Observe(0, ActivationSite.Attention, a.AsSpan(0, 16 * 4), 16, 4);
        c.Observe(0, ActivationSite.Attention, a.AsSpan(0, 15 * 4), 15, 4);    // < 16 rows: ignored, as llama-imatrix
        c.Observe(-1, ActivationSite.Output, a, 20, 4);                         // output: only with process-output
        var im = c.ToImatrix(1, chunks: 2, "text.txt");
        Assert.Equal(["blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight"], im.Entries.Select(e => e.Name));
        Assert.Equal(2, im.Chunks);
        Assert.Equal("text.txt", im.Dataset);
        foreach (var e in im.Entries)
        {
            Assert.Equal(2, e.Calls);
            for (int j = 0; j < 4; j++)
            {
                double sum = 0;
                for (int r = 0; r < 20; r++) sum += Math.Pow(j + 1 + r * 0.5, 2);
                for (int r = 0; r < 16; r++) sum += Math.Pow(j + 1 + r * 0.5, 2);
                Assert.Equal(sum / 36 * 2, e.Values[j], 3);
                Assert.Equal(sum / 36, e.Weights()[j], 3);                        // what llama-quantize uses
            }
        }
        var withOutput = new ImatrixBuilder.Collector(16, processOutput: true);
        withOutput.Observe(-1, ActivationSite.Output, a, 20, 4);
        Assert.Equal("output.weight", Assert.Single(withOutput.ToImatrix(1, 1, null).Entries).Name);
    }

    [Fact]
    public void CollectorRefusesNonFiniteActivations()
    {
        var c = new ImatrixBuilder.Collector(1, false);
        Assert.Throws<InvalidOperationException>(() => c.Observe(0, ActivationSite.FeedForwardDown, [float.NaN, 1f], 1, 2));
    }

    private string Model()
    {
        string p = Path.Combine(_dir, "m.gguf");
        SyntheticModel.Write(p, new SyntheticModelSpec
        {
            EmbeddingLength = 64, FeedForwardLength = 128, HeadCount = 2, HeadCountKv = 1, BlockCount = 2, VocabSize = 300,
            ContextLength = 128, WeightType = GgmlType.F32, WeightStd = 0.1f,
        }, threads: 1);
        return p;
    }

    [Fact]
    public void ComputesLlamaImatrixOnAModel()
    {
        string path = Model();
        using var m = LlamaModel.Load(path);
        using var ctx = new InferenceContext(m, new InferenceOptions { ContextLength = 32, Threads = 1 });
        var tokens = Enumerable.Range(0, 100).Select(i => 3 + (i * 53) % 290).ToArray();
        var r = ImatrixBuilder.Compute(ctx, tokens, addBos: true, bosId: 1, new ImatrixOptions { Context = 32, Dataset = "t.txt" });
        Assert.Equal(3, r.Chunks);                                                // 100 / 32, the tail unused
        Assert.Equal(14, r.Imatrix.Entries.Count);                                // 7 matrices × 2 blocks
        Assert.All(r.Imatrix.Entries, e => Assert.Equal(3, e.Calls));
        Assert.True(r.Ppl > 1 && double.IsFinite(r.Ppl));

        // Block 0's attention input is RMSNorm(embedding) · attn_norm: recompute it for every chunk, its first token BOS.
        using var f = GgufFile.Open(path);
        var emb = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(f.GetTensorBytes(f.FindTensor("token_embd.weight")!)).ToArray();
        var g = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(f.GetTensorBytes(f.FindTensor("blk.0.attn_norm.weight")!)).ToArray();
        var expect = new double[64];
        for (int c = 0; c < 3; c++)
            for (int t = 0; t < 32; t++)
            {
                int tok = t == 0 ? 1 : tokens[c * 32 + t];
                double ss = 0;
                for (int j = 0; j < 64; j++) ss += emb[tok * 64 + j] * emb[tok * 64 + j];
                double s = 1 / Math.Sqrt(ss / 64 + 1e-5);
                for (int j = 0; j < 64; j++) expect[j] += Math.Pow(emb[tok * 64 + j] * s * g[j], 2);
            }
        var q = r.Imatrix.Find("blk.0.attn_q.weight")!.Weights();
        for (int j = 0; j < 64; j++) Assert.Equal(expect[j] / 96, q[j], 4);
        Assert.Equal(q, r.Imatrix.Find("blk.0.attn_v.weight")!.Weights());
        Assert.Equal(64, r.Imatrix.Find("blk.1.attn_output.weight")!.Values.Length);
        Assert.Equal(128, r.Imatrix.Find("blk.1.ffn_down.weight")!.Values.Length);

        // -Chunks, batches smaller than 16 rows, and the observer being detached afterwards.
        var two = ImatrixBuilder.Compute(ctx, tokens, true, 1, new ImatrixOptions { Context = 32, MaxChunks = 2, ComputePerplexity = false });
        Assert.Equal(2, two.Chunks);
        Assert.True(double.IsNaN(two.Ppl));
        Assert.Null(ctx.ActivationObserver);
        using var small = new InferenceContext(m, new InferenceOptions { ContextLength = 32, BatchSize = 8, Threads = 1 });
        var none = ImatrixBuilder.Compute(small, tokens, true, 1, new ImatrixOptions { Context = 32 });
        Assert.Empty(none.Imatrix.Entries);
    }

    [Fact]
    public void DatAndGgufRoundTrip()
    {
        var im = new ImatrixFile
        {
            Entries = [new ImatrixEntry("blk.0.ffn_down.weight", 146, [1.5f, 292f, 0.25f]), new ImatrixEntry("blk.0.attn_q.weight", 146, [3f, 4f])],
            Chunks = 146, Dataset = "calibration.txt",
        };
        string dat = Path.Combine(_dir, "a.imatrix"), gguf = Path.Combine(_dir, "a.imatrix.gguf");
        im.SaveDat(dat);
        ImatrixWriter.SaveGguf(im, gguf, 512);
        foreach (var p in new[] { dat, gguf })
        {
            var back = ImatrixFile.Load(p);
            Assert.Equal(146, back.Chunks);
            Assert.Equal("calibration.txt", back.Dataset);
            foreach (var e in im.Entries)
            {
                var b = back.Find(e.Name)!;
                Assert.Equal(e.Calls, b.Calls);
                Assert.Equal(e.Weights(), b.Weights());
            }
        }
        using (var g = GgufFile.Open(gguf))
        {
            Assert.Equal("imatrix", g.GetString("general.type"));
            Assert.Equal(512u, g.GetUInt32("imatrix.chunk_size"));
            var sums = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(g.GetTensorBytes(g.FindTensor("blk.0.attn_q.weight.in_sum2")!)).ToArray();
            Assert.Equal([3f * 512, 4f * 512], sums);                             // Σa² (values · rows per call)
            var counts = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(g.GetTensorBytes(g.FindTensor("blk.0.attn_q.weight.counts")!)).ToArray();
            Assert.Equal([146f * 512], counts);                                   // rows
        }
        // Chunks of 1024 evaluated in batches of 512: the mainline layout with chunk_size 1024; weights unchanged.
        ImatrixWriter.SaveGguf(im, gguf, 1024, rowsPerCall: 512);
        var big = ImatrixFile.Load(gguf);
        Assert.Equal(73, big.Find("blk.0.attn_q.weight")!.Calls);
        Assert.Equal(im.Entries[1].Weights(), big.Find("blk.0.attn_q.weight")!.Weights());
    }
}
