using IQuant.Core.Kernels;
using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Core.Tests.Kernels;

/// <summary>Unit tests of kernel building blocks: vector decoders against the scalar decoders, fp16 conversion.</summary>
public unsafe class KernelUnitTests
{
    private static readonly (GgmlType Type, int Blocks)[] s_types =
    [
        (GgmlType.IQ4_KS, 3), (GgmlType.IQ2_KS, 3), (GgmlType.IQ3_KS, 3), (GgmlType.IQ2_K, 3), (GgmlType.IQ3_K, 3),
        (GgmlType.IQ4_K, 3), (GgmlType.IQ5_K, 3), (GgmlType.IQ5_KS, 3), (GgmlType.IQ6_K, 3), (GgmlType.IQ4_KSS, 3),
        (GgmlType.IQ2_KL, 3), (GgmlType.Q2_K, 3), (GgmlType.Q3_K, 3), (GgmlType.Q4_K, 3), (GgmlType.Q5_K, 3), (GgmlType.Q6_K, 3),
    ];

    /// <summary>Random bytes are valid blocks of every type: the vector decoders must equal the scalar ones on all of them.</summary>
    [Fact]
    public void VectorDecoders_MatchScalarDecoders_OnRandomBytes()
    {
        if (SimdPolicy.Hardware < SimdLevel.Avx2) Assert.Skip("needs AVX2");
        var rng = new Random(77);
        var a = stackalloc byte[sizeof(Decoded)];
        var b = stackalloc byte[sizeof(Decoded)];
        foreach (var (type, blocks) in s_types)
        {
            var k = TypeKernel.Get(type);
            var info = TypeTable.Get(type);
            var row = new byte[info.RowSize(256 * blocks) + 64];
            for (int rep = 0; rep < 200; rep++)
            {
                rng.NextBytes(row);
                fixed (byte* p = row)
                    for (int blk = 0; blk < blocks; blk++)
                    {
                        new Span<byte>(a, sizeof(Decoded)).Clear();
                        new Span<byte>(b, sizeof(Decoded)).Clear();
                        k.DecodeScalar(p, blk, (Decoded*)a);
                        k.DecodeAvx2(p, blk, (Decoded*)b);
                        var sa = new Span<byte>(a, sizeof(Decoded));
                        var sb = new Span<byte>(b, sizeof(Decoded));
                        if (!sa.SequenceEqual(sb))
                        {
                            int i = 0; while (sa[i] == sb[i]) i++;
                            Assert.Fail($"{type} rep {rep} block {blk}: decoded byte {i} differs ({sa[i]} vs {sb[i]})");
                        }
                    }
            }
        }
    }

    [Fact]
    public void HalfToSingle_IsExactForAllHalves()
    {
        if (SimdPolicy.Hardware < SimdLevel.Avx2) Assert.Skip("needs AVX2");
        var h = new ushort[65536];
        for (int i = 0; i < h.Length; i++) h[i] = (ushort)i;
        var f = new float[65536];
        fixed (ushort* ph = h) fixed (float* pf = f)
            RowDots.F16ToF32(ph, pf, h.Length, SimdLevel.Avx2);
        for (int i = 0; i < h.Length; i++)
        {
            float e = Fp16.ToFloat((ushort)i);
            if (float.IsNaN(e)) Assert.True(float.IsNaN(f[i]), $"{i:X4}");
            else Assert.True(BitConverter.SingleToInt32Bits(e) == BitConverter.SingleToInt32Bits(f[i]), $"{i:X4}: {f[i]} vs {e}");
        }
    }
}
