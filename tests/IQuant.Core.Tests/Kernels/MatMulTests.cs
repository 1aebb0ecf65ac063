using System.Runtime.InteropServices;
using IQuant.Core.Kernels;
using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Core.Tests.Kernels;

/// <summary>
/// MatMul kernels against (a) the scalar path (integer types: bit-identical at every SIMD level and thread count;
/// F32/F16: within 1e-6 of Σ|w·x| since vector lanes sum in a different order), (a') the exact math
/// Σ deq(W)·deq(Q8(x)) evaluated in double from the codecs' dequantizers (tolerance: f32 rounding of the kernel's few
/// float ops, 1e-5 of Σ|w·x|), and (b) dequantize-then-dot with the unquantized activations, within the rigorous bound
/// of the activation rounding: Σ_j |w_j| · d_block(j)/2 (+ float slop).
/// </summary>
public unsafe class MatMulTests
{
    public static readonly GgmlType[] KernelTypes =
    [
        GgmlType.IQ4_KS, GgmlType.IQ2_KS, GgmlType.IQ3_KS, GgmlType.IQ4_K, GgmlType.IQ3_K, GgmlType.IQ2_K,
        GgmlType.IQ5_K, GgmlType.IQ5_KS, GgmlType.IQ6_K, GgmlType.IQ4_KSS, GgmlType.IQ2_KL, GgmlType.IQ4_XS,
        GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.Q6_0, GgmlType.IQ4_NL, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
        GgmlType.F16, GgmlType.F32,
    ];

    public static TheoryData<string, int> Types()
    {
        var d = new TheoryData<string, int>();
        foreach (var t in KernelTypes) d.Add(t.ToString(), 768);
        d.Add(GgmlType.Q4_1.ToString(), 768);   // no native kernel: the dequantizing fallback
        d.Add(GgmlType.Q8_0.ToString(), 352);   // 11 blocks: a partial group of 8
        d.Add(GgmlType.F16.ToString(), 100);    // vector tails
        d.Add(GgmlType.F32.ToString(), 100);
        return d;
    }

    private static IEnumerable<SimdLevel> Levels() => Enum.GetValues<SimdLevel>().Where(l => l <= SimdPolicy.Hardware);

    internal static float[] RandomValues(Random rng, int n, float outlierRate = 0.01f)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++)
        {
            double u1 = 1 - rng.NextDouble(), u2 = rng.NextDouble();
            double g = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
            if (rng.NextDouble() < outlierRate) g *= 8;
            v[i] = (float)g;
        }
        return v;
    }

    /// <summary>Random weights of the given type: (bytes, rows, cols).</summary>
    internal static byte[] MakeWeights(GgmlType type, int rows, int cols, int seed)
    {
        var rng = new Random(seed);
        var src = RandomValues(rng, rows * cols);
        // A few special rows: all zero, constant, tiny.
        if (rows > 3)
        {
            Array.Clear(src, 0, cols);
            for (int j = 0; j < cols; j++) src[cols + j] = 0.5f;
            for (int j = 0; j < cols; j++) src[2 * cols + j] *= 1e-6f;
        }
        var info = TypeTable.Get(type);
        var bytes = new byte[info.RowSize(cols) * rows];
        switch (type)
        {
            case GgmlType.F32:
                MemoryMarshal.AsBytes(src.AsSpan()).CopyTo(bytes);
                break;
            case GgmlType.F16:
                var h = MemoryMarshal.Cast<byte, ushort>(bytes.AsSpan());
                for (int i = 0; i < src.Length; i++) h[i] = Fp16.FromFloat(src[i]);
                break;
            default:
                RowQuantizer.Quantize(Codecs.Get(type), src, cols, ReadOnlySpan<float>.Empty, bytes, threads: 2);
                break;
        }
        return bytes;
    }

    internal static float[] Run(GgmlType type, byte[] weights, int rows, int cols, float[] x, int nVec, SimdLevel level, int threads)
    {
        var y = new float[nVec * rows];
        fixed (byte* pw = weights)
        {
            var w = new WeightMatrix(type, cols, rows, pw);
            using var _ = SimdPolicy.Override(level);
            using var pool = threads > 1 ? new ComputePool(threads) : null;
            MatMul.Multiply(w, x, nVec, y, pool);
        }
        return y;
    }

    private static float[] Dequantized(GgmlType type, byte[] weights, int rows, int cols)
    {
        var f = new float[rows * cols];
        fixed (byte* pw = weights)
        {
            var w = new WeightMatrix(type, cols, rows, pw);
            for (int r = 0; r < rows; r++) MatMul.DequantizeRow(w, r, f.AsSpan(r * cols, cols));
        }
        return f;
    }

    /// <summary>Dequantized activations of the kernel's own activation quantization, and the per-element half-step bound.</summary>
    private static (float[] deq, float[] halfStep) QuantizedActivations(GgmlType type, float[] x, int nVec, int cols)
    {
        var deq = new float[x.Length];
        var hs = new float[x.Length];
        bool q80 = type is GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.Q6_0 or GgmlType.IQ4_NL;
        int bs = q80 ? 32 : 256;
        if (type is GgmlType.F16 or GgmlType.F32) { x.CopyTo(deq, 0); return (deq, hs); }
        var blk = new byte[q80 ? Q8Activations.Q80RowBytes(1) : Q8Activations.Q8KBlockBytes];
        for (int i = 0; i < x.Length; i += bs)
        {
            var seg = x.AsSpan(i, bs);
            if (q80) Q8Activations.QuantizeQ80(seg, blk); else Q8Activations.QuantizeQ8K(seg, blk);
            float d = BitConverter.ToSingle(blk, 0);
            int qoff = q80 ? Q8Activations.Q80Qs(1) : Q8Activations.Q8KQs;
            for (int j = 0; j < bs; j++)
            {
                deq[i + j] = d * (sbyte)blk[qoff + j];
                hs[i + j] = d / 2 * 1.0001f;
            }
        }
        return (deq, hs);
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void Multiply_MatchesScalarAndDequantizedMath(string typeName, int cols)
    {
        var type = Enum.Parse<GgmlType>(typeName);
        const int rows = 37;
        var weights = MakeWeights(type, rows, cols, seed: 1234 + (int)type);
        var wf = Dequantized(type, weights, rows, cols);
        bool intKernel = MatMul.HasNativeKernel(type) && type is not (GgmlType.F16 or GgmlType.F32);
        foreach (int nVec in new[] { 1, 3, 8, 17 })
        {
            var x = RandomValues(new Random(nVec * 7 + (int)type), nVec * cols, 0.02f);
            var scalar = Run(type, weights, rows, cols, x, nVec, SimdLevel.Scalar, 1);
            var (xq, half) = QuantizedActivations(type, x, nVec, cols);
            for (int v = 0; v < nVec; v++)
                for (int r = 0; r < rows; r++)
                {
                    double exact = 0, exactQ = 0, absSum = 0, bound = 0;
                    for (int c = 0; c < cols; c++)
                    {
                        double wv = wf[r * cols + c];
                        exact += wv * x[v * cols + c];
                        exactQ += wv * xq[v * cols + c];
                        absSum += Math.Abs(wv * x[v * cols + c]);
                        bound += Math.Abs(wv) * half[v * cols + c];
                    }
                    float got = scalar[v * rows + r];
                    string where = $"{type} nVec={nVec} v={v} r={r}";
                    // (a') the integer math equals the exact product of the dequantized operands (IQ6_K: the codec's
                    // dequantizer is the reference polynomial, not the integer table the kernels use, spec §3.11).
                    if (type != GgmlType.IQ6_K && MatMul.HasNativeKernel(type))
                        Assert.True(Math.Abs(got - exactQ) <= 1e-5 * absSum + 1e-30, $"{where}: {got} vs exact {exactQ} (Σ|wx| {absSum})");
                    // (b) vs unquantized activations, within the activation rounding bound.
                    double tolB = bound + 1e-5 * absSum + (type == GgmlType.IQ6_K ? 0.01 * absSum : 0) + 1e-30;
                    Assert.True(Math.Abs(got - exact) <= tolB, $"{where}: {got} vs float {exact} (bound {tolB})");
                }
            foreach (var level in Levels())
                foreach (int threads in new[] { 1, 2 })
                {
                    if (level == SimdLevel.Scalar && threads == 1) continue;
                    var y = Run(type, weights, rows, cols, x, nVec, level, threads);
                    for (int i = 0; i < y.Length; i++)
                    {
                        if (intKernel || !MatMul.HasNativeKernel(type))
                        {
                            if (BitConverter.SingleToInt32Bits(y[i]) != BitConverter.SingleToInt32Bits(scalar[i]))
                                Assert.Fail($"{type} {level} t={threads} nVec={nVec} i={i}: {y[i]} != scalar {scalar[i]}");
                        }
                        else
                        {
                            int v = i / rows, r = i % rows;
                            double absSum = 0;
                            for (int c = 0; c < cols; c++) absSum += Math.Abs(wf[r * cols + c] * x[v * cols + c]);
                            Assert.True(Math.Abs(y[i] - scalar[i]) <= 1e-6 * absSum, $"{type} {level} t={threads} i={i}: {y[i]} vs {scalar[i]}");
                        }
                    }
                }
        }
    }

    [Fact]
    public void Q8K_Quantization_IsIdenticalAtEveryLevelAndFollowsSpec()
    {
        var rng = new Random(5);
        var x = RandomValues(rng, 256 * 4);
        x[300] = 0; for (int j = 512; j < 768; j++) x[j] = 0;           // an all-zero block
        x[100] = 1e-30f;
        byte[]? first = null;
        foreach (var level in Levels())
        {
            using var _ = SimdPolicy.Override(level);
            var q = new byte[4 * Q8Activations.Q8KBlockBytes];
            Q8Activations.QuantizeQ8K(x, q);
            if (first is null) first = q; else Assert.Equal(first, q);
        }
        for (int b = 0; b < 4; b++)
        {
            var blk = first!.AsSpan(b * Q8Activations.Q8KBlockBytes);
            float amax = 0;
            for (int j = 0; j < 256; j++) amax = Math.Max(amax, Math.Abs(x[256 * b + j]));
            Assert.Equal(amax / 127f, BitConverter.ToSingle(blk));
            float id = amax != 0 ? 127f / amax : 0f;
            int total = 0;
            for (int g = 0; g < 16; g++)
            {
                int s = 0;
                for (int j = 0; j < 16; j++)
                {
                    int e = (int)MathF.Round(id * x[256 * b + 16 * g + j]);
                    Assert.Equal(e, (sbyte)blk[8 + 16 * g + j]);
                    s += e;
                }
                Assert.Equal(s, BitConverter.ToInt16(blk.Slice(264 + 2 * g)));
                total += s;
            }
            Assert.Equal(amax / 127f * total, BitConverter.ToSingle(blk.Slice(4)));
        }
    }

    [Theory]
    [InlineData("IQ4_KS", 1)]
    [InlineData("IQ4_KS", 9)]
    [InlineData("Q8_0", 5)]
    [InlineData("F16", 3)]
    public void Multiply_DoesNotAllocateInSteadyState(string typeName, int nVec)
    {
        var type = Enum.Parse<GgmlType>(typeName);
        const int rows = 64, cols = 512;
        var weights = MakeWeights(type, rows, cols, 3);
        var x = RandomValues(new Random(1), nVec * cols);
        var y = new float[nVec * rows];
        fixed (byte* p = weights)
        {
            var w = new WeightMatrix(type, cols, rows, p);
            using var pool = new ComputePool(1);
            foreach (var pl in new[] { null, pool })
            {
                for (int i = 0; i < 3; i++) MatMul.Multiply(w, x, nVec, y, pl);
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 10; i++) MatMul.Multiply(w, x, nVec, y, pl);
                Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
            }
        }
    }

    [Theory]
    [InlineData("IQ4_KS")]
    [InlineData("Q8_0")]
    [InlineData("F16")]
    public void Multiply_LargeBatch_TilesMatchSingleRows(string typeName)
    {
        // 150 activation rows span three 64-row tiles; every output must equal the one-row product (integer types
        // exactly; F16 uses a different summation order for single rows, so compare within 1e-6 of Σ|w·x|).
        var type = Enum.Parse<GgmlType>(typeName);
        const int rows = 19, cols = 512, nVec = 150;
        var weights = MakeWeights(type, rows, cols, 9);
        var x = RandomValues(new Random(4), nVec * cols);
        var all = Run(type, weights, rows, cols, x, nVec, SimdPolicy.Hardware, 2);
        var wf = Dequantized(type, weights, rows, cols);
        for (int v = 0; v < nVec; v += 7)
        {
            var one = Run(type, weights, rows, cols, x[(v * cols)..((v + 1) * cols)], 1, SimdPolicy.Hardware, 1);
            for (int r = 0; r < rows; r++)
            {
                if (type != GgmlType.F16) Assert.Equal(one[r], all[v * rows + r]);
                else
                {
                    double abs = 0;
                    for (int c = 0; c < cols; c++) abs += Math.Abs(wf[r * cols + c] * x[v * cols + c]);
                    Assert.True(Math.Abs(one[r] - all[v * rows + r]) <= 1e-6 * abs);
                }
            }
        }
    }

    [Fact]
    public void Multiply_ConcurrentCallsOnOnePool_AreSerializedAndCorrect()
    {
        const int rows = 64, cols = 512, nVec = 9;
        var weights = MakeWeights(GgmlType.IQ4_KS, rows, cols, 5);
        var x = RandomValues(new Random(2), nVec * cols);
        var expected = Run(GgmlType.IQ4_KS, weights, rows, cols, x, nVec, SimdLevel.Scalar, 1);
        using var pool = new ComputePool(2);
        var handle = GCHandle.Alloc(weights, GCHandleType.Pinned);
        try
        {
            var w = new WeightMatrix(GgmlType.IQ4_KS, cols, rows, (byte*)handle.AddrOfPinnedObject());
            var level = SimdPolicy.Current;
            Parallel.For(0, 4, _ =>
            {
                using var __ = SimdPolicy.Override(level);
                for (int i = 0; i < 20; i++)
                {
                    var y = new float[nVec * rows];
                    MatMul.Multiply(w, x, nVec, y, pool);
                    Assert.Equal(expected, y);
                }
            });
        }
        finally { handle.Free(); }
    }

    [Fact]
    public void Multiply_ValidatesArguments()
    {
        var weights = MakeWeights(GgmlType.IQ4_KS, 4, 256, 1);
        fixed (byte* p = weights)
        {
            var w = new WeightMatrix(GgmlType.IQ4_KS, 256, 4, p);
            Assert.Equal(4 + 136, w.RowBytes);
            Assert.Throws<ArgumentException>(() => MatMul.Multiply(w, new float[255], 1, new float[4], null));
            Assert.Throws<ArgumentException>(() => MatMul.Multiply(w, new float[256], 1, new float[3], null));
            byte* q = p;
            Assert.Throws<ArgumentException>(() => new WeightMatrix(GgmlType.IQ4_KS, 100, 4, q));
            var row = new float[256];
            w.DequantizeRow(3, row);
            var expected = new float[256];
            Codecs.Get(GgmlType.IQ4_KS).DequantizeRow(weights.AsSpan(3 * 140, 140), expected);
            Assert.Equal(expected, row);
            Assert.Throws<ArgumentOutOfRangeException>(() => new WeightMatrix(GgmlType.IQ4_KS, 256, 4, q).DequantizeRow(4, row));
        }
    }
}
