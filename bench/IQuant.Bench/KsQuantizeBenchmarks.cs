using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Bench;

/// <summary>
/// KS-family quantize throughput on one thread (RowQuantizer.Quantize, threads: 1), with and without an imatrix,
/// on a deterministic 1024 × 4096 N(0, 0.02) matrix — the setup of ik_llama.cpp's figures in tests/vectors/README.md.
/// "IQ2_KS" is the default (ik AVX2-path) encoder, "IQ2_KS-scalar" the scalar reference encoder.
/// The MB/s column is MB (10^6 bytes) of f32 input per second.
/// Run: dotnet run -c Release --project bench/IQuant.Bench -- --filter '*Ks*' --job short
/// </summary>
[Config(typeof(KsBenchConfig))]
public class KsQuantizeBenchmarks
{
    private QuantCodec _codec = null!;
    private float[] _x = null!;
    private float[] _im = null!;
    private byte[] _q = null!;

    /// <summary>Type (and encoder variant) to quantize to.</summary>
    [Params("IQ2_KS", "IQ2_KS-scalar", "IQ3_KS", "IQ4_KS", "IQ5_KS", "IQ4_KSS", "IQ2_KL")]
    public string Type { get; set; } = "IQ4_KS";

    /// <summary>Quantize with importance weights.</summary>
    [Params(false, true)]
    public bool Imatrix { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _codec = KsBenchData.Codec(Type);
        (_x, _im) = KsBenchData.Matrix();
        _q = new byte[KsBenchData.Rows * _codec.Info.RowSize(KsBenchData.Cols)];
    }

    [Benchmark]
    public void Quantize() =>
        RowQuantizer.Quantize(_codec, _x, KsBenchData.Cols, Imatrix ? _im : [], _q, threads: 1);
}

/// <summary>KS-family dequantize throughput on one thread (MB/s = MB of f32 output per second).</summary>
[Config(typeof(KsBenchConfig))]
public class KsDequantizeBenchmarks
{
    private QuantCodec _codec = null!;
    private byte[] _q = null!;
    private float[] _y = null!;

    /// <summary>Type to dequantize from.</summary>
    [Params("IQ2_KS", "IQ3_KS", "IQ4_KS", "IQ5_KS", "IQ4_KSS", "IQ2_KL")]
    public string Type { get; set; } = "IQ4_KS";

    [GlobalSetup]
    public void Setup()
    {
        _codec = KsBenchData.Codec(Type);
        var (x, _) = KsBenchData.Matrix();
        _q = new byte[KsBenchData.Rows * _codec.Info.RowSize(KsBenchData.Cols)];
        RowQuantizer.Quantize(_codec, x, KsBenchData.Cols, [], _q, threads: 0);
        _y = new float[x.Length];
    }

    [Benchmark]
    public void Dequantize() => RowQuantizer.Dequantize(_codec, _q, KsBenchData.Cols, _y, threads: 1);
}

/// <summary>The benchmark matrix: 1024 rows × 4096 columns, N(0, 0.02), and an imatrix of positive weights.</summary>
internal static class KsBenchData
{
    public const int Rows = 1024, Cols = 4096;

    /// <summary>Bytes of f32 data in the matrix (the MB/s numerator).</summary>
    public const double Bytes = 4.0 * Rows * Cols;

    /// <summary>"IQ2_KS" → default codec, "IQ2_KS-scalar" → the named variant.</summary>
    public static QuantCodec Codec(string name)
    {
        var parts = name.Split('-', 2);
        var type = Enum.Parse<GgmlType>(parts[0]);
        return parts.Length == 2
            ? Codecs.TryGet(type, parts[1]) ?? throw new NotSupportedException(name)
            : Codecs.Get(type);
    }

    public static (float[] X, float[] Im) Matrix()
    {
        var rng = new Random(20261127);
        var x = new float[Rows * Cols];
        for (int i = 0; i < x.Length; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            x[i] = (float)(0.02 * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        var im = new float[Cols];
        for (int j = 0; j < Cols; j++) im[j] = (float)(0.05 + rng.NextDouble() * rng.NextDouble() * 4);
        return (x, im);
    }
}

/// <summary>Adds the MB/s column.</summary>
public sealed class KsBenchConfig : ManualConfig
{
    public KsBenchConfig() => AddColumn(new KsMegabytesPerSecondColumn());
}

/// <summary>MB (10^6 bytes) of f32 data per second: 4·1024·4096 bytes / mean time.</summary>
public sealed class KsMegabytesPerSecondColumn : IColumn
{
    public string Id => "KsMBps";
    public string ColumnName => "MB/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "MB (1e6 bytes) of f32 input (quantize) or output (dequantize) per second, one thread";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var stats = summary[benchmarkCase]?.ResultStatistics;
        return stats is null ? "-" : (KsBenchData.Bytes / stats.Mean * 1e3).ToString("F1");
    }
}
