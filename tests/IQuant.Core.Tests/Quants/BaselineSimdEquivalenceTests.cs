using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Core.Tests.Quants;

/// <summary>
/// Every SIMD level must produce the bytes (and floats) of the scalar reference path, also on inputs the reference
/// vectors do not cover: exact ties, repeated values, signed zeros, tiny and huge magnitudes, sparse and partly-zero
/// importance weights.
/// </summary>
public class BaselineSimdEquivalenceTests
{
    public static TheoryData<GgmlType> Types() =>
    [
        GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q6_0, GgmlType.IQ4_NL,
        GgmlType.IQ4_XS, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
        GgmlType.F16, GgmlType.BF16, GgmlType.F32,
    ];

    private static float[] Rows(int pattern, int rows, int n, Random rng)
    {
        var x = new float[rows * n];
        for (int i = 0; i < x.Length; i++)
        {
            double g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
            x[i] = pattern switch
            {
                0 => (float)(0.02 * g) * (rng.Next(100) == 0 ? 8 : 1),
                1 => MathF.Round((float)(g * 4)) / 8f,                                    // many exact ties
                2 => (float)(rng.Next(7) - 3) * 0.25f,                                     // few distinct values
                3 => rng.Next(4) == 0 ? (rng.Next(2) == 0 ? 0f : -0f) : (float)(g * 1e-4), // zeros, signed zeros
                4 => (float)(g * (rng.Next(3) == 0 ? 1e-12 : 10)),                         // mixed magnitudes
                5 => i % 64 < 32 ? 0.0625f : (float)g,                                     // constant blocks
                _ => (float)Math.Abs(g),                                                    // all non-negative
            };
        }
        return x;
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void AllLevels_MatchScalar(GgmlType type)
    {
        var codec = Codecs.Get(type);
        const int n = 512, rows = 6;
        var rng = new Random((int)type * 7919);
        for (int pattern = 0; pattern < 7; pattern++)
        {
            var x = Rows(pattern, rows, n, rng);
            var ims = new List<float[]> { Array.Empty<float>() };
            if (type is not (GgmlType.F16 or GgmlType.BF16 or GgmlType.F32))
            {
                ims.Add(Enumerable.Range(0, n).Select(_ => (float)(0.1 + 2 * rng.NextDouble())).ToArray());
                ims.Add(Enumerable.Range(0, n).Select(j => rng.Next(3) == 0 ? 0f : (float)rng.NextDouble()).ToArray());
            }
            foreach (var im in ims)
            {
                byte[] reference;
                using (SimdPolicy.Override(SimdLevel.Scalar))
                {
                    reference = new byte[rows * codec.Info.RowSize(n)];
                    try { RowQuantizer.Quantize(codec, x, n, im, reference, threads: 1); }
                    catch (QuantizationInputException)
                    {
                        // e.g. an fp16 overflow or an all-zero imatrix super-block: every level must refuse it too
                        foreach (var level in VectorConformanceTests.Levels())
                        {
                            using var __ = SimdPolicy.Override(level);
                            Assert.Throws<QuantizationInputException>(() => RowQuantizer.Quantize(codec, x, n, im, new byte[reference.Length], threads: 1));
                        }
                        continue;
                    }
                }
                var refDeq = new float[x.Length];
                using (SimdPolicy.Override(SimdLevel.Scalar)) RowQuantizer.Dequantize(codec, reference, n, refDeq, threads: 1);
                foreach (var level in VectorConformanceTests.Levels().Where(l => l != SimdLevel.Scalar))
                {
                    using var _ = SimdPolicy.Override(level);
                    var y = new byte[reference.Length];
                    RowQuantizer.Quantize(codec, x, n, im, y, threads: 2);
                    VectorConformanceTests.AssertBytes(reference, y, codec.Info.RowSize(n), $"{type} pattern {pattern} im {im.Length} {level}");
                    var deq = new float[x.Length];
                    RowQuantizer.Dequantize(codec, y, n, deq, threads: 1);
                    for (int i = 0; i < deq.Length; i++)
                        if (BitConverter.SingleToInt32Bits(deq[i]) != BitConverter.SingleToInt32Bits(refDeq[i]))
                            Assert.Fail($"{type} pattern {pattern} {level}: dequantized element {i} is {deq[i]:R}, scalar {refDeq[i]:R}");
                }
            }
        }
    }
}
