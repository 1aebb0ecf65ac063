using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Core.Tests.Quants;

/// <summary>
/// IQ2_K..IQ6_K: every SIMD level must produce the same bytes (and the same dequantized floats) as the scalar
/// reference path on inputs that stress the kernels: several scales, outliers, tiny and denormal values, zero and
/// constant sub-blocks, values on exact table midpoints (ties in the nearest-index function), and imatrix weights
/// with zeros and a wide dynamic range.
/// </summary>
public class IqkSimdConsistencyTests
{
    public static TheoryData<string, int> Cases()
    {
        var td = new TheoryData<string, int>();
        foreach (var t in new[] { "IQ2_K", "IQ3_K", "IQ4_K", "IQ5_K", "IQ6_K" })
            for (int seed = 1; seed <= 3; seed++) td.Add(t, seed);
        return td;
    }

    internal static (float[] X, float[] Im) Input(int seed, int rows, int n)
    {
        var rng = new Random(seed);
        var x = new float[rows * n];
        for (int r = 0; r < rows; r++)
        {
            var row = x.AsSpan(r * n, n);
            int kind = r % 8;
            double sigma = kind switch { 0 => 0.02, 1 => 1.0, 2 => 1e-6, 3 => 300.0, _ => 0.05 };
            for (int j = 0; j < n; j++)
            {
                double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
                row[j] = (float)(sigma * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
                if (rng.NextDouble() < 0.01) row[j] *= 8;
            }
            switch (kind)
            {
                case 4: // integers / 16 and halves: exact ties between table entries
                    for (int j = 0; j < n; j++) row[j] = (rng.Next(-64, 65) / 2) / 16f;
                    break;
                case 5: // zero, constant, tiny and denormal sub-blocks
                    row.Slice(0, 16).Clear();
                    row.Slice(16, 16).Fill(0.25f);
                    for (int j = 32; j < 48; j++) row[j] = (float)(1e-20 * (rng.NextDouble() - 0.5));
                    for (int j = 48; j < 64; j++) row[j] = (float)(1e-39 * rng.Next(-3, 4));
                    for (int j = 64; j < 80; j++) row[j] = (float)(1e-16 * (1 + rng.NextDouble()));
                    row[100] = -40f;
                    break;
                case 6: // one huge outlier per super-block
                    for (int j = 0; j < n; j += 256) row[j + rng.Next(256)] = 1000f;
                    break;
                case 7: // only a few non-zeros
                    for (int j = 0; j < n; j++) if (rng.NextDouble() < 0.9) row[j] = 0;
                    break;
            }
        }
        var im = new float[n];
        for (int j = 0; j < n; j++) im[j] = (float)Math.Exp(rng.NextDouble() * 12 - 6);
        for (int j = 32; j < 64; j++) im[j] = 0;            // a zero chunk (B1 replaces it)
        for (int j = 96; j < 104; j++) im[j] = 0;           // a partly zero chunk
        return (x, im);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void AllSimdLevels_ProduceScalarBytes(string type, int seed)
    {
        var codec = Codecs.Get(Enum.Parse<GgmlType>(type));
        const int rows = 16, n = 512;
        var (x, im) = Input(seed, rows, n);
        long rowBytes = codec.Info.RowSize(n);
        foreach (var weights in new[] { Array.Empty<float>(), im })
        {
            byte[] reference = new byte[rows * rowBytes];
            float[] refDeq = new float[rows * n];
            using (SimdPolicy.Override(SimdLevel.Scalar))
            {
                RowQuantizer.Quantize(codec, x, n, weights, reference, 1, TestContext.Current.CancellationToken);
                RowQuantizer.Dequantize(codec, reference, n, refDeq, 1, TestContext.Current.CancellationToken);
            }
            foreach (var level in VectorConformanceTests.Levels().Where(l => l != SimdLevel.Scalar))
            {
                using var _ = SimdPolicy.Override(level);
                var actual = new byte[reference.Length];
                RowQuantizer.Quantize(codec, x, n, weights, actual, 2, TestContext.Current.CancellationToken);
                VectorConformanceTests.AssertBytes(reference, actual, rowBytes, $"{type} seed {seed} {level} imatrix={weights.Length > 0}");
                var deq = new float[refDeq.Length];
                RowQuantizer.Dequantize(codec, reference, n, deq, 1, TestContext.Current.CancellationToken);
                for (int i = 0; i < deq.Length; i++)
                    if (BitConverter.SingleToInt32Bits(deq[i]) != BitConverter.SingleToInt32Bits(refDeq[i]))
                        Assert.Fail($"{type} seed {seed} {level}: dequantized element {i} is {deq[i]:R}, scalar {refDeq[i]:R}");
            }
        }
    }
}

/// <summary>The SIMD nearest-index kernels against the scalar B5 functions on a dense sweep of arguments.</summary>
public class IqkBestIndexTests
{
    public static TheoryData<int, bool> Grids()
    {
        var td = new TheoryData<int, bool>();
        foreach (int n in new[] { 3, 4, 5, 6 })
        {
            td.Add(n, false);
            td.Add(n, true);
        }
        return td;
    }

    private static IqkGrid Grid(int n) => n switch { 3 => IqkCommon.Iq3, 4 => IqkCommon.Iq4, 5 => IqkCommon.Iq5, _ => IqkCommon.Iq6 };

    [Theory]
    [MemberData(nameof(Grids))]
    public void BestIndices_AllLevels_MatchScalar(int family, bool shifted)
    {
        var g = Grid(family);
        var t = g.Table(shifted);
        var values = new List<float>();
        // every 1/64 step over the table range and beyond (hits integers, midpoints and bucket edges exactly)
        for (int i = -300 * 64; i <= 300 * 64; i++) values.Add(i / 64f);
        // neighbours of midpoints and integers, one ulp away
        for (int k = 0; k + 1 < g.N; k++)
        {
            float mid = (t[k] + t[k + 1]) / 2;
            values.Add(mid); values.Add(MathF.BitIncrement(mid)); values.Add(MathF.BitDecrement(mid));
        }
        for (int i = -300; i <= 300; i++) { values.Add(MathF.BitIncrement(i)); values.Add(MathF.BitDecrement(i)); }
        values.AddRange([0f, -0f, 1e-30f, -1e-30f, 1e10f, -1e10f, 3e9f, -3e9f, float.MaxValue, float.MinValue,
            float.PositiveInfinity, float.NegativeInfinity, 2147483520f, -2147483648f, -2147483904f]);
        var rng = new Random(family * 10 + (shifted ? 1 : 0));
        for (int i = 0; i < 20000; i++) values.Add((float)((rng.NextDouble() - 0.5) * 600));
        while (values.Count % 16 != 0) values.Add(0);

        var x = new float[16];
        var got = new int[16];
        foreach (var level in VectorConformanceTests.Levels())
            for (int b = 0; b < values.Count; b += 16)
            {
                for (int j = 0; j < 16; j++) x[j] = values[b + j];
                IqkSimd.BestIndices(level, g, shifted, 1f, x, got);
                for (int j = 0; j < 16; j++)
                {
                    int want = g.BestIndex(t, x[j]);
                    if (got[j] != want)
                        Assert.Fail($"family {family} shifted {shifted} {level}: a = {x[j]:R} gives {got[j]}, scalar {want}");
                }
            }
    }
}

/// <summary>The SIMD B6 candidate-sum kernels against the scalar loop (every lane, every sum, bit for bit).</summary>
public class IqkCandidateSumsTests
{
    [Theory]
    [InlineData(3, 3, 2)]
    [InlineData(4, 7, 1)]
    [InlineData(5, 5, 1)]
    [InlineData(6, 5, 1)]
    public void CandidateSums_AllLevels_MatchScalar(int family, int ntry, int step)
    {
        var g = family switch { 3 => IqkCommon.Iq3, 4 => IqkCommon.Iq4, 5 => IqkCommon.Iq5, _ => IqkCommon.Iq6 };
        var rng = new Random(family);
        var x = new float[16];
        var w = new float[16];
        for (int round = 0; round < 2000; round++)
        {
            double scale = Math.Pow(10, rng.Next(-20, 6));
            for (int j = 0; j < 16; j++)
            {
                x[j] = (float)((rng.NextDouble() - 0.5) * scale);
                if (round % 7 == 0) x[j] = rng.Next(-8, 9) / 4f;           // exact ties
                w[j] = round % 5 == 0 ? 0f : (float)rng.NextDouble();
            }
            if (round % 11 == 0) x[rng.Next(16)] = 0;
            float amax = IqkCommon.BlockMax(x, out float max);
            if (amax == 0) continue;
            var ids = new float[IqkScan.MaxCandidates];
            int nc = IqkScan.Candidates(g, max, ntry, step, ids, SimdLevel.Scalar, out uint mask);
            if (round % 13 == 0) ids[rng.Next(nc)] *= 1e6f;                 // far out of the table range
            var want = new float[4 * IqkScan.MaxCandidates];
            IqkScan.CandidateSumsScalar(g, x, w, ids, mask, nc, want);
            foreach (var level in VectorConformanceTests.Levels().Where(l => l != SimdLevel.Scalar))
            {
                var got = new float[4 * IqkScan.MaxCandidates];
                var idc = (float[])ids.Clone();
                IqkSimd.CandidateSums(level, g, x, w, idc, mask, nc, got);
                for (int k = 0; k < 4; k++)
                    for (int i = 0; i < nc; i++)
                    {
                        int o = k * IqkScan.MaxCandidates + i;
                        if (BitConverter.SingleToInt32Bits(got[o]) != BitConverter.SingleToInt32Bits(want[o]))
                            Assert.Fail($"family {family} {level} round {round}: sum {k} of candidate {i} is {got[o]:R}, scalar {want[o]:R}");
                    }
            }
        }
    }
}

/// <summary>The SIMD IQ2_K partition search against the scalar search, on many sub-blocks.</summary>
public class Iq2KSearchTests
{
    [Fact]
    public unsafe void Search_AllLevels_MatchScalar()
    {
        var rng = new Random(7);
        var x = new float[16];
        var w = new float[16];
        float* scratch = stackalloc float[Iq2KSearch.ScratchFloats];
        for (int round = 0; round < 6000; round++)
        {
            int kind = round % 6;
            for (int j = 0; j < 16; j++)
            {
                x[j] = kind switch
                {
                    0 => (float)(rng.NextDouble() - 0.5),
                    1 => rng.Next(-4, 5) / 8f,                                   // many equal values (sort ties)
                    2 => (float)((rng.NextDouble() - 0.5) * 1e-12),
                    3 => j < 8 ? 0f : (float)rng.NextDouble(),
                    4 => (float)Math.Round(rng.NextDouble() * 3) - 1.5f,
                    _ => (float)((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-3, 4))),
                };
                w[j] = kind == 4 ? 1f : (float)(rng.NextDouble() * rng.NextDouble());
            }
            if (round % 17 == 0) w[rng.Next(16)] = 0;
            float d0 = Iq2KSearch.Search(x, w, scratch, SimdLevel.Scalar, out bool s0);
            foreach (var level in VectorConformanceTests.Levels().Where(l => l != SimdLevel.Scalar))
            {
                float d = Iq2KSearch.Search(x, w, scratch, level, out bool s);
                if (BitConverter.SingleToInt32Bits(d) != BitConverter.SingleToInt32Bits(d0) || s != s0)
                    Assert.Fail($"{level} round {round}: d = {d:R} shifted {s}, scalar {d0:R} shifted {s0}");
            }
        }
    }
}
