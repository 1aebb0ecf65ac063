using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace IQuant.Core.Quants;

/// <summary>
/// B6 ScanScale (spec §4.1): the ±candidate scale search of one sub-block for IQ3_K, IQ4_K, IQ5_K, IQ6_K.
/// All candidate inverse scales are known up front, so the per-candidate sums (sp, qp, sm, qm — each accumulated
/// over the sub-block in element order exactly as the reference does) are computed independently, one candidate
/// per SIMD lane (<see cref="IqkSimd"/>); the reference's sequential "keep the best" pass then runs in scalar code
/// over the stored sums. This gives identical results at every SIMD level.
/// </summary>
internal static class IqkScan
{
    /// <summary>Maximum number of candidates (1 + 2·(2·7+1) = 31 for IQ4_K).</summary>
    public const int MaxCandidates = 32;

    /// <summary>
    /// Candidate inverse scales in the reference order: [1/d0 (normal)] then for itry = -ntry..ntry: normal, shifted.
    /// Returns the count; bit i of <paramref name="shiftedMask"/> marks a shifted-table candidate. Each id is one f32
    /// division of an exact small integer by max (vectorized across candidates when SIMD is on — same quotients).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe int Candidates(IqkGrid g, float max, int ntry, int step, Span<float> ids, SimdLevel level, out uint shiftedMask)
    {
        float d0 = -max / g.Normal[0];
        int n = 1;
        uint mask = 0;
        float t0 = g.Normal[0], s0 = g.Shifted[0];
        for (int itry = -ntry; itry <= ntry; itry++)
        {
            // (step*itry + T[0]) is an exact small integer either way (int arithmetic or f32 for IQ6_K)
            ids[n++] = (float)(step * itry) + t0;
            mask |= 1u << n;
            ids[n++] = (float)(step * itry) + s0;
        }
        if (level != SimdLevel.Scalar && Vector256.IsHardwareAccelerated && n <= MaxCandidates)
        {
            for (int i = n; i < MaxCandidates; i++) ids[i] = 1;
            fixed (float* p = ids)
            {
                var m = Vector256.Create(max);
                for (int i = 0; i < MaxCandidates; i += 8) (Vector256.Load(p + i) / m).Store(p + i);
            }
        }
        else
        {
            for (int i = 1; i < n; i++) ids[i] /= max;
        }
        ids[0] = 1 / d0;
        shiftedMask = mask;
        return n;
    }

    /// <summary>
    /// B6: returns the chosen scale d and whether the shifted table won. The caller has checked amax ≥ 1e-16
    /// and passes the signed maximum <paramref name="max"/>.
    /// </summary>
    public static unsafe float ScanScale(IqkGrid g, ReadOnlySpan<float> x, ReadOnlySpan<float> w, float max, int ntry, int step,
        bool guard, SimdLevel level, out bool shifted)
    {
        float* pid = stackalloc float[MaxCandidates];
        float* ps = stackalloc float[4 * MaxCandidates];
        var ids = new Span<float>(pid, MaxCandidates);
        var sums = new Span<float>(ps, 4 * MaxCandidates);
        int nc = Candidates(g, max, ntry, step, ids, level, out uint mask);
        IqkSimd.CandidateSums(level, g, x, w, ids, mask, nc, sums);
        float* sp = ps, qp = ps + MaxCandidates, sm = ps + 2 * MaxCandidates, qm = ps + 3 * MaxCandidates;

        float d = -max / g.Normal[0];
        float best;
        if (guard)
        {
            best = 0;
            if (qp[0] > 0) { d = sp[0] / qp[0]; best = d * sp[0]; }
        }
        else
        {
            d = sp[0] / qp[0]; best = d * sp[0];
        }
        if (qm[0] > 0 && sm[0] * sm[0] > best * qm[0]) { d = sm[0] / qm[0]; best = d * sm[0]; }
        bool sh = false;
        if (level != SimdLevel.Scalar && Vector256.IsHardwareAccelerated && Bmi2.X64.IsSupported)
        {
            // Exact prefilter (see Iq2KSearch): test all candidates against the current best at once, then run the
            // reference's sequential accept loop only over the flagged (candidate, sign) pairs, in order.
            ulong bits = PassMask(ps, best) & ~3UL & (nc >= 32 ? ~0UL : (1UL << (2 * nc)) - 1);
            while (bits != 0)
            {
                int pos = BitOperations.TrailingZeroCount(bits);
                bits &= bits - 1;
                int i = pos >> 1;
                float sv = (pos & 1) == 0 ? sp[i] : sm[i];
                float qv = (pos & 1) == 0 ? qp[i] : qm[i];
                if (qv > 0 && sv * sv > best * qv)
                {
                    float old = best;
                    d = sv / qv; best = d * sv; sh = (mask & (1u << i)) != 0;
                    if (best < old)
                        bits = pos == 63 ? 0 : PassMask(ps, best) & (~0UL << (pos + 1)) & (nc >= 32 ? ~0UL : (1UL << (2 * nc)) - 1);
                }
            }
        }
        else
        {
            for (int i = 1; i < nc; i++)
            {
                bool flag = (mask & (1u << i)) != 0;
                if (qp[i] > 0 && sp[i] * sp[i] > best * qp[i]) { d = sp[i] / qp[i]; best = d * sp[i]; sh = flag; }
                if (qm[i] > 0 && sm[i] * sm[i] > best * qm[i]) { d = sm[i] / qm[i]; best = d * sm[i]; sh = flag; }
            }
        }
        shifted = sh;
        return d;
    }

    /// <summary>
    /// Bit 2i (p) / 2i+1 (m) set when candidate i passes <c>q &gt; 0 &amp;&amp; s·s &gt; best·q</c> (the reference's test).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe ulong PassMask(float* ps, float best)
    {
        var b = Vector256.Create(best);
        uint mp = 0, mm = 0;
        for (int v = 0; v < MaxCandidates; v += 8)
        {
            var sp = Vector256.Load(ps + v); var qp = Vector256.Load(ps + MaxCandidates + v);
            var sm = Vector256.Load(ps + 2 * MaxCandidates + v); var qm = Vector256.Load(ps + 3 * MaxCandidates + v);
            var pp = Vector256.GreaterThan(qp, Vector256<float>.Zero) & Vector256.GreaterThan(sp * sp, b * qp);
            var pm = Vector256.GreaterThan(qm, Vector256<float>.Zero) & Vector256.GreaterThan(sm * sm, b * qm);
            mp |= pp.ExtractMostSignificantBits() << v;
            mm |= pm.ExtractMostSignificantBits() << v;
        }
        return Bmi2.X64.ParallelBitDeposit(mp, 0x5555555555555555UL) | Bmi2.X64.ParallelBitDeposit(mm, 0xAAAAAAAAAAAAAAAAUL);
    }

    /// <summary>Scalar reference of the per-candidate sums.</summary>
    public static void CandidateSumsScalar(IqkGrid g, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        ReadOnlySpan<float> ids, uint mask, int nc, Span<float> sums)
    {
        for (int i = 0; i < nc; i++)
        {
            var t = g.Table((mask & (1u << i)) != 0);
            float id = ids[i];
            float sp = 0, qp = 0, sm = 0, qm = 0;
            for (int j = 0; j < x.Length; j++)
            {
                float wj = w[j], xj = x[j];
                float al = id * xj;
                float q = t[g.BestIndex(t, al)];
                sp += wj * q * xj;
                qp += wj * q * q;
                q = t[g.BestIndex(t, -al)];
                sm += wj * q * xj;
                qm += wj * q * q;
            }
            sums[i] = sp;
            sums[MaxCandidates + i] = qp;
            sums[2 * MaxCandidates + i] = sm;
            sums[3 * MaxCandidates + i] = qm;
        }
    }

    /// <summary>
    /// The refinement of IQ3_K/IQ5_K/IQ6_K: with the chosen table, re-fit d = Σ(w q x)/Σ(w q q) for indices at 1/d.
    /// </summary>
    public static float Refine(IqkGrid g, bool shifted, ReadOnlySpan<float> x, ReadOnlySpan<float> w, float d, SimdLevel level)
    {
        var t = g.Table(shifted);
        Span<int> idx = stackalloc int[16];
        float id = 1 / d;
        IqkSimd.BestIndices(level, g, shifted, id, x, idx);
        float sx = 0, s2 = 0;
        for (int j = 0; j < x.Length; j++)
        {
            float q = t[idx[j]];
            sx += w[j] * q * x[j];
            s2 += w[j] * q * q;
        }
        return s2 > 0 ? sx / s2 : d;
    }
}
