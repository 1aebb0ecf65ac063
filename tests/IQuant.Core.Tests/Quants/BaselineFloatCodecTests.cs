using System.Runtime.InteropServices;
using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Core.Tests.Quants;

/// <summary>F32 / F16 / BF16 codecs and the bulk conversions: exactness, rounding ties, specials, all SIMD levels.</summary>
public class BaselineFloatCodecTests
{
    private static float F(uint bits) => BitConverter.UInt32BitsToSingle(bits);
    private static uint B(float f) => BitConverter.SingleToUInt32Bits(f);

    [Fact]
    public void HalfToSingle_AllBitPatterns_MatchDotNetHalf()
    {
        for (int h = 0; h < 65536; h++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)h);
            Assert.Equal(B(expected), B(FloatConversions.HalfToSingle((ushort)h)));
        }
    }

    [Fact]
    public void HalfToSingle_Spans_AllLevelsIdentical()
    {
        var all = new ushort[65536 + 13];
        for (int i = 0; i < all.Length; i++) all[i] = (ushort)(i * 40503);
        var reference = all.Select(h => B(FloatConversions.HalfToSingle(h))).ToArray();
        foreach (var level in VectorConformanceTests.Levels())
        {
            using var _ = SimdPolicy.Override(level);
            var y = new float[all.Length];
            FloatConversions.HalfToSingle(all, y);
            Assert.Equal(reference, y.Select(B).ToArray());
        }
    }

    /// <summary>Every fp16 value, the f32 values just around it and the exact midpoints to its neighbours, plus specials.</summary>
    private static float[] HalfBoundaryFloats()
    {
        var list = new List<float>();
        for (int h = 0; h < 0x7C00; h++)
        {
            float v = (float)BitConverter.UInt16BitsToHalf((ushort)h);
            float next = (float)BitConverter.UInt16BitsToHalf((ushort)(h + 1));
            float mid = (float)(((double)v + next) / 2); // exact in f32
            foreach (var f in new[] { v, MathF.BitDecrement(v), MathF.BitIncrement(v), mid, MathF.BitDecrement(mid), MathF.BitIncrement(mid) })
            {
                list.Add(f); list.Add(-f);
            }
        }
        list.AddRange([0f, -0f, float.Epsilon, -float.Epsilon, float.MaxValue, float.MinValue, float.PositiveInfinity, float.NegativeInfinity,
            65504f, 65519.996f, 65520f, 65536f, 1e-8f, 2.9802322e-8f, 2.9802326e-8f, 5.9604645e-8f]);
        var rng = new Random(12345);
        for (int i = 0; i < 200_000; i++) list.Add(F((uint)rng.NextInt64(0, 1L << 32)));
        return [.. list.Where(f => !float.IsNaN(f))];
    }

    [Fact]
    public void SingleToHalf_RoundsToNearestEven_LikeDotNetHalf()
    {
        foreach (var f in HalfBoundaryFloats())
        {
            ushort expected = BitConverter.HalfToUInt16Bits((Half)f);
            ushort actual = FloatConversions.SingleToHalf(f);
            if (expected != actual) Assert.Fail($"{f:R} (0x{B(f):X8}): 0x{actual:X4}, expected 0x{expected:X4}");
        }
    }

    [Fact]
    public void SingleToHalf_Ties_Specials_Denormals()
    {
        Assert.Equal(0x3C00, FloatConversions.SingleToHalf(F(0x3F801000)));   // 1 + 2^-11: tie, even → 1.0
        Assert.Equal(0x3C02, FloatConversions.SingleToHalf(F(0x3F803000)));   // 1 + 3·2^-11: tie, odd → up
        Assert.Equal(0x7BFF, FloatConversions.SingleToHalf(65519.996f));
        Assert.Equal(0x7C00, FloatConversions.SingleToHalf(65520f));         // tie at the top rounds to Inf
        Assert.Equal(0xFC00, FloatConversions.SingleToHalf(float.NegativeInfinity));
        Assert.Equal(0x0001, FloatConversions.SingleToHalf(5.9604645e-8f));  // smallest fp16 subnormal
        Assert.Equal(0x0000, FloatConversions.SingleToHalf(2.9802322e-8f));  // exactly half of it: tie → 0
        Assert.Equal(0x0001, FloatConversions.SingleToHalf(2.9802326e-8f));  // just above the tie
        Assert.Equal(0x8000, FloatConversions.SingleToHalf(-0f));
        Assert.Equal(0x0400, FloatConversions.SingleToHalf(6.1035156e-5f)); // smallest normal
        Assert.Equal(0x7E00, FloatConversions.SingleToHalf(float.NaN) & 0x7FFF);
        Assert.Equal(0x7E00, FloatConversions.SingleToHalf(F(0x7F800001)));   // signalling NaN is quieted
        Assert.Equal(0xFE01, FloatConversions.SingleToHalf(F(0xFFC02000)));   // sign and top payload bits kept
    }

    [Fact]
    public void SingleToHalf_Spans_AllLevelsIdentical()
    {
        var x = HalfBoundaryFloats().Concat([float.NaN, F(0x7F800001), F(0xFFC02000), -float.NaN]).Take(100_003).ToArray();
        var reference = x.Select(FloatConversions.SingleToHalf).ToArray();
        foreach (var level in VectorConformanceTests.Levels())
        {
            using var _ = SimdPolicy.Override(level);
            var y = new ushort[x.Length];
            FloatConversions.SingleToHalf(x, y);
            Assert.Equal(reference, y);
        }
    }

    [Fact]
    public void BFloat16_Rounding_Ties_NaN_Denormals()
    {
        Assert.Equal(0x3F80, FloatConversions.SingleToBFloat16(F(0x3F808000)));  // tie, even stays
        Assert.Equal(0x3F82, FloatConversions.SingleToBFloat16(F(0x3F818000)));  // tie, odd goes up
        Assert.Equal(0x3F81, FloatConversions.SingleToBFloat16(F(0x3F808001)));  // above the tie
        Assert.Equal(0x7F80, FloatConversions.SingleToBFloat16(float.PositiveInfinity));
        Assert.Equal(0xFF80, FloatConversions.SingleToBFloat16(float.NegativeInfinity));
        Assert.Equal(0x7F80, FloatConversions.SingleToBFloat16(float.MaxValue));   // rounds up to Inf, as ggml
        Assert.Equal(0x7FC0, FloatConversions.SingleToBFloat16(F(0x7F800001)));    // sNaN → (bits >> 16) | 64
        Assert.Equal(0xFFC1, FloatConversions.SingleToBFloat16(F(0xFFC10000)));    // payload kept
        Assert.Equal(0x0001, FloatConversions.SingleToBFloat16(F(0x00010000)));    // denormal kept (no flush)
        Assert.Equal(0x0000, FloatConversions.SingleToBFloat16(F(0x00008000)));    // denormal tie → even
        Assert.Equal(0x8000, FloatConversions.SingleToBFloat16(-0f));
        for (uint h = 0; h < 65536; h++)
            Assert.Equal(h << 16, B(FloatConversions.BFloat16ToSingle((ushort)h)));
    }

    [Fact]
    public void BFloat16_Spans_AllLevelsIdentical()
    {
        var rng = new Random(7);
        var x = new float[100_005];
        for (int i = 0; i < x.Length; i++) x[i] = F((uint)rng.NextInt64(0, 1L << 32));
        x[0] = float.NaN; x[1] = F(0x7F800001); x[2] = F(0x3F808000); x[3] = F(0x3F818000);
        var reference = x.Select(FloatConversions.SingleToBFloat16).ToArray();
        var back = reference.Select(h => B(FloatConversions.BFloat16ToSingle(h))).ToArray();
        foreach (var level in VectorConformanceTests.Levels())
        {
            using var _ = SimdPolicy.Override(level);
            var y = new ushort[x.Length];
            FloatConversions.SingleToBFloat16(x, y);
            Assert.Equal(reference, y);
            var z = new float[x.Length];
            FloatConversions.BFloat16ToSingle(y, z);
            Assert.Equal(back, z.Select(B).ToArray());
        }
    }

    [Theory]
    [InlineData(GgmlType.F32)]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    public void FloatCodecs_RoundTrip(GgmlType type)
    {
        var codec = Codecs.Get(type);
        var rng = new Random(3);
        const int n = 1000, rows = 3;
        var x = new float[n * rows];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1) * 100f;
        x[0] = 1.5f; x[1] = -0f; x[2] = 3.0517578e-5f;
        var y = new byte[rows * codec.Info.RowSize(n)];
        RowQuantizer.Quantize(codec, x, n, [], y, threads: 2);
        var z = new float[x.Length];
        RowQuantizer.Dequantize(codec, y, n, z, threads: 2);
        for (int i = 0; i < x.Length; i++)
        {
            float expected = type switch
            {
                GgmlType.F32 => x[i],
                GgmlType.F16 => (float)(Half)x[i],
                _ => FloatConversions.BFloat16ToSingle(FloatConversions.SingleToBFloat16(x[i])),
            };
            Assert.Equal(B(expected), B(z[i]));
        }
        Assert.Equal(B(1.5f), B(z[0]));
        Assert.Equal(B(-0f), B(z[1]));
    }
}
