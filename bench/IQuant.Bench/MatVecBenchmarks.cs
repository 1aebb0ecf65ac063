using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using IQuant.Core.Kernels;
using IQuant.Core.Types;

namespace IQuant.Bench;

/// <summary>
/// Matrix × activations on quantized weights (IQuant.Core.Kernels.MatMul). Case = "TYPE SHAPE vN tT": SHAPE "sq" =
/// 4096×4096, "ffn" = 2048 inputs × 5632 outputs (ffn_up/gate of a 1B llama), or COLSxROWS; N activation rows, T threads. Weights are random bytes
/// (any bit pattern is a valid block; the speed does not depend on the values) with sane row scales. The GB/s
/// column is weight bytes streamed per second.
/// </summary>
[Config(typeof(Config))]
public unsafe class MatVecBenchmarks
{
    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new WeightBandwidthColumn());
    }

    public static IEnumerable<string> Cases =>
    [
        "IQ4_KS sq v1 t1", "IQ2_KS sq v1 t1", "Q8_0 sq v1 t1", "F16 sq v1 t1",
        "IQ4_KS ffn v1 t1", "IQ2_KS ffn v1 t1", "IQ4_KS ffn v1 t2", "IQ2_KS ffn v1 t2",
        "IQ4_KS sq v64 t1", "Q8_0 sq v64 t1",
    ];

    [ParamsSource(nameof(Cases))]
    public string Case { get; set; } = "";

    private byte* _w;
    private WeightMatrix? _m;
    private float[] _x = [], _y = [];
    private int _nVec;
    private ComputePool? _pool;

    internal static (GgmlType type, int cols, int rows, int nVec, int threads) Parse(string c)
    {
        var p = c.Split(' ');
        var dims = (p[1] switch { "sq" => "4096x4096", "ffn" => "2048x5632", var d => d }).Split('x');
        return (Enum.Parse<GgmlType>(p[0]), int.Parse(dims[0]), int.Parse(dims[1]), int.Parse(p[2][1..]), int.Parse(p[3][1..]));
    }

    internal static long WeightBytes(string c)
    {
        var (type, cols, rows, _, _) = Parse(c);
        return TypeTable.Get(type).RowSize(cols) * rows;
    }

    [GlobalSetup]
    public void Setup()
    {
        var (type, cols, rows, nVec, threads) = Parse(Case);
        var info = TypeTable.Get(type);
        long rowBytes = info.RowSize(cols), bytes = rowBytes * rows;
        _w = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        var rng = new Random(42);
        rng.NextBytes(new Span<byte>(_w, checked((int)bytes)));
        for (int r = 0; r < rows; r++)
        {
            if (info.RowMetaBytes == 4) *(float*)(_w + r * rowBytes) = 0.01f;
            if (info.RowMetaBytes == 2) *(ushort*)(_w + r * rowBytes) = 0x2000;
        }
        _m = new WeightMatrix(type, cols, rows, _w);
        _nVec = nVec;
        _x = new float[cols * nVec];
        for (int i = 0; i < _x.Length; i++) _x[i] = (float)(rng.NextDouble() - 0.5);
        _y = new float[rows * nVec];
        _pool = new ComputePool(threads);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool?.Dispose();
        NativeMemory.AlignedFree(_w);
    }

    [Benchmark]
    public void Multiply() => MatMul.Multiply(_m!, _x, _nVec, _y, _pool);
}

/// <summary>Weight bytes streamed per second (GB/s) for <see cref="MatVecBenchmarks"/>.</summary>
public sealed class WeightBandwidthColumn : IColumn
{
    public string Id => "WeightGBps";
    public string ColumnName => "Weights GB/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Weight bytes streamed per second (GB/s)";
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var stats = summary[benchmarkCase]?.ResultStatistics;
        var param = benchmarkCase.Parameters.Items.FirstOrDefault(p => p.Name == "Case")?.Value as string;
        if (stats is null || param is null) return "-";
        return (MatVecBenchmarks.WeightBytes(param) / stats.Mean).ToString("F2");
    }
}
