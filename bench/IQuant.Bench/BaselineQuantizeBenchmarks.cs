using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Bench;

/// <summary>
/// Baseline ggml types, one thread, a deterministic 1024 × 4096 N(0, 0.02) f32 matrix (16.78 MB), like the ik_llama.cpp
/// figures in shared/vectors/README.md. The "MB/s" column is MB (10^6 bytes) of f32 data (input of quantize, output of
/// dequantize) per second.
/// Run: <c>dotnet run -c Release --project bench/IQuant.Bench -- --filter '*BaselineQuantize*' --job short</c>
/// </summary>
[Config(typeof(MBpsConfig))]
public class BaselineQuantizeBenchmarks
{
    private const int Rows = 1024, Cols = 4096;

    private float[] _x = [];
    private float[] _im = [];
    private float[] _out = [];
    private byte[] _q8 = [], _q4k = [], _q6k = [], _iq4nl = [], _f16 = [];

    /// <summary>MB of f32 data per operation.</summary>
    public const double MegabytesPerOp = Rows * (double)Cols * 4 / 1e6;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(20261127);
        _x = new float[Rows * Cols];
        for (int i = 0; i < _x.Length; i++)
        {
            // Box–Muller, σ = 0.02
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            _x[i] = (float)(0.02 * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        _im = new float[Cols];
        for (int j = 0; j < Cols; j++) _im[j] = (float)(0.1 + 2 * rng.NextDouble());
        _out = new float[_x.Length];
        _q8 = Quant(GgmlType.Q8_0, false);
        _q4k = Quant(GgmlType.Q4_K, false);
        _q6k = Quant(GgmlType.Q6_K, false);
        _iq4nl = Quant(GgmlType.IQ4_NL, false);
        _f16 = Quant(GgmlType.F16, false);
    }

    private byte[] Quant(GgmlType t, bool imatrix)
    {
        var codec = Codecs.Get(t);
        var y = new byte[Rows * codec.Info.RowSize(Cols)];
        RowQuantizer.Quantize(codec, _x, Cols, imatrix ? _im : [], y, threads: 1);
        return y;
    }

    private void Dequant(GgmlType t, byte[] q) => RowQuantizer.Dequantize(Codecs.Get(t), q, Cols, _out, threads: 1);

    [Benchmark] public byte[] Quantize_Q8_0() => Quant(GgmlType.Q8_0, false);
    [Benchmark] public byte[] Quantize_Q4_K() => Quant(GgmlType.Q4_K, false);
    [Benchmark] public byte[] Quantize_Q4_K_Imatrix() => Quant(GgmlType.Q4_K, true);
    [Benchmark] public byte[] Quantize_Q6_K() => Quant(GgmlType.Q6_K, false);
    [Benchmark] public byte[] Quantize_IQ4_NL() => Quant(GgmlType.IQ4_NL, false);
    [Benchmark] public byte[] Quantize_IQ4_NL_Imatrix() => Quant(GgmlType.IQ4_NL, true);
    [Benchmark] public void Dequantize_F16() => Dequant(GgmlType.F16, _f16);
    [Benchmark] public void Dequantize_Q8_0() => Dequant(GgmlType.Q8_0, _q8);
    [Benchmark] public void Dequantize_Q4_K() => Dequant(GgmlType.Q4_K, _q4k);
    [Benchmark] public void Dequantize_Q6_K() => Dequant(GgmlType.Q6_K, _q6k);
    [Benchmark] public void Dequantize_IQ4_NL() => Dequant(GgmlType.IQ4_NL, _iq4nl);

    private sealed class MBpsConfig : ManualConfig
    {
        public MBpsConfig() => AddColumn(new MBpsColumn());
    }

    /// <summary>MB of f32 data per second, from the mean time per operation.</summary>
    private sealed class MBpsColumn : IColumn
    {
        public string Id => "MBps";
        public string ColumnName => "MB/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "MB (10^6 bytes) of f32 data per second";
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var r = summary[benchmarkCase];
            if (r?.ResultStatistics is not { } s) return "-";
            return (MegabytesPerOp / (s.Mean / 1e9)).ToString("F1");
        }
    }
}
