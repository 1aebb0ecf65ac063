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
