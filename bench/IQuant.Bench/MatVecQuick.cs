using System.Diagnostics;
using System.Runtime.InteropServices;
using IQuant.Core.Kernels;
using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Bench;

/// <summary>
/// A quick, load-tolerant matmul timer (no BenchmarkDotNet): runs each case for ~1 s and reports the mean wall time,
/// the process CPU time ÷ threads, and the fastest single call per call (the last two are less distorted than the mean
/// wall time when the machine is shared).
/// Usage: dotnet run -c Release --project bench/IQuant.Bench -- matvec-quick [case;case...] [level]
/// </summary>
internal static unsafe class MatVecQuick
{
    public static void Run(string[] args)
    {
        var cases = args.Length > 1 ? args[1].Split(';') : MatVecBenchmarks.Cases.ToArray();
        var level = args.Length > 2 ? Enum.Parse<SimdLevel>(args[2], true) : SimdPolicy.Hardware;
        using var _ = SimdPolicy.Override(level);
        Console.WriteLine($"level {level}, {Environment.ProcessorCount} cpus");
        Console.WriteLine($"{"case",-22} {"wall ms",9} {"cpu ms",9} {"min ms",9} {"GB/s wall",10} {"GB/s cpu",9} {"GB/s min",9} {"Gmac/s min",11}");
        foreach (var c in cases)
        {
            var (type, cols, rows, nVec, threads) = MatVecBenchmarks.Parse(c);
            var info = TypeTable.Get(type);
            long rowBytes = info.RowSize(cols), bytes = rowBytes * rows;
            var w = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
            var rng = new Random(42);
            rng.NextBytes(new Span<byte>(w, checked((int)bytes)));
            if (type == GgmlType.F16 && Environment.GetEnvironmentVariable("IQUANT_BENCH_GAUSS") == "1")
            {
                // Weights like a model's (N(0, 0.02), so ~0.2 % subnormal halves) instead of random bit patterns.
                var h = new Span<ushort>(w, checked((int)(bytes / 2)));
                for (int i = 0; i < h.Length; i++)
                    h[i] = BitConverter.HalfToUInt16Bits((Half)(0.02 * BenchInputs.Gaussian(rng)));
            }
            for (int r = 0; r < rows; r++)
            {
                if (info.RowMetaBytes == 4) *(float*)(w + r * rowBytes) = 0.01f;
                if (info.RowMetaBytes == 2) *(ushort*)(w + r * rowBytes) = 0x2000;
            }
            var m = new WeightMatrix(type, cols, rows, w);
            var x = new float[cols * nVec];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() - 0.5);
            var y = new float[rows * nVec];
            using var pool = new ComputePool(threads);
            var warm = Stopwatch.StartNew();
            while (warm.ElapsedMilliseconds < 400) MatMul.Multiply(m, x, nVec, y, pool);   // let tiered JIT settle
            var proc = Process.GetCurrentProcess();
            var cpu0 = proc.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            int n = 0;
            long best = long.MaxValue;
            while (sw.ElapsedMilliseconds < 1000 || n < 3)
            {
                long t0 = Stopwatch.GetTimestamp();
                MatMul.Multiply(m, x, nVec, y, pool);
                best = Math.Min(best, Stopwatch.GetTimestamp() - t0);
                n++;
            }
            double wall = sw.Elapsed.TotalSeconds / n, min = (double)best / Stopwatch.Frequency;
            proc.Refresh();
            double cpu = (proc.TotalProcessorTime - cpu0).TotalSeconds / n / threads;
            Console.WriteLine($"{c,-22} {wall * 1e3,9:F3} {cpu * 1e3,9:F3} {min * 1e3,9:F3} {bytes / wall / 1e9,10:F2} {bytes / cpu / 1e9,9:F2} {bytes / min / 1e9,9:F2} {(double)cols * rows * nVec / min / 1e9,11:F1}");
            NativeMemory.AlignedFree(w);
        }
    }
}
