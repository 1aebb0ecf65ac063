using IQuant.Core.Gguf;
using IQuant.Core.Quantization;
using IQuant.Core.Types;

namespace IQuant.Core.Tests.Quantization;

/// <summary>
/// Issue 4's conformance: quantizing the demo model with each ftype recipe, with and without the shared imatrix,
/// gives every tensor the type and the bytes of the file ik_llama.cpp's llama-quantize made.
/// </summary>
public class ModelConformanceTests
{
    public static TheoryData<string, bool> Cases()
    {
        var td = new TheoryData<string, bool>();
        foreach (var ft in new[] { "IQ2_K", "IQ2_KS", "IQ3_K", "IQ3_KS", "IQ4_K", "IQ4_KS" })
            foreach (var im in new[] { false, true }) td.Add(ft, im);
        return td;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Recipe_MatchesLlamaQuantize(string ftypeName, bool withImatrix)
    {
        var reference = TestPaths.RequireShared("models", $"iquant-demo-{ftypeName}{(withImatrix ? "-im" : "")}.gguf");
        var ftype = Enum.Parse<LlamaFileType>(ftypeName);
        ImatrixFile? imatrix = withImatrix ? ImatrixFile.Load(TestPaths.RequireShared("models", "iquant-demo.imatrix")) : null;
        var dir = Directory.CreateTempSubdirectory("iquant-conf-");
        try
        {
            var outPath = Path.Combine(dir.FullName, "out.gguf");
            using (var src = GgufFile.Open(TestPaths.DemoModel))
            {
                var plan = QuantizePlanner.ForRecipe(src, ftype, new RecipeOptions(), imatrix);
                var meta = ModelQuantizer.BuildMetadata(src.Metadata, ftype, imatrix);
                ModelQuantizer.Run(src, plan, meta, outPath, new QuantizeSettings { MeasureError = false });
            }
            using var ours = GgufFile.Open(outPath);
            using var theirs = GgufFile.Open(reference);
            Assert.Equal((uint)ftype, Convert.ToUInt32(ours.FindMetadata("general.file_type")!.Value));
            Assert.Equal(Convert.ToUInt32(theirs.FindMetadata("general.file_type")!.Value), Convert.ToUInt32(ours.FindMetadata("general.file_type")!.Value));
            Assert.Equal(2u, Convert.ToUInt32(ours.FindMetadata("general.quantization_version")!.Value));
            Assert.Equal(theirs.Tensors.Select(t => t.Name), ours.Tensors.Select(t => t.Name));
            var mismatches = new List<string>();
            foreach (var t in theirs.Tensors)
            {
                var o = ours.FindTensor(t.Name)!;
                if (o.Type != t.Type) { mismatches.Add($"{t.Name}: type {o.Type}, reference {t.Type}"); continue; }
                Assert.Equal(t.Shape, o.Shape);
                var a = ours.GetTensorBytes(o);
                var b = theirs.GetTensorBytes(t);
                if (!a.SequenceEqual(b))
                {
                    int i = 0; while (a[i] == b[i]) i++;
                    mismatches.Add($"{t.Name} ({t.Type}): bytes differ first at {i} (row {i / t.RowSize})");
                }
            }
            Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
            if (withImatrix)
            {
                Assert.Equal(imatrix!.Entries.Count, Convert.ToInt32(ours.FindMetadata("quantize.imatrix.entries_count")!.Value));
                Assert.Equal(Convert.ToInt32(theirs.FindMetadata("quantize.imatrix.entries_count")!.Value),
                    Convert.ToInt32(ours.FindMetadata("quantize.imatrix.entries_count")!.Value));
            }
        }
        finally { dir.Delete(recursive: true); }
    }
}
