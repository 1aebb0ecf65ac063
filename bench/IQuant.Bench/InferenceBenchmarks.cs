using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using IQuant.Core.Gguf;
using IQuant.Core.Inference;
using IQuant.Core.Quantization;
using IQuant.Core.Types;

namespace IQuant.Bench;

/// <summary>
/// Token generation (tg) and prompt processing (pp) speed of the inference engine, as llama-bench measures them:
/// pp = one batch of N prompt tokens from an empty cache; tg = N tokens decoded one by one from an empty cache.
/// Models: the demo model (F16 and quantized reference files from the shared folder) and a synthetic ~0.84 B llama
/// (n_embd 2048, n_ff 5632, 16 layers, 32 heads, 4 KV heads, vocab 32000; random weights written in F16 by
/// the bench's SyntheticModel in F32, then quantized by IQuant with llama-quantize's recipes to F16 / Q8_0 / IQ4_KS / IQ2_KS).
/// The files are cached in $TMPDIR/iquant-bench.
/// BenchmarkDotNet: <c>dotnet run -c Release --project bench/IQuant.Bench -- --filter '*InferenceBenchmarks*'</c>.
/// Quick table (llama-bench style, what bench/RESULTS-inference.md records):
/// <c>dotnet run -c Release --project bench/IQuant.Bench -- inference [models] [threads] [pp] [tg] [reps]</c>.
/// </summary>
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 3, invocationCount: 1)]
public class InferenceBenchmarks
{
    /// <summary>Model key: demo-F16, demo-IQ4_KS, demo-IQ2_KS, synth-F16, synth-Q8_0, synth-IQ4_KS, synth-IQ2_KS.</summary>
    [Params("demo-F16", "demo-IQ4_KS", "synth-Q8_0", "synth-IQ4_KS")]
    public string Model { get; set; } = "demo-F16";

    /// <summary>Compute threads.</summary>
    [Params(1, 2)]
    public int Threads { get; set; } = 1;

    private LlamaModel? _model;
    private InferenceContext? _ctx;
    private int[] _prompt = [];

    [GlobalSetup]
    public void Setup()
    {
        _model = LlamaModel.Load(InferenceBench.Resolve(Model));
        _ctx = new InferenceContext(_model, new InferenceOptions { ContextLength = 512, Threads = Threads });
        _prompt = InferenceBench.RandomTokens(128, _model.Config.VocabSize, 1);
    }

    [GlobalCleanup]
    public void Cleanup() { _ctx?.Dispose(); _model?.Dispose(); }

    /// <summary>Prompt processing of 64 tokens.</summary>
    [Benchmark]
    public float PromptProcessing64() => InferenceBench.Prompt(_ctx!, _prompt.AsSpan(0, 64));

    /// <summary>Generation of 16 tokens.</summary>
    [Benchmark]
    public float TokenGeneration16() => InferenceBench.Generate(_ctx!, _prompt.AsSpan(0, 16));
}

/// <summary>Helpers and the quick llama-bench style runner.</summary>
public static class InferenceBench
{
    /// <summary>Shared reference folder (IQUANT_SHARED or /work/shared).</summary>
    public static string Shared => Environment.GetEnvironmentVariable("IQUANT_SHARED") is { Length: > 0 } s ? s : "/work/shared";

    /// <summary>Where the quantized synthetic files go (beside the F32 source of <see cref="SyntheticModel.EnsureCached"/>).</summary>
    public static string SyntheticDir => Path.Combine(Path.GetTempPath(), "iquant-bench");

    /// <summary>Path of a model key (creating synthetic files on first use).</summary>
    public static string Resolve(string key)
    {
        if (key.StartsWith("demo-", StringComparison.Ordinal))
        {
            string t = key["demo-".Length..];
            return Path.Combine(Shared, "models", $"iquant-demo-{(t == "F16" ? "f16" : t)}.gguf");
        }
        if (key.StartsWith("synth-", StringComparison.Ordinal)) return EnsureSynthetic(key["synth-".Length..]);
        return key;
    }

    /// <summary>
    /// The ~0.84 B synthetic llama (n_embd 2048, n_ff 5632, 16 layers, 32 heads, 4 KV heads, vocab 32000, N(0, 0.02)
    /// weights in F32, as in shared/models/README.md) quantized by IQuant with llama-quantize's recipe for
    /// <paramref name="ftype"/> (F16, Q8_0, IQ4_KS, IQ2_KS, ...); written on first use and cached.
    /// </summary>
    public static string EnsureSynthetic(string ftype)
    {
        string f32 = SyntheticModel.EnsureCached(SyntheticShape.Llama084B, GgmlType.F32);
        string outPath = Path.Combine(SyntheticDir, $"synthetic-2048x16-{ftype.ToLowerInvariant()}-recipe.gguf");
        if (File.Exists(outPath)) return outPath;
        var ft = Enum.Parse<LlamaFileType>(ftype, ignoreCase: true);
        using var src = GgufFile.Open(f32);
        var plan = QuantizePlanner.ForRecipe(src, ft, new RecipeOptions(), null);
        var md = ModelQuantizer.BuildMetadata(src.Metadata, ft, null);
        var sw = Stopwatch.StartNew();
        Console.Error.WriteLine($"quantizing {Path.GetFileName(f32)} to {ftype} ...");
        ModelQuantizer.Run(src, plan, md, outPath, new QuantizeSettings { Overwrite = true, MeasureError = false });
        Console.Error.WriteLine($"  {sw.Elapsed.TotalSeconds:F1} s");
        return outPath;
    }

    /// <summary>Deterministic random token ids.</summary>
    public static int[] RandomTokens(int n, int vocab, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => r.Next(3, vocab)).ToArray();
    }

    /// <summary>Evaluates <paramref name="tokens"/> as one prompt from an empty cache; returns a logit (to keep the work alive).</summary>
    public static float Prompt(InferenceContext ctx, ReadOnlySpan<int> tokens) => ctx.EvaluateLast(tokens, 0)[0];

    /// <summary>Decodes <paramref name="tokens"/> one at a time from an empty cache (what llama-bench's tg test does).</summary>
    public static float Generate(InferenceContext ctx, ReadOnlySpan<int> tokens)
    {
        float s = 0;
        for (int i = 0; i < tokens.Length; i++) s += ctx.EvaluateLast(tokens.Slice(i, 1), i)[0];
        return s;
    }

    /// <summary>
    /// <c>inference [keys=demo-F16,demo-IQ4_KS,demo-IQ2_KS,synth-F16,synth-Q8_0,synth-IQ4_KS,synth-IQ2_KS] [threads=1,2] [pp=64] [tg=32] [reps=2]</c>:
    /// prints a markdown table of pp and tg tokens/s (mean over reps after one warm-up), wall clock and per CPU second.
    /// </summary>
    public static void Quick(string[] args)
    {
        var keys = (args.Length > 0 ? args[0] : "demo-F16,demo-IQ4_KS,demo-IQ2_KS,synth-F16,synth-Q8_0,synth-IQ4_KS,synth-IQ2_KS").Split(',');
        var threads = (args.Length > 1 ? args[1] : "1,2").Split(',').Select(int.Parse).ToArray();
        int pp = args.Length > 2 ? int.Parse(args[2]) : 64;
        int tg = args.Length > 3 ? int.Parse(args[3]) : 32;
        int reps = args.Length > 4 ? int.Parse(args[4]) : 2;
        Console.WriteLine($"| model | size | threads | pp{pp} t/s | tg{tg} t/s | tg ceiling t/s | pp{pp} t/s per CPU-s | tg{tg} t/s per CPU-s |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        var bandwidth = threads.Distinct().ToDictionary(t => t, MeasureBandwidth);
        foreach (var key in keys)
        {
            string path = Resolve(key);
            using var model = LlamaModel.Load(path);
            long weightBytes = model.WeightBytesPerToken;
            var tokens = RandomTokens(Math.Max(pp, tg), model.Config.VocabSize, 7);
            foreach (int t in threads)
            {
                using var ctx = new InferenceContext(model, new InferenceOptions { ContextLength = Math.Max(512, pp + tg), Threads = t, BatchSize = Math.Max(pp, 1) });
                var (ppWall, ppCpu) = Time(() => Prompt(ctx, tokens.AsSpan(0, pp)), reps);
                var (tgWall, tgCpu) = Time(() => Generate(ctx, tokens.AsSpan(0, tg)), reps);
                double ceiling = bandwidth[t] / weightBytes;
                Console.WriteLine($"| {key} | {weightBytes / 1048576.0:F0} MiB | {t} | {pp / ppWall:F1} | {tg / tgWall:F2} | {ceiling:F1} | {pp / ppCpu:F1} | {tg / tgCpu:F2} |");
            }
        }
        Console.WriteLine($"\nmemory bandwidth (streaming read of 512 MiB per thread): {string.Join(", ", bandwidth.Select(b => $"{b.Key} thread(s) {b.Value / 1e9:F1} GB/s"))}; tg ceiling = bandwidth at the row's thread count / bytes of weights per token");
    }

    private static (double Wall, double Cpu) Time(Action a, int reps)
    {
        // Warm-up until the JIT has had time to move the hot methods to tier 1 (at least 3 runs and 2 s).
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < 3 || warm.Elapsed.TotalSeconds < 2; i++) a();
        var proc = Process.GetCurrentProcess();
        double wall = 0, cpu = 0;
        for (int i = 0; i < reps; i++)
        {
            proc.Refresh();
            var c0 = proc.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            a();
            wall += sw.Elapsed.TotalSeconds;
            proc.Refresh();
            cpu += (proc.TotalProcessorTime - c0).TotalSeconds;
        }
        return (wall / reps, cpu / reps);
    }

    /// <summary>Bytes per second of plain streaming reads (each thread sums its own 512 MiB array at once), best of 3.</summary>
    public static unsafe double MeasureBandwidth(int threads)
    {
        const long n = 512L << 20;
        var bufs = Enumerable.Range(0, threads).Select(_ =>
        {
            var b = GC.AllocateUninitializedArray<byte>((int)n, pinned: true);
            new Span<byte>(b).Fill(1);
            return b;
        }).ToArray();
        double best = 0;
        for (int rep = 0; rep < 3; rep++)
        {
            using var start = new Barrier(threads);
            var times = new double[threads];
            var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
            {
                start.SignalAndWait();
                var sw = Stopwatch.StartNew();
                var v = System.Numerics.Vector<long>.Zero;
                fixed (byte* p = bufs[t])
                {
                    var pv = (System.Numerics.Vector<long>*)p;
                    long count = n / System.Numerics.Vector<byte>.Count;
                    for (long i = 0; i < count; i += 4) v += pv[i] + pv[i + 1] + pv[i + 2] + pv[i + 3];
                }
                times[t] = sw.Elapsed.TotalSeconds;
                if (v[0] == 42) Console.Write("");
            })).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());
            best = Math.Max(best, threads * n / times.Max());
        }
        return best;
    }
}
