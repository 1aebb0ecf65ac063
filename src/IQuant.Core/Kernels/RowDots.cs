using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using IQuant.Core.Quants;

namespace IQuant.Core.Kernels;

/// <summary>Whole-row dot products for Q8_0 (× Q8_0 activations) and the float types.</summary>
internal static unsafe class RowDots
{
    // ---------------- Q8_0 ----------------
    // Per 32-block, 8 int32 lane sums (lane k = elements 4k..4k+3) are scaled by f = d_w·d_a and added to 8 f32 lane
    // accumulators (product, then sum: no FMA); the lanes are reduced as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).
    // The scalar path follows the same order, so every level returns identical floats.

    public static float Q80Scalar(byte* w, byte* a, int nBlocks)
    {
        float* acc = stackalloc float[8];
        for (int k = 0; k < 8; k++) acc[k] = 0;
        for (int b = 0; b < nBlocks; b++, w += 34, a += Q8Activations.Q80BlockBytes)
        {
            float f = Fp16Fast.ToFloat(*(ushort*)w) * *(float*)a;
            sbyte* qw = (sbyte*)(w + 2), qa = (sbyte*)(a + 4);
            for (int k = 0; k < 8; k++)
            {
                int s = qw[4 * k] * qa[4 * k] + qw[4 * k + 1] * qa[4 * k + 1] + qw[4 * k + 2] * qa[4 * k + 2] + qw[4 * k + 3] * qa[4 * k + 3];
                acc[k] += f * s;
            }
        }
        return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    }

    public static float Q80Avx2(byte* w, byte* a, int nBlocks)
    {
        var ones = Vector256.Create((short)1);
        var acc = Vector256<float>.Zero;
        for (int b = 0; b < nBlocks; b++, w += 34, a += Q8Activations.Q80BlockBytes)
        {
            float f = Fp16Fast.ToFloat(*(ushort*)w) * *(float*)a;
            var qw = Avx.LoadVector256((sbyte*)(w + 2));
            var qa = Avx.LoadVector256((sbyte*)(a + 4));
            var s = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Avx2.Abs(qw), Avx2.Sign(qa, qw)), ones);
            acc = Avx.Add(acc, Avx.Multiply(Vector256.Create(f), Avx.ConvertToVector256Single(s)));
        }
        return HSum(acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HSum(Vector256<float> v)
    {
        var h = Sse.Add(v.GetLower(), v.GetUpper());          // l0+l4, l1+l5, l2+l6, l3+l7
        h = Sse.Add(h, Sse.Shuffle(h, h, 0x4E));               // (l0+l4)+(l2+l6), (l1+l5)+(l3+l7), ...
        h = Sse.Add(h, Sse.Shuffle(h, h, 0xB1));
        return h.ToScalar();
    }

    // ---------------- F32 / F16 ----------------
    // Float summation order differs between levels (vector lanes); results agree to rounding (~1e-6 relative to Σ|w·x|).

    public static float F32Scalar(float* w, float* x, int n)
    {
        float s = 0;
        for (int i = 0; i < n; i++) s += w[i] * x[i];
        return s;
    }

    public static float F32Avx2(float* w, float* x, int n)
    {
        var a0 = Vector256<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
        int i = 0;
        for (; i + 32 <= n; i += 32)
        {
            a0 = Fma.MultiplyAdd(Avx.LoadVector256(w + i), Avx.LoadVector256(x + i), a0);
            a1 = Fma.MultiplyAdd(Avx.LoadVector256(w + i + 8), Avx.LoadVector256(x + i + 8), a1);
            a2 = Fma.MultiplyAdd(Avx.LoadVector256(w + i + 16), Avx.LoadVector256(x + i + 16), a2);
            a3 = Fma.MultiplyAdd(Avx.LoadVector256(w + i + 24), Avx.LoadVector256(x + i + 24), a3);
        }
        for (; i + 8 <= n; i += 8) a0 = Fma.MultiplyAdd(Avx.LoadVector256(w + i), Avx.LoadVector256(x + i), a0);
        float s = HSum(Avx.Add(Avx.Add(a0, a1), Avx.Add(a2, a3)));
        for (; i < n; i++) s += w[i] * x[i];
        return s;
    }

    public static float F32Avx512(float* w, float* x, int n)
    {
        var a0 = Vector512<float>.Zero; var a1 = a0;
        int i = 0;
        for (; i + 32 <= n; i += 32)
        {
            a0 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(w + i), Avx512F.LoadVector512(x + i), a0);
            a1 = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(w + i + 16), Avx512F.LoadVector512(x + i + 16), a1);
        }
        var a = Avx512F.Add(a0, a1);
        var v = Avx.Add(a.GetLower(), a.GetUpper());
        for (; i + 8 <= n; i += 8) v = Fma.MultiplyAdd(Avx.LoadVector256(w + i), Avx.LoadVector256(x + i), v);
        float s = HSum(v);
        for (; i < n; i++) s += w[i] * x[i];
        return s;
    }

    public static float F16Scalar(ushort* w, float* x, int n)
    {
        float s = 0;
        for (int i = 0; i < n; i++) s += Fp16.ToFloat(w[i]) * x[i];
        return s;
    }

    /// <summary>
    /// 8 fp16 → 8 f32, exact (subnormals, ±0, Inf and NaN included). .NET exposes no F16C intrinsic, so this is integer
    /// re-biasing; subnormal halves go through an int → float conversion so no denormal float is ever touched (no
    /// micro-code assists).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> HalfToSingle(Vector128<ushort> h)
    {
        var w = Avx2.ConvertToVector256Int32(h);                              // zero-extended
        var e = Avx2.And(w, Vector256.Create(0x7C00));
        var norm = Avx2.Add(Avx2.ShiftLeftLogical(Avx2.And(w, Vector256.Create(0x7FFF)), 13), Vector256.Create(112 << 23));
        var sub = Avx.Multiply(Avx.ConvertToVector256Single(Avx2.And(w, Vector256.Create(0x3FF))), Vector256.Create(1f / 16777216f)).AsInt32();
        var r = Avx2.BlendVariable(norm, sub, Avx2.CompareEqual(e, Vector256<int>.Zero));
        r = Avx2.BlendVariable(r, Avx2.Add(norm, Vector256.Create(112 << 23)), Avx2.CompareEqual(e, Vector256.Create(0x7C00)));
        return Avx2.Or(r, Avx2.ShiftLeftLogical(Avx2.And(w, Vector256.Create(0x8000)), 16)).AsSingle();
    }

    public static float F16Avx2(ushort* w, float* x, int n)
    {
        var a0 = Vector256<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
        int i = 0;
        for (; i + 32 <= n; i += 32)
        {
            a0 = Fma.MultiplyAdd(HalfToSingle(Sse2.LoadVector128(w + i)), Avx.LoadVector256(x + i), a0);
            a1 = Fma.MultiplyAdd(HalfToSingle(Sse2.LoadVector128(w + i + 8)), Avx.LoadVector256(x + i + 8), a1);
            a2 = Fma.MultiplyAdd(HalfToSingle(Sse2.LoadVector128(w + i + 16)), Avx.LoadVector256(x + i + 16), a2);
            a3 = Fma.MultiplyAdd(HalfToSingle(Sse2.LoadVector128(w + i + 24)), Avx.LoadVector256(x + i + 24), a3);
        }
        for (; i + 8 <= n; i += 8) a0 = Fma.MultiplyAdd(HalfToSingle(Sse2.LoadVector128(w + i)), Avx.LoadVector256(x + i), a0);
        float s = HSum(Avx.Add(Avx.Add(a0, a1), Avx.Add(a2, a3)));
        for (; i < n; i++) s += Fp16.ToFloat(w[i]) * x[i];
        return s;
    }

    /// <summary>Converts n fp16 values to f32 (used to reuse an F16 row across several activation rows).</summary>
    public static void F16ToF32(ushort* w, float* dst, int n, SimdLevel level)
    {
        int i = 0;
        if (level != SimdLevel.Scalar)
            for (; i + 8 <= n; i += 8) Avx.Store(dst + i, HalfToSingle(Sse2.LoadVector128(w + i)));
        for (; i < n; i++) dst[i] = Fp16.ToFloat(w[i]);
    }
}
