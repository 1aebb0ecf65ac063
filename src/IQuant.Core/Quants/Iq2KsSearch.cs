using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace IQuant.Core.Quants;

/// <summary>Pass 1 of the two IQ2_KS encoders (spec §4.3 B8 and §4.8 Block1).</summary>
internal static unsafe class Iq2KsSearch
{
    /// <summary>HSUM of §4.8: ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HSum(ReadOnlySpan<float> v) => ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));

    /// <summary>Scalar path (§4.3): B8 exhaustive partition search per sub-block.</summary>
    public static void PartitionRow(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> amax,
        Span<float> scales, Span<bool> shifted, SimdLevel level)
    {
        if (level == SimdLevel.Avx512) { Partition512(x, w, amax, scales, shifted); return; }
        if (level == SimdLevel.Avx2) { Partition256(x, w, amax, scales, shifted); return; }
        Span<float> sx = stackalloc float[33];
        Span<float> sw = stackalloc float[33];
        for (int i = 0; i < scales.Length; i++)
        {
            if (amax[i] < 1e-16f) { scales[i] = 0; shifted[i] = false; continue; }
            PrefixSums(x.Slice(32 * i, 32), w.Slice(32 * i, 32), sx, sw);
            scales[i] = Partition(sx, sw, out bool sh);
            shifted[i] = sh;
        }
    }

    /// <summary>Sorts (x, index) ascending (ties by index) and forms the prefix sums of w and w*x in that order.</summary>
    public static void PrefixSums(ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> sx, Span<float> sw)
    {
        Span<int> ord = stackalloc int[32];
        for (int j = 0; j < 32; j++)
        {
            // insertion sort on (value, index)
            int k = j;
            float v = x[j];
            while (k > 0 && v < x[ord[k - 1]]) { ord[k] = ord[k - 1]; k--; }
            ord[k] = j;
        }
        sx[0] = 0; sw[0] = 0;
        for (int k = 0; k < 32; k++)
        {
            int j = ord[k];
            sw[k + 1] = sw[k] + w[j];
            sx[k + 1] = sx[k] + w[j] * x[j];
        }
    }

    /// <summary>B8 with B = 32, MAX1 = 24, MIN3 = 8 over iq2nl normal/shifted, scalar.</summary>
    public static float Partition(ReadOnlySpan<float> SX, ReadOnlySpan<float> SW, out bool shifted)
    {
        const float t0 = -31, t1 = -13, t2 = 1, t3 = 17, s0 = -26, s1 = -8, s2 = 6, s3 = 22;
        float best = 0, d = 0;
        shifted = false;
        for (int i1 = 0; i1 < 24; i1++)
        {
            float a = SX[i1] - SX[0], wa = SW[i1] - SW[0];
            for (int i2 = i1; i2 < 32; i2++)
            {
                float b = SX[i2] - SX[i1], wb = SW[i2] - SW[i1];
                for (int i3 = Math.Max(i2, 8); i3 < 32; i3++)
                {
                    float c = SX[i3] - SX[i2], wc = SW[i3] - SW[i2];
                    float e = SX[32] - SX[i3], we = SW[32] - SW[i3];
                    Cand(a, b, c, e, wa, wb, wc, we, t0, t1, t2, t3, false, ref best, ref d, ref shifted);
                    Cand(a, b, c, e, wa, wb, wc, we, s0, s1, s2, s3, true, ref best, ref d, ref shifted);
                    Cand(a, b, c, e, wa, wb, wc, we, t3, t2, t1, t0, false, ref best, ref d, ref shifted);
                    Cand(a, b, c, e, wa, wb, wc, we, s3, s2, s1, s0, true, ref best, ref d, ref shifted);
                }
            }
        }
        return d;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Cand(float a, float b, float c, float e, float wa, float wb, float wc, float we,
        float v0, float v1, float v2, float v3, bool sh, ref float best, ref float d, ref bool shifted)
    {
        float num = a * v0 + b * v1 + c * v2 + e * v3;
        float den = (wa * v0) * v0 + (wb * v1) * v1 + (wc * v2) * v2 + (we * v3) * v3;
        if (den > 0 && num * num > best * den)
        {
            d = num / den;
            best = d * num;
            shifted = sh;
        }
    }

    /// <summary>AVX2 path (§4.8): 1 + 27 + 27 Block1 candidates per sub-block.</summary>
    public static void FastRow(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> max,
        ReadOnlySpan<float> amax, Span<float> scales, Span<bool> shifted, SimdLevel level)
    {
        if (level == SimdLevel.Avx512) { Fast512(x, w, max, amax, scales, shifted); return; }
        if (level == SimdLevel.Avx2) { Fast256(x, w, max, amax, scales, shifted); return; }
        ReadOnlySpan<sbyte> tab = KsTables.Iq2nl;
        Span<float> N = stackalloc float[4];
        Span<float> S = stackalloc float[4];
        for (int k = 0; k < 4; k++) { N[k] = tab[k]; S[k] = tab[4 + k]; }
        for (int i = 0; i < scales.Length; i++)
        {
            if (amax[i] < 1e-14f) { scales[i] = 0; shifted[i] = false; continue; }
            var xs = x.Slice(32 * i, 32);
            var ws = w.Slice(32 * i, 32);
            float m = max[i];
            float d = m / 22.0f, best = 0;
            if (Block1(d, xs, ws, N, out float dp, out float sc)) { best = sc; d = dp; }
            for (int itry = -13; itry <= 13; itry++)
                if (Block1(m / (-31 + 0.5f * itry), xs, ws, N, out dp, out sc) && sc > best) { best = sc; d = dp; }
            bool sh = false;
            for (int itry = -13; itry <= 13; itry++)
                if (Block1(m / (-26 + 0.5f * itry), xs, ws, S, out dp, out sc) && sc > best) { best = sc; d = dp; sh = true; }
            scales[i] = d;
            shifted[i] = sh;
        }
    }

    /// <summary>Block1 of §4.8, scalar with explicit FMAs.</summary>
    public static bool Block1(float dc, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> V,
        out float dOut, out float score)
    {
        Span<float> ap = stackalloc float[8], bp = stackalloc float[8], am = stackalloc float[8], bm = stackalloc float[8];
        float v0 = dc * V[0], v1 = dc * V[1], v2 = dc * V[2], v3 = dc * V[3];
        for (int e = 0; e < 32; e++)
        {
            float xe = x[e];
            int ip = 0, im = 0;
            float dp = xe - v0, bestp = dp * dp;
            float dm = xe + v0, bestm = dm * dm;
            dp = xe - v1; float sq = dp * dp; if (sq < bestp) { bestp = sq; ip = 1; }
            dm = xe + v1; sq = dm * dm; if (sq < bestm) { bestm = sq; im = 1; }
            dp = xe - v2; sq = dp * dp; if (sq < bestp) { bestp = sq; ip = 2; }
            dm = xe + v2; sq = dm * dm; if (sq < bestm) { bestm = sq; im = 2; }
            dp = xe - v3; sq = dp * dp; if (sq < bestp) { ip = 3; }
            dm = xe + v3; sq = dm * dm; if (sq < bestm) { im = 3; }
            int l = e & 7;
            float q = V[ip], t = w[e] * q;
            ap[l] = MathF.FusedMultiplyAdd(t, xe, ap[l]);
            bp[l] = MathF.FusedMultiplyAdd(t, q, bp[l]);
            q = V[im]; t = w[e] * q;
            am[l] = MathF.FusedMultiplyAdd(t, xe, am[l]);
            bm[l] = MathF.FusedMultiplyAdd(t, q, bm[l]);
        }
        float sxp = HSum(ap), s2p = HSum(bp), sxm = HSum(am), s2m = HSum(bm);
        bool ok = false;
        dOut = 0; score = 0;
        if (s2p > 0) { dOut = sxp / s2p; score = sxp * dOut; ok = true; }
        if (s2m > 0 && (!ok || sxm * sxm > score * s2m)) { dOut = sxm / s2m; score = sxm * dOut; ok = true; }
        return ok;
    }

    /// <summary>Rmse of §4.8: nearest values for scale dc (ties to the lower index) and the FMA error sum.</summary>
    public static float Rmse(float dc, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> V, Span<byte> idx)
    {
        Span<float> r = stackalloc float[8];
        float v0 = dc * V[0], v1 = dc * V[1], v2 = dc * V[2], v3 = dc * V[3];
        for (int e = 0; e < 32; e++)
        {
            float xe = x[e];
            int ip = 0;
            float dp = xe - v0, bestp = dp * dp;
            dp = xe - v1; float sq = dp * dp; if (sq < bestp) { bestp = sq; ip = 1; }
            dp = xe - v2; sq = dp * dp; if (sq < bestp) { bestp = sq; ip = 2; }
            dp = xe - v3; sq = dp * dp; if (sq < bestp) { ip = 3; }
            idx[e] = (byte)ip;
            float diff = MathF.FusedMultiplyAdd(-dc, V[ip], xe);
            float t = w[e] * diff;
            r[e & 7] = MathF.FusedMultiplyAdd(t, diff, r[e & 7]);
        }
        return HSum(r);
    }

    /// <summary>Rmse of §4.8 in its own Vector256 layout; indices to <paramref name="idx"/> (32 bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float RmseV(float dc, float* x, float* w, bool shifted, byte* idx)
    {
        float V0, V1, V2, V3;
        if (shifted) { V0 = -26; V1 = -8; V2 = 6; V3 = 22; } else { V0 = -31; V1 = -13; V2 = 1; V3 = 17; }
        var val0 = Vector256.Create(dc * V0); var val1 = Vector256.Create(dc * V1);
        var val2 = Vector256.Create(dc * V2); var val3 = Vector256.Create(dc * V3);
        var c0 = Vector256.Create(V0); var c1 = Vector256.Create(V1); var c2 = Vector256.Create(V2); var c3 = Vector256.Create(V3);
        var mdc = Vector256.Create(-dc);
        var r = Vector256<float>.Zero;
        Vector256<int> ix0 = default, ix1 = default, ix2 = default, ix3 = default;
        for (int k = 0; k < 4; k++)
        {
            var xv = Vector256.Load(x + 8 * k);
            var d = xv - val0; var best = d * d; var q = c0; var ix = Vector256<int>.Zero;
            d = xv - val1; var sq = d * d; var m = Vector256.LessThan(sq, best);
            q = Vector256.ConditionalSelect(m, c1, q); ix = Vector256.ConditionalSelect(m.AsInt32(), Vector256.Create(1), ix); best = Vector256.MinNative(sq, best);
            d = xv - val2; sq = d * d; m = Vector256.LessThan(sq, best);
            q = Vector256.ConditionalSelect(m, c2, q); ix = Vector256.ConditionalSelect(m.AsInt32(), Vector256.Create(2), ix); best = Vector256.MinNative(sq, best);
            d = xv - val3; sq = d * d; m = Vector256.LessThan(sq, best);
            q = Vector256.ConditionalSelect(m, c3, q); ix = Vector256.ConditionalSelect(m.AsInt32(), Vector256.Create(3), ix);
            var diff = Vector256.FusedMultiplyAdd(mdc, q, xv);
            var t = Vector256.Load(w + 8 * k) * diff;
            r = Vector256.FusedMultiplyAdd(t, diff, r);
            if (k == 0) ix0 = ix; else if (k == 1) ix1 = ix; else if (k == 2) ix2 = ix; else ix3 = ix;
        }
        var b01 = Vector256.Narrow(ix0, ix1);
        var b23 = Vector256.Narrow(ix2, ix3);
        Vector256.Narrow(b01, b23).AsByte().Store(idx);
        return ((r[0] + r[4]) + (r[2] + r[6])) + ((r[1] + r[5]) + (r[3] + r[7]));
    }

    // B8 with one sub-block per lane: the same (i1, i2, i3) loop and candidate order in every lane; the update
    // is taken per lane with masks, after a cheap any-lane test (updates are rare).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Partition512(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> amax,
        Span<float> scales, Span<bool> shifted)
    {
        const int G = 16;
        int nsub = x.Length / 32;
        float* sxt = stackalloc float[33 * G];
        float* swt = stackalloc float[33 * G];
        float* dout = stackalloc float[G];
        int* shout = stackalloc int[G];
        Span<float> sx = stackalloc float[33];
        Span<float> sw = stackalloc float[33];
        for (int first = 0; first < nsub; first += G)
        {
            int active = 0;
            for (int l = 0; l < G; l++)
            {
                int sb = first + l;
                if (sb < nsub && amax[sb] >= 1e-16f)
                {
                    active |= 1 << l;
                    PrefixSums(x.Slice(32 * sb, 32), w.Slice(32 * sb, 32), sx, sw);
                }
                else { sx.Clear(); sw.Clear(); }
                for (int k = 0; k < 33; k++) { sxt[k * G + l] = sx[k]; swt[k * G + l] = sw[k]; }
            }
            if (active != 0) PartitionLanes512(sxt, swt, dout, shout);
            for (int l = 0; l < G && first + l < nsub; l++)
            {
                bool on = (active >> l & 1) != 0;
                scales[first + l] = on ? dout[l] : 0;
                shifted[first + l] = on && shout[l] != 0;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Cand512(Vector512<float> ab, Vector512<float> abw, Vector512<float> c, Vector512<float> e,
        Vector512<float> wc, Vector512<float> we, float v2, float v3, int sh,
        ref Vector512<float> best, ref Vector512<float> d, ref Vector512<int> shv)
    {
        var V2 = Vector512.Create(v2); var V3 = Vector512.Create(v3);
        var num = (ab + c * V2) + e * V3;
        var den = (abw + (wc * V2) * V2) + (we * V3) * V3;
        var m = Vector512.GreaterThan(den, Vector512<float>.Zero) & Vector512.GreaterThan(num * num, best * den);
        if (m == Vector512<float>.Zero) return;
        var nd = num / den;
        d = Vector512.ConditionalSelect(m, nd, d);
        best = Vector512.ConditionalSelect(m, nd * num, best);
        shv = Vector512.ConditionalSelect(m.AsInt32(), Vector512.Create(sh), shv);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PartitionLanes512(float* SX, float* SW, float* dout, int* shout)
    {
        const int G = 16;
        const float t0 = -31, t1 = -13, t2 = 1, t3 = 17, s0 = -26, s1 = -8, s2 = 6, s3 = 22;
        var best = Vector512<float>.Zero;
        var d = Vector512<float>.Zero;
        var shv = Vector512<int>.Zero;
        var sx0 = Vector512.Load(SX); var sw0 = Vector512.Load(SW);
        var sx32 = Vector512.Load(SX + 32 * G); var sw32 = Vector512.Load(SW + 32 * G);
        for (int i1 = 0; i1 < 24; i1++)
        {
            var sx1 = Vector512.Load(SX + i1 * G); var sw1 = Vector512.Load(SW + i1 * G);
            var a = sx1 - sx0; var wa = sw1 - sw0;
            for (int i2 = i1; i2 < 32; i2++)
            {
                var sx2 = Vector512.Load(SX + i2 * G); var sw2 = Vector512.Load(SW + i2 * G);
                var b = sx2 - sx1; var wb = sw2 - sw1;
                var abN = a * Vector512.Create(t0) + b * Vector512.Create(t1);
                var abwN = (wa * Vector512.Create(t0)) * Vector512.Create(t0) + (wb * Vector512.Create(t1)) * Vector512.Create(t1);
                var abS = a * Vector512.Create(s0) + b * Vector512.Create(s1);
                var abwS = (wa * Vector512.Create(s0)) * Vector512.Create(s0) + (wb * Vector512.Create(s1)) * Vector512.Create(s1);
                var abRN = a * Vector512.Create(t3) + b * Vector512.Create(t2);
                var abwRN = (wa * Vector512.Create(t3)) * Vector512.Create(t3) + (wb * Vector512.Create(t2)) * Vector512.Create(t2);
                var abRS = a * Vector512.Create(s3) + b * Vector512.Create(s2);
                var abwRS = (wa * Vector512.Create(s3)) * Vector512.Create(s3) + (wb * Vector512.Create(s2)) * Vector512.Create(s2);
                for (int i3 = Math.Max(i2, 8); i3 < 32; i3++)
                {
                    var sx3 = Vector512.Load(SX + i3 * G); var sw3 = Vector512.Load(SW + i3 * G);
                    var c = sx3 - sx2; var wc = sw3 - sw2;
                    var e = sx32 - sx3; var we = sw32 - sw3;
                    Cand512(abN, abwN, c, e, wc, we, t2, t3, 0, ref best, ref d, ref shv);
                    Cand512(abS, abwS, c, e, wc, we, s2, s3, 1, ref best, ref d, ref shv);
                    Cand512(abRN, abwRN, c, e, wc, we, t1, t0, 0, ref best, ref d, ref shv);
                    Cand512(abRS, abwRS, c, e, wc, we, s1, s0, 1, ref best, ref d, ref shv);
                }
            }
        }
        d.Store(dout);
        shv.Store(shout);
    }

    // B8 with one sub-block per lane: the same (i1, i2, i3) loop and candidate order in every lane; the update
    // is taken per lane with masks, after a cheap any-lane test (updates are rare).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Partition256(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> amax,
        Span<float> scales, Span<bool> shifted)
    {
        const int G = 8;
        int nsub = x.Length / 32;
        float* sxt = stackalloc float[33 * G];
        float* swt = stackalloc float[33 * G];
        float* dout = stackalloc float[G];
        int* shout = stackalloc int[G];
        Span<float> sx = stackalloc float[33];
        Span<float> sw = stackalloc float[33];
        for (int first = 0; first < nsub; first += G)
        {
            int active = 0;
            for (int l = 0; l < G; l++)
            {
                int sb = first + l;
                if (sb < nsub && amax[sb] >= 1e-16f)
                {
                    active |= 1 << l;
                    PrefixSums(x.Slice(32 * sb, 32), w.Slice(32 * sb, 32), sx, sw);
                }
                else { sx.Clear(); sw.Clear(); }
                for (int k = 0; k < 33; k++) { sxt[k * G + l] = sx[k]; swt[k * G + l] = sw[k]; }
            }
            if (active != 0) PartitionLanes256(sxt, swt, dout, shout);
            for (int l = 0; l < G && first + l < nsub; l++)
            {
                bool on = (active >> l & 1) != 0;
                scales[first + l] = on ? dout[l] : 0;
                shifted[first + l] = on && shout[l] != 0;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Cand256(Vector256<float> ab, Vector256<float> abw, Vector256<float> c, Vector256<float> e,
        Vector256<float> wc, Vector256<float> we, float v2, float v3, int sh,
        ref Vector256<float> best, ref Vector256<float> d, ref Vector256<int> shv)
    {
        var V2 = Vector256.Create(v2); var V3 = Vector256.Create(v3);
        var num = (ab + c * V2) + e * V3;
        var den = (abw + (wc * V2) * V2) + (we * V3) * V3;
        var m = Vector256.GreaterThan(den, Vector256<float>.Zero) & Vector256.GreaterThan(num * num, best * den);
        if (m == Vector256<float>.Zero) return;
        var nd = num / den;
        d = Vector256.ConditionalSelect(m, nd, d);
        best = Vector256.ConditionalSelect(m, nd * num, best);
        shv = Vector256.ConditionalSelect(m.AsInt32(), Vector256.Create(sh), shv);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PartitionLanes256(float* SX, float* SW, float* dout, int* shout)
    {
        const int G = 8;
        const float t0 = -31, t1 = -13, t2 = 1, t3 = 17, s0 = -26, s1 = -8, s2 = 6, s3 = 22;
        var best = Vector256<float>.Zero;
        var d = Vector256<float>.Zero;
        var shv = Vector256<int>.Zero;
        var sx0 = Vector256.Load(SX); var sw0 = Vector256.Load(SW);
        var sx32 = Vector256.Load(SX + 32 * G); var sw32 = Vector256.Load(SW + 32 * G);
        for (int i1 = 0; i1 < 24; i1++)
        {
            var sx1 = Vector256.Load(SX + i1 * G); var sw1 = Vector256.Load(SW + i1 * G);
            var a = sx1 - sx0; var wa = sw1 - sw0;
            for (int i2 = i1; i2 < 32; i2++)
            {
                var sx2 = Vector256.Load(SX + i2 * G); var sw2 = Vector256.Load(SW + i2 * G);
                var b = sx2 - sx1; var wb = sw2 - sw1;
                var abN = a * Vector256.Create(t0) + b * Vector256.Create(t1);
                var abwN = (wa * Vector256.Create(t0)) * Vector256.Create(t0) + (wb * Vector256.Create(t1)) * Vector256.Create(t1);
                var abS = a * Vector256.Create(s0) + b * Vector256.Create(s1);
                var abwS = (wa * Vector256.Create(s0)) * Vector256.Create(s0) + (wb * Vector256.Create(s1)) * Vector256.Create(s1);
                var abRN = a * Vector256.Create(t3) + b * Vector256.Create(t2);
                var abwRN = (wa * Vector256.Create(t3)) * Vector256.Create(t3) + (wb * Vector256.Create(t2)) * Vector256.Create(t2);
                var abRS = a * Vector256.Create(s3) + b * Vector256.Create(s2);
                var abwRS = (wa * Vector256.Create(s3)) * Vector256.Create(s3) + (wb * Vector256.Create(s2)) * Vector256.Create(s2);
                for (int i3 = Math.Max(i2, 8); i3 < 32; i3++)
                {
                    var sx3 = Vector256.Load(SX + i3 * G); var sw3 = Vector256.Load(SW + i3 * G);
                    var c = sx3 - sx2; var wc = sw3 - sw2;
                    var e = sx32 - sx3; var we = sw32 - sw3;
                    Cand256(abN, abwN, c, e, wc, we, t2, t3, 0, ref best, ref d, ref shv);
                    Cand256(abS, abwS, c, e, wc, we, s2, s3, 1, ref best, ref d, ref shv);
                    Cand256(abRN, abwRN, c, e, wc, we, t1, t0, 0, ref best, ref d, ref shv);
                    Cand256(abRS, abwRS, c, e, wc, we, s1, s0, 1, ref best, ref d, ref shv);
                }
            }
        }
        d.Store(dout);
        shv.Store(shout);
    }

    // ---- SIMD form of the AVX2 path's pass 1: one sub-block per lane, the reference's per-candidate arithmetic
    // (including its 8-accumulator FMA layout and HSUM order) repeated in every lane.

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Fast512(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> max,
        ReadOnlySpan<float> amax, Span<float> scales, Span<bool> shifted)
    {
        const int G = 16;
        int nsub = x.Length / 32;
        float* xt = stackalloc float[32 * G];
        float* wt = stackalloc float[32 * G];
        float* mx = stackalloc float[G];
        float* dout = stackalloc float[G];
        int* shout = stackalloc int[G];
        Vector512<float>* part = stackalloc Vector512<float>[32];
        for (int first = 0; first < nsub; first += G)
        {
            int active = KsSearch.Transpose(x, w, max, amax, 1e-14f, first, G, xt, wt, mx);
            if (active == 0)
            {
                for (int l = 0; l < G && first + l < nsub; l++) { scales[first + l] = 0; shifted[first + l] = false; }
                continue;
            }
            var vmax = Vector512.Load(mx);
            var d = vmax / Vector512.Create(22.0f);
            var best = Vector512<float>.Zero;
            var ok = Block1x512(d, xt, wt, -31, -13, 1, 17, part, out var dp, out var sc);
            d = Vector512.ConditionalSelect(ok, dp, d);
            best = Vector512.ConditionalSelect(ok, sc, best);
            for (int itry = -13; itry <= 13; itry++)
            {
                ok = Block1x512(vmax / Vector512.Create(-31 + 0.5f * itry), xt, wt, -31, -13, 1, 17, part, out dp, out sc);
                var m = ok & Vector512.GreaterThan(sc, best);
                d = Vector512.ConditionalSelect(m, dp, d);
                best = Vector512.ConditionalSelect(m, sc, best);
            }
            var sh = Vector512<int>.Zero;
            for (int itry = -13; itry <= 13; itry++)
            {
                ok = Block1x512(vmax / Vector512.Create(-26 + 0.5f * itry), xt, wt, -26, -8, 6, 22, part, out dp, out sc);
                var m = ok & Vector512.GreaterThan(sc, best);
                d = Vector512.ConditionalSelect(m, dp, d);
                best = Vector512.ConditionalSelect(m, sc, best);
                sh |= m.AsInt32();
            }
            d.Store(dout);
            sh.Store(shout);
            for (int l = 0; l < G && first + l < nsub; l++)
            {
                bool on = (active >> l & 1) != 0;
                scales[first + l] = on ? dout[l] : 0;
                shifted[first + l] = on && shout[l] != 0;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> HSum(Vector512<float>* v) => ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> HSum(Vector256<float>* v) => ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));

    /// <summary>Block1 in every lane; returns the lanes where it found a scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Vector512<float> Block1x512(Vector512<float> dc, float* xt, float* wt, float V0, float V1, float V2, float V3,
        Vector512<float>* part, out Vector512<float> dOut, out Vector512<float> score)
    {
        var c0 = Vector512.Create(V0); var c1 = Vector512.Create(V1); var c2 = Vector512.Create(V2); var c3 = Vector512.Create(V3);
        var v0 = dc * c0; var v1 = dc * c1; var v2 = dc * c2; var v3 = dc * c3;
        for (int l = 0; l < 8; l++)
        {
            Vector512<float> ap = default, bp = default, am = default, bm = default;
            for (int k = 0; k < 4; k++)
            {
                int e = 8 * k + l;
                var xe = Vector512.Load(xt + 16 * e);
                var we = Vector512.Load(wt + 16 * e);
                var df = xe - v0; var bsp = df * df; var qp = c0;
                df = xe + v0; var bsm = df * df; var qm = c0;
                df = xe - v1; var sq = df * df; var m = Vector512.LessThan(sq, bsp); qp = Vector512.ConditionalSelect(m, c1, qp); bsp = Vector512.MinNative(sq, bsp);
                df = xe + v1; sq = df * df; m = Vector512.LessThan(sq, bsm); qm = Vector512.ConditionalSelect(m, c1, qm); bsm = Vector512.MinNative(sq, bsm);
                df = xe - v2; sq = df * df; m = Vector512.LessThan(sq, bsp); qp = Vector512.ConditionalSelect(m, c2, qp); bsp = Vector512.MinNative(sq, bsp);
                df = xe + v2; sq = df * df; m = Vector512.LessThan(sq, bsm); qm = Vector512.ConditionalSelect(m, c2, qm); bsm = Vector512.MinNative(sq, bsm);
                df = xe - v3; sq = df * df; qp = Vector512.ConditionalSelect(Vector512.LessThan(sq, bsp), c3, qp);
                df = xe + v3; sq = df * df; qm = Vector512.ConditionalSelect(Vector512.LessThan(sq, bsm), c3, qm);
                var t = we * qp;
                ap = Vector512.FusedMultiplyAdd(t, xe, ap);
                bp = Vector512.FusedMultiplyAdd(t, qp, bp);
                t = we * qm;
                am = Vector512.FusedMultiplyAdd(t, xe, am);
                bm = Vector512.FusedMultiplyAdd(t, qm, bm);
            }
            part[l] = ap; part[8 + l] = bp; part[16 + l] = am; part[24 + l] = bm;
        }
        var sxp = HSum(part); var s2p = HSum(part + 8); var sxm = HSum(part + 16); var s2m = HSum(part + 24);
        var zero = Vector512<float>.Zero;
        var okp = Vector512.GreaterThan(s2p, zero);
        var dp = sxp / s2p;
        var scp = sxp * dp;
        var usem = Vector512.GreaterThan(s2m, zero) & (~okp | Vector512.GreaterThan(sxm * sxm, scp * s2m));
        var dm = sxm / s2m;
        dOut = Vector512.ConditionalSelect(usem, dm, dp);
        score = Vector512.ConditionalSelect(usem, sxm * dm, scp);
        return okp | usem;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Fast256(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> max,
        ReadOnlySpan<float> amax, Span<float> scales, Span<bool> shifted)
    {
        const int G = 8;
        int nsub = x.Length / 32;
        float* xt = stackalloc float[32 * G];
        float* wt = stackalloc float[32 * G];
        float* mx = stackalloc float[G];
        float* dout = stackalloc float[G];
        int* shout = stackalloc int[G];
        Vector256<float>* part = stackalloc Vector256<float>[32];
        for (int first = 0; first < nsub; first += G)
        {
            int active = KsSearch.Transpose(x, w, max, amax, 1e-14f, first, G, xt, wt, mx);
            if (active == 0)
            {
                for (int l = 0; l < G && first + l < nsub; l++) { scales[first + l] = 0; shifted[first + l] = false; }
                continue;
            }
            var vmax = Vector256.Load(mx);
            var d = vmax / Vector256.Create(22.0f);
            var best = Vector256<float>.Zero;
            var ok = Block1x256(d, xt, wt, -31, -13, 1, 17, part, out var dp, out var sc);
            d = Vector256.ConditionalSelect(ok, dp, d);
            best = Vector256.ConditionalSelect(ok, sc, best);
            for (int itry = -13; itry <= 13; itry++)
            {
                ok = Block1x256(vmax / Vector256.Create(-31 + 0.5f * itry), xt, wt, -31, -13, 1, 17, part, out dp, out sc);
                var m = ok & Vector256.GreaterThan(sc, best);
                d = Vector256.ConditionalSelect(m, dp, d);
                best = Vector256.ConditionalSelect(m, sc, best);
            }
            var sh = Vector256<int>.Zero;
            for (int itry = -13; itry <= 13; itry++)
            {
                ok = Block1x256(vmax / Vector256.Create(-26 + 0.5f * itry), xt, wt, -26, -8, 6, 22, part, out dp, out sc);
                var m = ok & Vector256.GreaterThan(sc, best);
                d = Vector256.ConditionalSelect(m, dp, d);
                best = Vector256.ConditionalSelect(m, sc, best);
                sh |= m.AsInt32();
            }
            d.Store(dout);
            sh.Store(shout);
            for (int l = 0; l < G && first + l < nsub; l++)
            {
                bool on = (active >> l & 1) != 0;
                scales[first + l] = on ? dout[l] : 0;
                shifted[first + l] = on && shout[l] != 0;
            }
        }
    }

    /// <summary>Block1 in every lane; returns the lanes where it found a scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Vector256<float> Block1x256(Vector256<float> dc, float* xt, float* wt, float V0, float V1, float V2, float V3,
        Vector256<float>* part, out Vector256<float> dOut, out Vector256<float> score)
    {
        var c0 = Vector256.Create(V0); var c1 = Vector256.Create(V1); var c2 = Vector256.Create(V2); var c3 = Vector256.Create(V3);
        var v0 = dc * c0; var v1 = dc * c1; var v2 = dc * c2; var v3 = dc * c3;
        for (int l = 0; l < 8; l++)
        {
            Vector256<float> ap = default, bp = default, am = default, bm = default;
            for (int k = 0; k < 4; k++)
            {
                int e = 8 * k + l;
                var xe = Vector256.Load(xt + 8 * e);
                var we = Vector256.Load(wt + 8 * e);
                var df = xe - v0; var bsp = df * df; var qp = c0;
                df = xe + v0; var bsm = df * df; var qm = c0;
                df = xe - v1; var sq = df * df; var m = Vector256.LessThan(sq, bsp); qp = Vector256.ConditionalSelect(m, c1, qp); bsp = Vector256.MinNative(sq, bsp);
                df = xe + v1; sq = df * df; m = Vector256.LessThan(sq, bsm); qm = Vector256.ConditionalSelect(m, c1, qm); bsm = Vector256.MinNative(sq, bsm);
                df = xe - v2; sq = df * df; m = Vector256.LessThan(sq, bsp); qp = Vector256.ConditionalSelect(m, c2, qp); bsp = Vector256.MinNative(sq, bsp);
                df = xe + v2; sq = df * df; m = Vector256.LessThan(sq, bsm); qm = Vector256.ConditionalSelect(m, c2, qm); bsm = Vector256.MinNative(sq, bsm);
                df = xe - v3; sq = df * df; qp = Vector256.ConditionalSelect(Vector256.LessThan(sq, bsp), c3, qp);
                df = xe + v3; sq = df * df; qm = Vector256.ConditionalSelect(Vector256.LessThan(sq, bsm), c3, qm);
                var t = we * qp;
                ap = Vector256.FusedMultiplyAdd(t, xe, ap);
                bp = Vector256.FusedMultiplyAdd(t, qp, bp);
                t = we * qm;
                am = Vector256.FusedMultiplyAdd(t, xe, am);
                bm = Vector256.FusedMultiplyAdd(t, qm, bm);
            }
            part[l] = ap; part[8 + l] = bp; part[16 + l] = am; part[24 + l] = bm;
        }
        var sxp = HSum(part); var s2p = HSum(part + 8); var sxm = HSum(part + 16); var s2m = HSum(part + 24);
        var zero = Vector256<float>.Zero;
        var okp = Vector256.GreaterThan(s2p, zero);
        var dp = sxp / s2p;
        var scp = sxp * dp;
        var usem = Vector256.GreaterThan(s2m, zero) & (~okp | Vector256.GreaterThan(sxm * sxm, scp * s2m));
        var dm = sxm / s2m;
        dOut = Vector256.ConditionalSelect(usem, dm, dp);
        score = Vector256.ConditionalSelect(usem, sxm * dm, scp);
        return okp | usem;
    }
}
