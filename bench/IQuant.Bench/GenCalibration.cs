using System.Diagnostics;
using IQuant.Core.Calibration;
using IQuant.Core.Inference;

namespace IQuant.Bench;

/// <summary>
/// <c>gen-calibration &lt;model&gt; &lt;out.txt&gt; [chunks=8] [context=512] [seed]</c>: writes text sampled from the model
/// (<see cref="GeneratedCalibration"/>), one chunk per paragraph, for experiments with probe calibration text.
/// </summary>
internal static class GenCalibration
{
    public static int Run(string[] args)
    {
        using var model = LlamaModel.Load(args[1]);
        int chunks = args.Length > 3 ? int.Parse(args[3]) : 8, context = args.Length > 4 ? int.Parse(args[4]) : 512;
        ulong seed = args.Length > 5 ? ulong.Parse(args[5]) : GeneratedCalibration.DefaultSeed;
        var sw = Stopwatch.StartNew();
        var tokens = GeneratedCalibration.Generate(model, chunks, context, seed);
        var parts = Enumerable.Range(0, chunks).Select(c => model.Tokenizer.Decode(tokens.Skip(c * context + 1).Take(context - 1)).Trim());
        File.WriteAllText(args[2], string.Join("\n\n", parts) + "\n");
        Console.WriteLine($"{tokens.Count} tokens in {sw.Elapsed.TotalSeconds:F1} s -> {args[2]}");
        return 0;
    }
}
