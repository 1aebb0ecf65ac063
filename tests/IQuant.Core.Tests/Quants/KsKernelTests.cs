using System.Runtime.Intrinsics;
using IQuant.Core.Quants;

namespace IQuant.Core.Tests.Quants;

/// <summary>The SIMD kernels of the KS family against their scalar references, on inputs beyond the vector files.</summary>
public class KsKernelTests
{
    [Fact]
    public void VectorBestValue_MatchesTableDrivenB5_PerLane()
    {
        if (SimdPolicy.Hardware < SimdLevel.Avx2) Assert.Skip("needs AVX2");
        var rng = new Random(3);
        var a = new float[16];
        for (int rep = 0; rep < 20000; rep++)
        {
            for (int l = 0; l < 16; l++)
                a[l] = rep % 3 == 0 ? (float)(rng.NextDouble() * 300 - 150) : (float)Math.Round(rng.NextDouble() * 300 - 150) * 0.5f;
            Check<KsFam3>(KsTable.Iq3, KsVTables.Iq3, a);
            Check<KsFam4>(KsTable.Iq4, KsVTables.Iq4, a);
            Check<KsFam5>(KsTable.Iq5, KsVTables.Iq5, a);
        }
    }

    private static void Check<F>(KsTable tab, KsVTables vt, float[] a) where F : struct, IKsFamily
    {
        foreach (bool sh in new[] { false, true })
        {
            var T = tab.ValuesI(sh);
            var v256 = F.Q(Vector256.Create(a.AsSpan(0, 8)), in sh ? ref vt.S256 : ref vt.N256);
            for (int l = 0; l < 8; l++) Assert.Equal(T[tab.Bi(T, a[l])], v256[l]);
            if (SimdPolicy.Hardware >= SimdLevel.Avx512)
            {
                var v512 = F.Q(Vector512.Create(a), in sh ? ref vt.S512 : ref vt.N512);
                for (int l = 0; l < 16; l++) Assert.Equal(T[tab.Bi(T, a[l])], v512[l]);
            }
        }
    }

    public static TheoryData<string> Keys => new() { "iq2_ks", "iq2_ks-scalar", "iq3_ks", "iq4_ks", "iq5_ks", "iq4_kss", "iq2_kl" };

    /// <summary>Rows of 768 (3 super-blocks: partial SIMD lane groups) with assorted scales, zero and constant
    /// sub-blocks, outliers and tiny values, with and without an imatrix containing zero blocks.</summary>
    internal static float[] Rows(int rows, int n, int seed)
    {
        var rng = new Random(seed);
        var x = new float[rows * n];
        for (int r = 0; r < rows; r++)
        {
            double scale = Math.Pow(10, rng.Next(-6, 3));
            for (int j = 0; j < n; j++)
            {
                double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
                x[r * n + j] = (float)(scale * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
            }
            int kind = r % 6;
            if (kind == 1) x.AsSpan(r * n + 32 * rng.Next(n / 32), 32).Clear();
            if (kind == 2) x.AsSpan(r * n + 32 * rng.Next(n / 32), 32).Fill((float)scale);
            if (kind == 3) x[r * n + rng.Next(n)] = (float)(-40 * scale);
            if (kind == 4) for (int j = 0; j < 64; j++) x[r * n + j] = 1e-20f * (j - 30);
            if (kind == 5 && r % 12 == 5) x.AsSpan(r * n, n).Clear();
        }
        return x;
    }

    [Theory]
    [MemberData(nameof(Keys))]
    public void AllSimdLevels_GiveIdenticalBytes(string key)
    {
        var codec = VectorConformanceTests.CodecFor(key);
        foreach (var (rows, n, seed) in new[] { (12, 768, 11), (4, 2304, 12) })
        {
            var x = Rows(rows, n, seed);
            var rng = new Random(seed + 100);
            var im = new float[n];
            for (int j = 0; j < n; j++) im[j] = j / 32 == 3 ? 0 : (float)(rng.NextDouble() * rng.NextDouble() * 3);
            var wide = new float[n];
            for (int j = 0; j < n; j++) wide[j] = j % 97 == 0 ? 0 : (float)Math.Pow(10, rng.NextDouble() * 12 - 8);
            foreach (var imatrix in new[] { Array.Empty<float>(), im, wide })
            {
                byte[]? reference = null;
                float[]? deq = null;
                foreach (var level in VectorConformanceTests.Levels())
                {
                    using var _ = SimdPolicy.Override(level);
                    var dst = new byte[rows * codec.Info.RowSize(n)];
                    RowQuantizer.Quantize(codec, x, n, imatrix, dst, threads: 1);
                    var y = new float[rows * n];
                    RowQuantizer.Dequantize(codec, dst, n, y, threads: 1);
                    if (reference is null) { reference = dst; deq = y; continue; }
                    VectorConformanceTests.AssertBytes(reference, dst, codec.Info.RowSize(n), $"{key} n={n} {level} im={imatrix.Length > 0}");
                    for (int i = 0; i < y.Length; i++)
                        Assert.True(BitConverter.SingleToInt32Bits(y[i]) == BitConverter.SingleToInt32Bits(deq![i]), $"{key} {level} dequant element {i}");
                }
            }
        }
    }
}
