using IQuant.Core.Calibration;
using IQuant.Core.Gguf;
using IQuant.Core.Inference;
using IQuant.Core.Quantization;
using IQuant.Core.Types;

namespace IQuant.Core.Tests.Calibration;

/// <summary>
/// New-IQuantImatrix against ik_llama.cpp's llama-imatrix: shared/models/iquant-demo.imatrix was computed by
/// llama-imatrix -f calibration.txt -c 512 (146 chunks, 75k tokens: 15–60 s on two cores). The quantize-and-measure
/// part runs when IQUANT_FULL_IMATRIX=1 (result recorded in bench/RESULTS-mix.md).
/// </summary>
public sealed class ImatrixConformanceTests
{
    private static readonly Lazy<ImatrixResult> s_full = new(() => Compute(0));

    private static ImatrixResult Compute(int chunks)
    {
        using var m = LlamaModel.Load(TestPaths.DemoModel);
        var tok = m.Tokenizer;
        var ids = tok.Encode(File.ReadAllText(TestPaths.RequireShared("models", "calibration.txt")), tok.AddBosDefault, false);
        using var ctx = new InferenceContext(m, new InferenceOptions { ContextLength = 512, Threads = 2 });
        return ImatrixBuilder.Compute(ctx, ids, tok.AddBosDefault, tok.BosId,
            new ImatrixOptions { Context = 512, MaxChunks = chunks, ComputePerplexity = false, Dataset = "calibration.txt" });
    }

    [Fact]
    public void SameEntriesAndChunkingAsLlamaImatrix()
    {
        var reference = ImatrixFile.Load(TestPaths.RequireShared("models", "iquant-demo.imatrix"));
        var r = Compute(2);
        Assert.Equal(74754, r.Tokens);                       // 146 chunks of 512 (llama-imatrix: 146 calls)
        Assert.Equal(reference.Entries.Select(e => e.Name).Order(), r.Imatrix.Entries.Select(e => e.Name).Order());
        foreach (var e in reference.Entries)
        {
            var o = r.Imatrix.Find(e.Name)!;
            Assert.Equal(e.Values.Length, o.Values.Length);
            Assert.Equal(2, o.Calls);
        }
        Assert.Equal(146, reference.Chunks);
    }

    [Fact]
    public void FullCalibrationMatchesLlamaImatrix()
    {
        var reference = ImatrixFile.Load(TestPaths.RequireShared("models", "iquant-demo.imatrix"));
        var r = s_full.Value;
        Assert.Equal(146, r.Chunks);
        double worst = 0;
        foreach (var e in reference.Entries)
        {
            var o = r.Imatrix.Find(e.Name)!;
            Assert.Equal(e.Calls, o.Calls);
            var a = e.Weights(); var b = o.Weights();
            double num = 0, den = 0;
            for (int i = 0; i < a.Length; i++) { num += (a[i] - (double)b[i]) * (a[i] - (double)b[i]); den += (double)a[i] * a[i]; }
            worst = Math.Max(worst, Math.Sqrt(num / den));
        }
        Assert.True(worst < 0.01, $"largest relative L2 difference {worst:P4}");
        TestContext.Current.TestOutputHelper?.WriteLine($"largest per-entry relative L2 difference of the per-column means: {worst:E3}");
    }

    [Fact]
    public void QuantizingWithEitherMatrixGivesTheSamePerplexity()
    {
        if (Environment.GetEnvironmentVariable("IQUANT_FULL_IMATRIX") != "1")
            Assert.Skip("set IQUANT_FULL_IMATRIX=1 to quantize the demo model with both matrices and compare perplexities");
        var reference = ImatrixFile.Load(TestPaths.RequireShared("models", "iquant-demo.imatrix"));
        var r = s_full.Value;
        // Quantizing with either matrix: the IQ2_KS recipe (the most imatrix-sensitive) gives the same PPL within 0.2%.
        string dir = Directory.CreateTempSubdirectory("iquant-imc-").FullName;
        try
        {
            string ours = Path.Combine(dir, "ours.imatrix");
            r.Imatrix.SaveDat(ours);
            var ppl = new Dictionary<string, double>();
            long identical = 0, total = 0;
            using var src = GgufFile.Open(TestPaths.DemoModel);
            foreach (var (name, path) in new[] { ("shared", reference.Path), ("ours", ours) })
            {
                var im = ImatrixFile.Load(path);
                var plan = QuantizePlanner.ForRecipe(src, LlamaFileType.IQ2_KS, new RecipeOptions(), im);
                string outPath = Path.Combine(dir, name + ".gguf");
                ModelQuantizer.Run(src, plan, ModelQuantizer.BuildMetadata(src.Metadata, LlamaFileType.IQ2_KS, im), outPath,
                    new QuantizeSettings { Threads = 2 });
                using var m = LlamaModel.Load(outPath);
                var tok = m.Tokenizer;
                var ids = tok.Encode(File.ReadAllText(TestPaths.RequireShared("models", "eval-public.txt")), tok.AddBosDefault, false);
                using var ctx = new InferenceContext(m, new InferenceOptions { ContextLength = 512, Threads = 2 });
                ppl[name] = Perplexity.Compute(ctx, ids, 512, 0, tok.AddBosDefault, tok.BosId).Ppl;
            }
            using (var a = GgufFile.Open(Path.Combine(dir, "shared.gguf")))
            using (var b = GgufFile.Open(Path.Combine(dir, "ours.gguf")))
                foreach (var t in a.Tensors)
                {
                    total++;
                    if (a.GetTensorBytes(t).SequenceEqual(b.GetTensorBytes(b.FindTensor(t.Name)!))) identical++;
                }
            TestContext.Current.TestOutputHelper?.WriteLine($"IQ2_KS recipe: {identical} of {total} tensors byte-identical; PPL (eval-public.txt, full) shared {ppl["shared"]:F4}, ours {ppl["ours"]:F4}");
            Assert.True(Math.Abs(ppl["ours"] / ppl["shared"] - 1) < 0.002, $"PPL {ppl["ours"]} vs {ppl["shared"]}");
        }
        finally { Directory.Delete(dir, true); }
    }
}
