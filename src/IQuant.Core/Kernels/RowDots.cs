using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using IQuant.Core.Quants;

namespace IQuant.Core.Kernels;

/// <summary>Whole-row dot products for Q8_0 (× Q8_0 activations) and the float types.</summary>
internal static unsafe class RowDots
{
    // ---------------- 32-weight block types (Q8_0, Q4_0, Q5_0, Q6_0, IQ4_NL) × Q8_0 activations ----------------
    // Block b: 32 signed int8 weights v, fp16 scale d_w at the block start. 8 int32 lane sums s_l (lane l = elements
    // 4l..4l+3), block factor f_b = f32(d_w) · d_a (one f32 product), then acc[b & 1][l] += f_b · s_l (product, then
    // sum: no FMA). At the end t_l = acc[0][l] + acc[1][l] and the row result is ((t0+t4)+(t2+t6)) + ((t1+t5)+(t3+t7)).
    // The scalar path follows the same order, so every level returns identical floats.

    public static float B32Scalar<TB>(byte* w, byte* a, int nBlocks) where TB : struct, IBlock32
    {
        float* acc = stackalloc float[16];
        for (int k = 0; k < 16; k++) acc[k] = 0;
        sbyte* qw = stackalloc sbyte[32];
        float* da = (float*)a;
        sbyte* qa = (sbyte*)(a + Q8Activations.Q80Qs(nBlocks));
        for (int b = 0; b < nBlocks; b++, w += TB.Bytes, qa += 32)
        {
            float f = Fp16.ToFloat(*(ushort*)w) * da[b];
            TB.Scalar(w, qw);
            float* ac = acc + 8 * (b & 1);
            for (int k = 0; k < 8; k++)
            {
                int s = qw[4 * k] * qa[4 * k] + qw[4 * k + 1] * qa[4 * k + 1] + qw[4 * k + 2] * qa[4 * k + 2] + qw[4 * k + 3] * qa[4 * k + 3];
                ac[k] += f * s;
            }
        }
        float* t = stackalloc float[8];
        for (int k = 0; k < 8; k++) t[k] = acc[k] + acc[8 + k];
        return ((t[0] + t[4]) + (t[2] + t[6])) + ((t[1] + t[5]) + (t[3] + t[7]));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void B32Block<TB, TN>(byte* w, int b, Vector256<float> fw, int j, byte** qa, float** da,
        ref Vector256<float> a0, ref Vector256<float> a1, ref Vector256<float> a2, ref Vector256<float> a3)
        where TB : struct, IBlock32 where TN : struct, IVecCount
    {
        var qw = TB.Values(w + TB.Bytes * b);
        var aw = Avx2.Abs(qw);
        var ones = Vector256.Create((short)1);
        var fj = Avx2.PermuteVar8x32(fw, Vector256.Create(j));
        a0 = Avx.Add(a0, Avx.Multiply(Avx.Multiply(fj, Vector256.Create(da[0][b])),
            Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(aw, Avx2.Sign(Avx.LoadVector256((sbyte*)qa[0] + 32 * b), qw)), ones))));
        if (TN.N > 1) a1 = Avx.Add(a1, Avx.Multiply(Avx.Multiply(fj, Vector256.Create(da[1][b])),
            Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(aw, Avx2.Sign(Avx.LoadVector256((sbyte*)qa[1] + 32 * b), qw)), ones))));
        if (TN.N > 2) a2 = Avx.Add(a2, Avx.Multiply(Avx.Multiply(fj, Vector256.Create(da[2][b])),
            Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(aw, Avx2.Sign(Avx.LoadVector256((sbyte*)qa[2] + 32 * b), qw)), ones))));
        if (TN.N > 3) a3 = Avx.Add(a3, Avx.Multiply(Avx.Multiply(fj, Vector256.Create(da[3][b])),
            Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(aw, Avx2.Sign(Avx.LoadVector256((sbyte*)qa[3] + 32 * b), qw)), ones))));
    }

    /// <summary>Row of 32-weight-block weights × up to 4 Q8_0 activation rows (weights decoded once).</summary>
    public static void B32Avx2<TB, TN>(byte* w, byte* a, long aStride, int nBlocks, float* res) where TB : struct, IBlock32 where TN : struct, IVecCount
    {
        byte** qa = stackalloc byte*[4];
        float** da = stackalloc float*[4];
        for (int v = 0; v < TN.N; v++) { da[v] = (float*)(a + v * aStride); qa[v] = a + v * aStride + Q8Activations.Q80Qs(nBlocks); }
        Vector256<float> e0 = default, e1 = default, e2 = default, e3 = default;   // even blocks
        Vector256<float> o0 = default, o1 = default, o2 = default, o3 = default;   // odd blocks
        var gather = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * TB.Bytes;
        int b = 0;
        for (; b + 8 <= nBlocks; b += 8)
        {
            var fw = HalfToSingle(Avx2.And(Avx2.GatherVector256((int*)(w + TB.Bytes * b), gather, 1), Vector256.Create(0xFFFF)));
            B32Block<TB, TN>(w, b, fw, 0, qa, da, ref e0, ref e1, ref e2, ref e3);
            B32Block<TB, TN>(w, b + 1, fw, 1, qa, da, ref o0, ref o1, ref o2, ref o3);
            B32Block<TB, TN>(w, b + 2, fw, 2, qa, da, ref e0, ref e1, ref e2, ref e3);
            B32Block<TB, TN>(w, b + 3, fw, 3, qa, da, ref o0, ref o1, ref o2, ref o3);
            B32Block<TB, TN>(w, b + 4, fw, 4, qa, da, ref e0, ref e1, ref e2, ref e3);
            B32Block<TB, TN>(w, b + 5, fw, 5, qa, da, ref o0, ref o1, ref o2, ref o3);
            B32Block<TB, TN>(w, b + 6, fw, 6, qa, da, ref e0, ref e1, ref e2, ref e3);
            B32Block<TB, TN>(w, b + 7, fw, 7, qa, da, ref o0, ref o1, ref o2, ref o3);
        }
        for (; b < nBlocks; b++)
        {
            var fw = Vector256.Create(Fp16.ToFloat(*(ushort*)(w + TB.Bytes * b)));
            if ((b & 1) == 0) B32Block<TB, TN>(w, b, fw, 0, qa, da, ref e0, ref e1, ref e2, ref e3);
            else B32Block<TB, TN>(w, b, fw, 0, qa, da, ref o0, ref o1, ref o2, ref o3);
        }
        res[0] = HSum(Avx.Add(e0, o0));
        if (TN.N > 1) res[1] = HSum(Avx.Add(e1, o1));
        if (TN.N > 2) res[2] = HSum(Avx.Add(e2, o2));
        if (TN.N > 3) res[3] = HSum(Avx.Add(e3, o3));
    }

    /// <summary>Rows [start, end) of a 32-weight-block matrix against nVec Q8_0 activation rows.</summary>
    public static void RowsB32<TB>(WeightMatrix w, SimdLevel level, byte* act, long actRowBytes, int nVec, float* y, int start, int end)
        where TB : struct, IBlock32
    {
        int nb = w.Cols / 32;
        float* res = stackalloc float[4];
        for (int r = start; r < end; r++)
        {
            byte* row = w.Row(r);
            if (level == SimdLevel.Scalar)
            {
                for (int v = 0; v < nVec; v++) y[(long)v * w.Rows + r] = B32Scalar<TB>(row, act + v * actRowBytes, nb);
                continue;
            }
            int v0 = 0;
            for (; v0 + 4 <= nVec; v0 += 4)
            {
                B32Avx2<TB, Vec4>(row, act + v0 * actRowBytes, actRowBytes, nb, res);
                for (int j = 0; j < 4; j++) y[(long)(v0 + j) * w.Rows + r] = res[j];
            }
            int left = nVec - v0;
            if (left == 0) continue;
            byte* a = act + v0 * actRowBytes;
            if (left == 1) B32Avx2<TB, Vec1>(row, a, actRowBytes, nb, res);
            else if (left == 2) B32Avx2<TB, Vec2>(row, a, actRowBytes, nb, res);
            else B32Avx2<TB, Vec3>(row, a, actRowBytes, nb, res);
            for (int j = 0; j < left; j++) y[(long)(v0 + j) * w.Rows + r] = res[j];
        }
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
    public static Vector256<float> HalfToSingle(Vector128<ushort> h) => HalfToSingle(Avx2.ConvertToVector256Int32(h));

    /// <summary>8 fp16 values held in the low 16 bits of int32 lanes (upper bits zero) → f32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> HalfToSingle(Vector256<int> w)
    {
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

    /// <summary>16 fp16 → 16 f32 with 512-bit vectors; same algorithm and results as <see cref="HalfToSingle(Vector256{int})"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> HalfToSingle512(Vector256<ushort> h)
    {
        var w = Avx512F.ConvertToVector512Int32(h);                         // zero-extended
        var e = Avx512F.And(w, Vector512.Create(0x7C00));
        var norm = Avx512F.Add(Avx512F.ShiftLeftLogical(Avx512F.And(w, Vector512.Create(0x7FFF)), 13), Vector512.Create(112 << 23));
        var sub = Avx512F.Multiply(Avx512F.ConvertToVector512Single(Avx512F.And(w, Vector512.Create(0x3FF))), Vector512.Create(1f / 16777216f)).AsInt32();
        var r = Vector512.ConditionalSelect(Vector512.Equals(e, Vector512<int>.Zero), sub, norm);
        r = Vector512.ConditionalSelect(Vector512.Equals(e, Vector512.Create(0x7C00)), Avx512F.Add(norm, Vector512.Create(112 << 23)), r);
        return Avx512F.Or(r, Avx512F.ShiftLeftLogical(Avx512F.And(w, Vector512.Create(0x8000)), 16)).AsSingle();
    }

    public static float F16Avx512(ushort* w, float* x, int n)
    {
        var a0 = Vector512<float>.Zero; var a1 = a0;
        int i = 0;
        for (; i + 32 <= n; i += 32)
        {
            a0 = Avx512F.FusedMultiplyAdd(HalfToSingle512(Avx.LoadVector256(w + i)), Avx512F.LoadVector512(x + i), a0);
            a1 = Avx512F.FusedMultiplyAdd(HalfToSingle512(Avx.LoadVector256(w + i + 16)), Avx512F.LoadVector512(x + i + 16), a1);
        }
        var a = Avx512F.Add(a0, a1);
        var v = Avx.Add(a.GetLower(), a.GetUpper());
        for (; i + 8 <= n; i += 8) v = Fma.MultiplyAdd(HalfToSingle(Sse2.LoadVector128(w + i)), Avx.LoadVector256(x + i), v);
        float s = HSum(v);
        for (; i < n; i++) s += Fp16.ToFloat(w[i]) * x[i];
        return s;
    }

    /// <summary>Converts n fp16 values to f32 (used to reuse an F16 row across several activation rows).</summary>
    public static void F16ToF32(ushort* w, float* dst, int n, SimdLevel level)
    {
        int i = 0;
        if (level == SimdLevel.Avx512)
            for (; i + 16 <= n; i += 16) Avx512F.Store(dst + i, HalfToSingle512(Avx.LoadVector256(w + i)));
        if (level != SimdLevel.Scalar)
            for (; i + 8 <= n; i += 8) Avx.Store(dst + i, HalfToSingle(Sse2.LoadVector128(w + i)));
        for (; i < n; i++) dst[i] = Fp16.ToFloat(w[i]);
    }
}
