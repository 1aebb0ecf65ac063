using System.Diagnostics;
using IQuant.Core.Quants;
using IQuant.Core.Types;

// CPU-time (not wall-clock) MB/s of f32 input per thread, for a shared, overloaded machine where wall-clock
// benchmarks mostly measure the other tenants. Same data as KsQuantizeBenchmarks (N(0, 0.02), 4096 columns).
// Usage: DOTNET_TieredCompilation=0 dotnet run -c Release --project bench/KsCpuTime -- [types] [rows] [reps]
// (TieredCompilation=0 so that short runs measure fully optimised code.)
int rows = args.Length > 1 ? int.Parse(args[1]) : 64, n = 4096;
int reps = args.Length > 2 ? int.Parse(args[2]) : 5;
var rng = new Random(20261127);
var x = new float[rows * n];
for (int i = 0; i < x.Length; i++)
{
    double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
    x[i] = (float)(0.02 * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
}
var im = new float[n];
for (int j = 0; j < n; j++) im[j] = (float)(0.05 + rng.NextDouble() * rng.NextDouble() * 4);
var keys = (args.Length > 0 ? args[0] : "iq2_ks,iq2_ks-scalar,iq3_ks,iq4_ks,iq5_ks,iq4_kss,iq2_kl").Split(',');

QuantCodec Codec(string key)
{
    var parts = key.Split('-', 2);
    var type = TypeTable.Parse(parts[0]).Type;
    return (parts.Length == 2 ? Codecs.TryGet(type, parts[1]) : Codecs.TryGet(type)) ?? throw new NotSupportedException(key);
}

double Cpu() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

Console.WriteLine($"SIMD level {SimdPolicy.Current}; {rows} x {n} f32; best of {reps}; MB of f32 per CPU-second, one thread");
foreach (var key in keys)
{
    var codec = Codec(key);
    var dst = new byte[rows * codec.Info.RowSize(n)];
    var res = new List<string>();
    foreach (bool useIm in new[] { false, true })
    {
        RowQuantizer.Quantize(codec, x.AsSpan(0, 2 * n), n, useIm ? im : [], dst, 1);
        double s = double.MaxValue;
        for (int rep = 0; rep < reps; rep++)
        {
            double c0 = Cpu();
            RowQuantizer.Quantize(codec, x, n, useIm ? im : [], dst, 1);
            s = Math.Min(s, Cpu() - c0);
        }
        res.Add($"{x.Length * 4 / 1e6 / s,7:F1}");
    }
    var y = new float[x.Length];
    double sd = double.MaxValue;
    for (int rep = 0; rep < reps; rep++)
    {
        double c1 = Cpu();
        for (int r = 0; r < 40; r++) RowQuantizer.Dequantize(codec, dst, n, y, 1);
        sd = Math.Min(sd, Cpu() - c1);
    }
    Console.WriteLine($"{key,-14} quantize {res[0]} MB/s, with imatrix {res[1]} MB/s, dequantize {40 * x.Length * 4 / 1e6 / sd,8:F1} MB/s");
}
