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
        (GgmlType.IQ2_KL, 3), (GgmlType.IQ4_XS, 3), (GgmlType.Q8_0, 24), (GgmlType.Q4_0, 13), (GgmlType.Q5_0, 13), (GgmlType.Q6_0, 13), (GgmlType.IQ4_NL, 13), (GgmlType.Q2_K, 3), (GgmlType.Q3_K, 3), (GgmlType.Q4_K, 3), (GgmlType.Q5_K, 3), (GgmlType.Q6_K, 3),
    ];

    /// <summary>
    /// Random bytes are valid blocks of every type (any scale / shift / sign pattern, Q6_K scale -128, ...): the fused
    /// vector kernels must return exactly the scalar decode-then-dot result, for 1..9 activation rows.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FusedKernels_MatchScalar_OnRandomBlocks(bool zmm)
    {
        if (SimdPolicy.Hardware < SimdLevel.Avx2) Assert.Skip("needs AVX2");
        if (zmm && SimdPolicy.Hardware < SimdLevel.Avx512) Assert.Skip("needs AVX-512");
        bool saved = TypeKernel.UseZmm;
        TypeKernel.UseZmm = zmm;   // both paths are exact, so tests running concurrently are unaffected
        try { RandomBlocks(); }
        finally { TypeKernel.UseZmm = saved; }
    }

    private static void RandomBlocks()
    {
        var rng = new Random(77);
        foreach (var (type, blocks) in s_types)
        {
            var info = TypeTable.Get(type);
            int cols = info.BlockSize * blocks, rows = 23;
            var w = new byte[info.RowSize(cols) * rows];
            rng.NextBytes(w);
            // Keep row scales finite so float results are comparable (NaN != NaN bitwise is fine too, but be explicit).
            for (int r = 0; r < rows; r++)
            {
                long o = r * info.RowSize(cols);
                if (info.RowMetaBytes == 4) BitConverter.TryWriteBytes(w.AsSpan((int)o), 0.01f * (r + 1));
                if (info.RowMetaBytes == 2) BitConverter.TryWriteBytes(w.AsSpan((int)o), (ushort)(0x2000 + r));
            }
            foreach (int nVec in new[] { 1, 2, 3, 4, 5, 9 })
            {
                var x = MatMulTests.RandomValues(rng, nVec * cols);
                var scalar = MatMulTests.Run(type, w, rows, cols, x, nVec, SimdLevel.Scalar, 1);
                foreach (var level in new[] { SimdLevel.Avx2, SimdLevel.Avx512 })
                {
                    if (level > SimdPolicy.Hardware) continue;
                    var y = MatMulTests.Run(type, w, rows, cols, x, nVec, level, 1);
                    for (int i = 0; i < y.Length; i++)
                        if (BitConverter.SingleToInt32Bits(y[i]) != BitConverter.SingleToInt32Bits(scalar[i]) && !(float.IsNaN(y[i]) && float.IsNaN(scalar[i])))
                            Assert.Fail($"{type} {level} nVec={nVec} i={i}: {y[i]} != scalar {scalar[i]}");
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
        foreach (var level in new[] { SimdLevel.Avx2, SimdLevel.Avx512 })
        {
            if (level > SimdPolicy.Hardware) continue;
            var f = new float[65536];
            fixed (ushort* ph = h) fixed (float* pf = f)
                RowDots.F16ToF32(ph, pf, h.Length, level);
            for (int i = 0; i < h.Length; i++)
            {
                float e = Fp16.ToFloat((ushort)i);
                if (float.IsNaN(e)) Assert.True(float.IsNaN(f[i]), $"{level} {i:X4}");
                else Assert.True(BitConverter.SingleToInt32Bits(e) == BitConverter.SingleToInt32Bits(f[i]), $"{level} {i:X4}: {f[i]} vs {e}");
            }
        }
    }
}
