using System.Runtime.CompilerServices;

namespace IQuant.Core.Quants;

/// <summary>Pass 1 of the two IQ2_KS encoders (spec §4.3 B8 and §4.8 Block1).</summary>
internal static class Iq2KsSearch
{
    /// <summary>HSUM of §4.8: ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HSum(ReadOnlySpan<float> v) => ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));

    /// <summary>Scalar path (§4.3): B8 exhaustive partition search per sub-block.</summary>
    public static void PartitionRow(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> amax,
        Span<float> scales, Span<bool> shifted, SimdLevel level)
    {
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
}
