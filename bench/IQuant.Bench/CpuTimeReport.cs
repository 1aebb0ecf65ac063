using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Bench;

/// <summary>
/// Per-thread CPU-time quantize/dequantize throughput (MB of f32 per CPU-second) at the scalar and the hardware SIMD
/// level: on a shared, overloaded machine wall-clock benchmarks mostly measure the other tenants, while thread CPU
/// time compares fairly with ik_llama.cpp's idle-machine figures.
/// <c>dotnet run -c Release --project bench/IQuant.Bench -- cputime IQ4_KS,IQ2_KS,iq2_ks-scalar 256</c>
/// </summary>
public static class CpuTimeReport
{
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct TimeSpec { public long Sec, Nsec; }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec t);

    private static readonly System.Diagnostics.Stopwatch s_wall = System.Diagnostics.Stopwatch.StartNew();

    /// <summary>CPU seconds of the calling thread (Linux), else wall-clock seconds.</summary>
    private static double ThreadSeconds()
    {
        if (OperatingSystem.IsLinux() && ClockGetTime(3 /* CLOCK_THREAD_CPUTIME_ID */, out var t) == 0) return t.Sec + t.Nsec * 1e-9;
        return s_wall.Elapsed.TotalSeconds;
    }

    /// <summary>Entry point for <c>cputime [TYPES] [ROWS]</c>; a type may name an encoder variant, e.g. iq2_ks-scalar.</summary>
    public static void Run(string[] args)
    {
        var types = args.Length > 0 ? args[0].Split(',') : ["IQ2_K", "IQ2_KS", "IQ3_K", "IQ3_KS", "IQ4_K", "IQ4_KS", "IQ5_K", "IQ5_KS", "IQ6_K", "Q8_0", "Q4_K", "Q6_K", "IQ4_NL"];
        int rows = args.Length > 1 ? int.Parse(args[1]) : 256;
        const int cols = 4096;
        var (x, im) = BenchInputs.Weights(rows, cols);
        double mb = x.Length * 4.0 / 1e6;
        Console.WriteLine($"per-thread CPU time, {rows} x {cols} N(0,0.02) f32 ({mb:F2} MB); MB/s of f32 data; hardware SIMD level {SimdPolicy.Hardware}");
        Console.WriteLine("| type | level | quantize | quantize (imatrix) | dequantize |");
        Console.WriteLine("|---|---|---:|---:|---:|");
        foreach (var name in types)
        {
            var codec = BenchInputs.Codec(name);
            var y = new byte[rows * codec.Info.RowSize(cols)];
            var z = new float[x.Length];
            bool takesIm = codec.Info.Kind == TypeKind.Quantized && codec.Type != GgmlType.Q8_0;
            foreach (var level in new[] { SimdLevel.Scalar, SimdPolicy.Hardware }.Distinct())
            {
                using var _ = SimdPolicy.Override(level);
                string Measure(Action op, double minSeconds)
                {
                    op();
                    double t0 = ThreadSeconds(), t; long reps = 0;
                    do { op(); reps++; t = ThreadSeconds() - t0; } while (t < minSeconds);
                    return (reps * mb / t).ToString("F1");
                }
                string q = Measure(() => RowQuantizer.Quantize(codec, x, cols, [], y, threads: 1), 0.5);
                string qi = takesIm ? Measure(() => RowQuantizer.Quantize(codec, x, cols, im, y, threads: 1), 0.5) : "–";
                RowQuantizer.Quantize(codec, x, cols, [], y, threads: 1);
                string d = Measure(() => RowQuantizer.Dequantize(codec, y, cols, z, threads: 1), 0.2);
                Console.WriteLine($"| {name} | {level} | {q} | {qi} | {d} |");
            }
        }
    }
}

/// <summary>
/// Wall-clock quantize/dequantize throughput of a 4096-column matrix with all threads (RowQuantizer's row-parallel
/// driver): <c>dotnet run -c Release --project bench/IQuant.Bench -- throughput IQ4_KS,IQ2_KS 4096 2</c>.
/// </summary>
public static class ThroughputReport
{
    public static void Run(string[] args)
    {
        var types = args.Length > 0 ? args[0].Split(',') : ["IQ2_K", "IQ2_KS", "IQ3_K", "IQ3_KS", "IQ4_K", "IQ4_KS"];
        int rows = args.Length > 1 ? int.Parse(args[1]) : 4096;
        int threads = args.Length > 2 ? int.Parse(args[2]) : Environment.ProcessorCount;
        const int cols = 4096;
        var (x, im) = BenchInputs.Weights(rows, cols);
        double mb = x.Length * 4.0 / 1e6;
        Console.WriteLine($"wall clock, {rows} x {cols} N(0,0.02) f32 ({mb:F0} MB), {threads} threads, SIMD level {SimdPolicy.Hardware}");
        Console.WriteLine("| type | quantize MB/s | quantize (imatrix) MB/s | dequantize GB/s |");
        Console.WriteLine("|---|---:|---:|---:|");
        foreach (var name in types)
        {
            var codec = BenchInputs.Codec(name);
            var y = new byte[rows * codec.Info.RowSize(cols)];
            var z = new float[x.Length];
            RowQuantizer.Quantize(codec, x.AsSpan(0, 64 * cols), cols, [], y, threads); // warm up (JIT)
            var sw = System.Diagnostics.Stopwatch.StartNew();
            RowQuantizer.Quantize(codec, x, cols, [], y, threads);
            double q = mb / sw.Elapsed.TotalSeconds;
            sw.Restart();
            RowQuantizer.Quantize(codec, x, cols, im, y, threads);
            double qi = mb / sw.Elapsed.TotalSeconds;
            RowQuantizer.Dequantize(codec, y, cols, z, threads);
            sw.Restart();
            for (int r = 0; r < 5; r++) RowQuantizer.Dequantize(codec, y, cols, z, threads);
            double d = 5 * mb / 1000 / sw.Elapsed.TotalSeconds;
            Console.WriteLine($"| {name} | {q:F1} | {qi:F1} | {d:F2} |");
        }
    }
}

/// <summary>Inputs shared by the throughput reports.</summary>
internal static class BenchInputs
{
    /// <summary>rows × cols N(0, 0.02) weights and an importance vector in [0.1, 2.1), fixed seed.</summary>
    public static (float[] X, float[] Imatrix) Weights(int rows, int cols)
    {
        var rng = new Random(20261127);
        var x = new float[(long)rows * cols];
        for (long i = 0; i < x.Length; i++) x[i] = (float)(0.02 * Gaussian(rng));
        var im = new float[cols];
        for (int j = 0; j < cols; j++) im[j] = (float)(0.1 + 2 * rng.NextDouble());
        return (x, im);
    }

    /// <summary>A standard normal deviate (Box–Muller).</summary>
    public static double Gaussian(Random rng) => Math.Sqrt(-2 * Math.Log(1.0 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    /// <summary>The codec of "TYPE" or "TYPE-variant" (e.g. iq2_ks-scalar).</summary>
    public static QuantCodec Codec(string name)
    {
        var parts = name.Split('-', 2);
        var type = TypeTable.Parse(parts[0]).Type;
        return (parts.Length == 2 ? Codecs.TryGet(type, parts[1]) : Codecs.TryGet(type)) ?? throw new NotSupportedException(name);
    }
}
