using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using IQuant.Core.Quants;

namespace IQuant.Core.Kernels;

/// <summary>Whole-row dot products for Q8_0 (× Q8_0 activations) and the float types.</summary>
internal static unsafe class RowDots
{
    // ---------------- 32-weight block types (Q8_0, Q4_0, Q5_0, Q6_0, IQ4_NL) × Q8_0 activations ----------------
    // Per (weight row, activation row) the result is acc = Σ_b in block order of acc + (f32(d_w,b) · d_a,b) · isum_b,
    // isum_b the exact int32 dot of the block's 32 integer weights with its 32 int8 activations (product, then sum:
    // no FMA). The SIMD kernels compute eight such (row, vector) pairs at once, one per float lane: per block, eight
    // integer lane-sum vectors (vpdpbusd or pmaddubsw+pmaddwd of |w| with sign(q, w)) are reduced by a phaddd tree into
    // one vector holding the eight isums, which is converted and scaled by eight block factors at once. The tile is
    // one weight row × eight activation rows for prompt batches, eight weight rows × one activation row otherwise;
    // every lane follows the scalar order, so every level, tile shape and thread count gives identical floats.

    public static float B32Scalar<TB>(byte* w, byte* a, int nBlocks) where TB : struct, IBlock32
    {
        sbyte* qw = stackalloc sbyte[32];
        float* da = (float*)a;
        sbyte* qa = (sbyte*)(a + Q8Activations.Q80Qs(nBlocks));
        float acc = 0;
        for (int b = 0; b < nBlocks; b++, w += TB.Bytes, qa += 32)
        {
            TB.Scalar(w, qw);
            int s = 0;
            for (int j = 0; j < 32; j++) s += qw[j] * qa[j];
            float f = Fp16.ToFloat(*(ushort*)w) * da[b];
            acc += f * s;
        }
        return acc;
    }

    /// <summary>Eight int32 lane-sum vectors → one vector whose lane p is the total of vector p (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Reduce8(Vector256<int> s0, Vector256<int> s1, Vector256<int> s2, Vector256<int> s3,
        Vector256<int> s4, Vector256<int> s5, Vector256<int> s6, Vector256<int> s7)
    {
        var g0 = Avx2.HorizontalAdd(Avx2.HorizontalAdd(s0, s1), Avx2.HorizontalAdd(s2, s3));   // lo: 0..3 (elements 0-3), hi: 0..3 (4-7)
        var g1 = Avx2.HorizontalAdd(Avx2.HorizontalAdd(s4, s5), Avx2.HorizontalAdd(s6, s7));
        return Avx2.Add(Avx2.Permute2x128(g0, g1, 0x20), Avx2.Permute2x128(g0, g1, 0x31));
    }

    /// <summary>Lane sums of 32 products: |w| (unsigned) × sign(q, w), exact (no int16 saturation: 2·128·127 &lt; 2^15).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> LaneDot<TV>(Vector256<byte> aw, Vector256<sbyte> wv, sbyte* q) where TV : struct, IFlag
    {
        var qs = Avx2.Sign(Avx.LoadVector256(q), wv);
        return TV.On ? AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, aw, qs)
                     : Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(aw, qs), Vector256.Create((short)1));
    }

    /// <summary>One weight row × eight activation rows (q pointers <paramref name="qa"/>; block factors' activation
    /// halves transposed in <paramref name="daT"/>: 8 floats per block); results to <paramref name="res"/>[0..8).</summary>
    private static void Row8Vecs<TB, TV>(byte* w, sbyte** qa, float* daT, int nBlocks, float* res)
        where TB : struct, IBlock32 where TV : struct, IFlag
    {
        var acc = Vector256<float>.Zero;
        sbyte* q0 = qa[0], q1 = qa[1], q2 = qa[2], q3 = qa[3], q4 = qa[4], q5 = qa[5], q6 = qa[6], q7 = qa[7];
        var gather = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * TB.Bytes;
        for (int b0 = 0; b0 < nBlocks; b0 += 8)
        {
            int n = Math.Min(8, nBlocks - b0);
            Vector256<float> fw = n == 8
                ? HalfToSingle(Avx2.And(Avx2.GatherVector256((int*)(w + TB.Bytes * b0), gather, 1), Vector256.Create(0xFFFF)))
                : default;
            for (int j = 0; j < n; j++)
            {
                int b = b0 + j;
                byte* blk = w + TB.Bytes * b;
                var wv = TB.Values(blk);
                var aw = Avx2.Abs(wv);
                int o = 32 * b;
                var t = Reduce8(LaneDot<TV>(aw, wv, q0 + o), LaneDot<TV>(aw, wv, q1 + o), LaneDot<TV>(aw, wv, q2 + o), LaneDot<TV>(aw, wv, q3 + o),
                                LaneDot<TV>(aw, wv, q4 + o), LaneDot<TV>(aw, wv, q5 + o), LaneDot<TV>(aw, wv, q6 + o), LaneDot<TV>(aw, wv, q7 + o));
                var fj = n == 8 ? Avx2.PermuteVar8x32(fw, Vector256.Create(j)) : Vector256.Create(Fp16.ToFloat(*(ushort*)blk));
                var f = Avx.Multiply(fj, Avx.LoadVector256(daT + 8 * b));
                acc = Avx.Add(acc, Avx.Multiply(f, Avx.ConvertToVector256Single(t)));
            }
        }
        Avx.Store(res, acc);
    }

    /// <summary>Eight weight rows (byte offsets <paramref name="rowOff"/> from <paramref name="w0"/>) × one activation row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Rows8Vec<TB, TV>(byte* w0, Vector256<int> rowOff, byte* a, int nBlocks, float* res, byte* prefetch, long prefetchBytes)
        where TB : struct, IBlock32 where TV : struct, IFlag
    {
        // While this tile is computed, the next one (contiguous rows, prefetchBytes from prefetch) is fetched line by
        // line in step with the blocks: eight interleaved row streams alone are served worse from DRAM than one.
        // Bresenham step: pfLines lines over nBlocks blocks without a division per block.
        long pfLines = (prefetchBytes + 63) >> 6, pfDone = 0, pfAcc = 0;
        var acc = Vector256<float>.Zero;
        float* da = (float*)a;
        sbyte* qa = (sbyte*)(a + Q8Activations.Q80Qs(nBlocks));
        int o1 = rowOff.GetElement(1), o2 = rowOff.GetElement(2), o3 = rowOff.GetElement(3), o4 = rowOff.GetElement(4),
            o5 = rowOff.GetElement(5), o6 = rowOff.GetElement(6), o7 = rowOff.GetElement(7);
        var mask = Vector256.Create(0xFFFF);
        for (int b = 0; b < nBlocks; b++)
        {
            byte* blk = w0 + TB.Bytes * b;
            sbyte* q = qa + 32 * b;
            var v0 = TB.Values(blk); var v1 = TB.Values(blk + o1); var v2 = TB.Values(blk + o2); var v3 = TB.Values(blk + o3);
            var v4 = TB.Values(blk + o4); var v5 = TB.Values(blk + o5); var v6 = TB.Values(blk + o6); var v7 = TB.Values(blk + o7);
            var t = Reduce8(LaneDot<TV>(Avx2.Abs(v0), v0, q), LaneDot<TV>(Avx2.Abs(v1), v1, q), LaneDot<TV>(Avx2.Abs(v2), v2, q), LaneDot<TV>(Avx2.Abs(v3), v3, q),
                            LaneDot<TV>(Avx2.Abs(v4), v4, q), LaneDot<TV>(Avx2.Abs(v5), v5, q), LaneDot<TV>(Avx2.Abs(v6), v6, q), LaneDot<TV>(Avx2.Abs(v7), v7, q));
            if (prefetch != null)
                for (pfAcc += pfLines; pfAcc >= nBlocks; pfAcc -= nBlocks, pfDone++) Sse.Prefetch0(prefetch + (pfDone << 6));
            var fw = HalfToSingle(Avx2.And(Avx2.GatherVector256((int*)blk, rowOff, 1), mask));
            var f = Avx.Multiply(fw, Vector256.Create(da[b]));
            acc = Avx.Add(acc, Avx.Multiply(f, Avx.ConvertToVector256Single(t)));
        }
        Avx.Store(res, acc);
    }

    [ThreadStatic] private static float[]? t_daT;
    [ThreadStatic] private static float* t_daTp;

    /// <summary>Rows [start, end) of a 32-weight-block matrix against nVec Q8_0 activation rows.</summary>
    public static void RowsB32<TB>(WeightMatrix w, SimdLevel level, byte* act, long actRowBytes, int nVec, float* y, int start, int end)
        where TB : struct, IBlock32
    {
        if (level == SimdLevel.Scalar)
        {
            int nbs = w.Cols / 32;
            for (int r = start; r < end; r++)
                for (int v = 0; v < nVec; v++) y[(long)v * w.Rows + r] = B32Scalar<TB>(w.Row(r), act + v * actRowBytes, nbs);
            return;
        }
        if (level == SimdLevel.Avx512 && AvxVnni.IsSupported) RowsB32Simd<TB, Yes>(w, act, actRowBytes, nVec, y, start, end);
        else RowsB32Simd<TB, No>(w, act, actRowBytes, nVec, y, start, end);
    }

    private static void RowsB32Simd<TB, TV>(WeightMatrix w, byte* act, long actRowBytes, int nVec, float* y, int start, int end)
        where TB : struct, IBlock32 where TV : struct, IFlag
    {
        int nb = w.Cols / 32;
        float* res = stackalloc float[8];
        if (nVec < 8)
        {
            // Eight weight rows per pass (the last tile repeats its last row), each activation row in turn.
            for (int r0 = start; r0 < end; r0 += 8)
            {
                int nr = Math.Min(8, end - r0);
                var off = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
                off = Avx2.Min(off, Vector256.Create(nr - 1)) * (int)w.RowBytes;
                byte* w0 = w.Row(r0);
                // The eight rows are read as eight interleaved streams, which hardware prefetchers serve worse than
                // one sequential stream once the matrix comes from DRAM: fetch the next tile (contiguous rows) ahead.
                byte* next = r0 + 8 < end ? w.Row(r0 + 8) : null;
                long nextBytes = next == null ? 0 : Math.Min(8, end - r0 - 8) * w.RowBytes;
                for (int v = 0; v < nVec; v++)
                {
                    Rows8Vec<TB, TV>(w0, off, act + v * actRowBytes, nb, res, v == 0 ? next : null, nextBytes);
                    for (int j = 0; j < nr; j++) y[(long)v * w.Rows + r0 + j] = res[j];
                }
            }
            return;
        }
        // One weight row × eight activation rows per pass (the last group repeats its last row). The activation scales
        // are transposed first: daT[g][b][k] = d_a of activation row 8g + k, block b.
        int groups = (nVec + 7) / 8;
        long need = (long)groups * nb * 8;
        if (t_daT is null || t_daT.Length < need + 16)
        {
            t_daT = GC.AllocateUninitializedArray<float>(checked((int)need + 16), pinned: true);
            fixed (float* p = t_daT) t_daTp = (float*)(((nint)p + 31) & ~(nint)31);
        }
        float* daT = t_daTp;
        sbyte** qa = stackalloc sbyte*[8 * groups];
        for (int g = 0; g < groups; g++)
            for (int k = 0; k < 8; k++)
            {
                int v = Math.Min(8 * g + k, nVec - 1);
                float* da = (float*)(act + v * actRowBytes);
                qa[8 * g + k] = (sbyte*)(act + v * actRowBytes + Q8Activations.Q80Qs(nb));
                float* dst = daT + (long)g * nb * 8 + k;
                for (int b = 0; b < nb; b++) dst[8 * b] = da[b];
            }
        for (int r = start; r < end; r++)
        {
            byte* row = w.Row(r);
            for (int g = 0; g < groups; g++)
            {
                Row8Vecs<TB, TV>(row, qa + 8 * g, daT + (long)g * nb * 8, nb, res);
                int nv = Math.Min(8, nVec - 8 * g);
                for (int k = 0; k < nv; k++) y[(long)(8 * g + k) * w.Rows + r] = res[k];
            }
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
