using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Core.Tests.Quants;

/// <summary>Degenerate inputs of the baseline quantizers (formats-baseline.md §14) and IQuant's documented deviations.</summary>
public class BaselineEdgeCaseTests
{
    /// <summary>
    /// edge-im × iq4_nl is missing from the reference vectors because ik_llama.cpp writes a NaN scale for the 32-column
    /// block whose importance weights are all 0. IQuant quantizes that block as without imatrix: no NaN, the block equals
    /// the no-imatrix reference (edge.iq4_nl.bin, same input rows), and every other block equals what the imatrix path
    /// gives with a harmless imatrix in that block (IQ4_NL blocks are independent; the imatrix path itself is checked
    /// against the reference by gauss-im × iq4_nl).
    /// </summary>
    [Fact]
    public void Iq4Nl_ZeroImatrixBlock_IsQuantizedAsWithoutImatrix()
    {
        var c = VectorData.Case("edge-im");
        var x = c.LoadInput();
        var im = c.LoadImatrix();
        var zeroBlocks = Enumerable.Range(0, c.NPerRow / 32).Where(b => im.AsSpan(32 * b, 32).ToArray().All(v => v == 0)).ToArray();
        Assert.NotEmpty(zeroBlocks);
        var noImRef = VectorData.ReadBytes(VectorData.Case("edge").Outputs["iq4_nl"].Bytes);
        var codec = Codecs.Get(GgmlType.IQ4_NL);
        int rowBytes = (int)codec.Info.RowSize(c.NPerRow);

        var patched = (float[])im.Clone();
        foreach (int b in zeroBlocks) for (int j = 0; j < 32; j++) patched[32 * b + j] = 1f;

        foreach (var level in VectorConformanceTests.Levels())
        {
            using var _ = SimdPolicy.Override(level);
            var y = new byte[c.Rows * rowBytes];
            RowQuantizer.Quantize(codec, x, c.NPerRow, im, y, threads: 2);
            var yPatched = new byte[y.Length];
            RowQuantizer.Quantize(codec, x, c.NPerRow, patched, yPatched, threads: 2);

            for (int r = 0; r < c.Rows; r++)
                for (int b = 0; b < c.NPerRow / 32; b++)
                {
                    int off = r * rowBytes + 18 * b;
                    var d = Fp16.ToFloat(BitConverter.ToUInt16(y, off));
                    Assert.True(float.IsFinite(d), $"row {r} block {b}: scale {d}");
                    var expected = zeroBlocks.Contains(b) ? noImRef : yPatched;
                    Assert.Equal(expected.AsSpan(off, 18).ToArray(), y.AsSpan(off, 18).ToArray());
                }

            var deq = new float[x.Length];
            RowQuantizer.Dequantize(codec, y, c.NPerRow, deq, threads: 1);
            Assert.All(deq, v => Assert.True(float.IsFinite(v)));
        }
    }

    [Theory]
    [InlineData(GgmlType.Q2_K)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q5_K)]
    public void KQuants_AllZeroImatrixSuperBlock_Throws(GgmlType type)
    {
        // The reference stores a NaN d (Q2_K, Q5_K: validation failure) or aborts (Q4_K).
        var rng = new Random(1);
        var x = Enumerable.Range(0, 512).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var im = Enumerable.Range(0, 512).Select(j => j < 256 ? 0f : 1f).ToArray();
        var codec = Codecs.Get(type);
        var y = new byte[codec.Info.RowSize(512)];
        var ex = Assert.Throws<QuantizationInputException>(() => RowQuantizer.Quantize(codec, x, 512, im, y, threads: 1));
        Assert.Equal("ImatrixBlockAllZero", ex.ErrorId);
    }

    [Theory]
    [InlineData(GgmlType.Q3_K)]
    [InlineData(GgmlType.Q6_K)]
    [InlineData(GgmlType.IQ4_XS)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_1)]
    public void AllZeroImatrixBlock_IsHarmless_ForOtherTypes(GgmlType type)
    {
        var rng = new Random(2);
        var x = Enumerable.Range(0, 512).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var im = Enumerable.Range(0, 512).Select(j => j < 256 ? 0f : 1f).ToArray();
        var codec = Codecs.Get(type);
        var y = new byte[codec.Info.RowSize(512)];
        RowQuantizer.Quantize(codec, x, 512, im, y, threads: 1);
        var z = new float[512];
        RowQuantizer.Dequantize(codec, y, 512, z, threads: 1);
        Assert.All(z, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void ScaleOverflowingFp16_Throws()
    {
        var x = new float[64];
        x[3] = 1e7f; // Q8_0: d = 1e7/127 > 65504
        var codec = Codecs.Get(GgmlType.Q8_0);
        var y = new byte[codec.Info.RowSize(64)];
        var ex = Assert.Throws<QuantizationInputException>(() => RowQuantizer.Quantize(codec, x, 32, [], y, threads: 2));
        Assert.Equal("QuantizedScaleNotFinite", ex.ErrorId);
    }

    [Theory]
    [InlineData(GgmlType.Q8_0, "0000", "00")]
    [InlineData(GgmlType.Q4_0, "0080", "88")]
    [InlineData(GgmlType.Q6_0, "0000", "00")]
    [InlineData(GgmlType.IQ4_NL, "0000", "88")]
    public void AllZeroBlock_NoImatrix_MatchesSpec14(GgmlType type, string dHex, string qsByteHex)
    {
        var codec = Codecs.Get(type);
        var y = new byte[codec.Info.RowSize(32)];
        foreach (var level in VectorConformanceTests.Levels())
        {
            using var _ = SimdPolicy.Override(level);
            Array.Fill(y, (byte)0xA5);
            codec.QuantizeRow(new float[32], y, []);
            Assert.Equal(dHex, Convert.ToHexStringLower(y.AsSpan(0, 2)));
            Assert.Equal(qsByteHex, Convert.ToHexStringLower(y.AsSpan(y.Length - 1, 1)));
        }
    }
}
