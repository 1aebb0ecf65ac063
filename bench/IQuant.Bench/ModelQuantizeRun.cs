using System.Diagnostics;
using IQuant.Core.Gguf;
using IQuant.Core.Quantization;
using IQuant.Core.Types;

namespace IQuant.Bench;

/// <summary>
/// Whole-model quantization, one run per process so the peak working set belongs to that run alone:
/// <c>dotnet run -c Release --project bench/IQuant.Bench -- quantize-model &lt;model|synthetic-f32|synthetic-f16&gt; &lt;FTYPE&gt; [threads]</c>.
/// Prints wall time, output size and the process's peak working set (which includes mapped file pages).
/// </summary>
public static class ModelQuantizeRun
{
    public static int Run(string[] args)
    {
        string model = args[1] switch
        {
            "synthetic-f32" => SyntheticModel.EnsureCached(SyntheticShape.Llama084B, GgmlType.F32),
            "synthetic-f16" => SyntheticModel.EnsureCached(SyntheticShape.Llama084B, GgmlType.F16),
            var p => p,
        };
        var ftype = Enum.Parse<LlamaFileType>(args[2], ignoreCase: true);
        int threads = args.Length > 3 ? int.Parse(args[3]) : 0;
        var outPath = Path.Combine(Path.GetTempPath(), $"iquant-bench-out-{Environment.ProcessId}.gguf");
        var sw = Stopwatch.StartNew();
        QuantizeFileResult r;
        long largest;
        using (var src = GgufFile.Open(model))
        {
            largest = src.Tensors.Max(t => t.Elements) * 4;   // the largest tensor as f32
            var plan = QuantizePlanner.ForRecipe(src, ftype, new RecipeOptions(), null);
            var meta = ModelQuantizer.BuildMetadata(src.Metadata, ftype, null);
            r = ModelQuantizer.Run(src, plan, meta, outPath, new QuantizeSettings { Threads = threads, Overwrite = true, MeasureError = false });
        }
        sw.Stop();
        var peak = Process.GetCurrentProcess().PeakWorkingSet64;
        Console.WriteLine($"model={Path.GetFileName(model)} size={new FileInfo(model).Length / 1e9:0.00}GB ftype={ftype} threads={(threads == 0 ? Environment.ProcessorCount : threads)} " +
                          $"time={sw.Elapsed.TotalSeconds:0.00}s out={r.FileSize / 1e9:0.000}GB bpw={r.Bpw:0.000} peakWS={peak / 1048576.0:0}MiB " +
                          $"largestTensorF32={largest / 1048576.0:0}MiB bound(3x+256MiB)={(3 * largest + (256L << 20)) / 1048576.0:0}MiB");
        File.Delete(outPath);
        return peak <= 3 * largest + (256L << 20) ? 0 : 3;
    }
}
