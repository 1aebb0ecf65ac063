using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace IQuant.Core.Quants;

/// <summary>Level tables of one (normal or shifted) value table for the 256-bit best-value search.</summary>
internal struct KsVTab256
{
    /// <summary>Threshold tables of the binary-search levels (level k has 2^(k-1) entries; L1 is broadcast).</summary>
    public Vector256<float> L1, L2, L3, L4, L5a, L5b;
    /// <summary>The values, 8 per register.</summary>
    public Vector256<float> V0, V1, V2, V3;
}

/// <summary>Level tables of one (normal or shifted) value table for the 512-bit best-value search.</summary>
internal struct KsVTab512
{
    /// <summary>Threshold tables of the binary-search levels (level k has 2^(k-1) entries; L1 is broadcast).</summary>
    public Vector512<float> L1, L2, L3, L4, L5;
    /// <summary>The values, 16 per register.</summary>
    public Vector512<float> V0, V1;
}

/// <summary>
/// Vector forms of a table: the reference's best index (B5) is the number of thresholds &lt;= a (see
/// <see cref="KsTable"/>), found by a branch-free binary search whose level k looks its threshold up in a table of
/// 2^(k-1) entries indexed by the bits found so far. Valid for |a| &lt; 2^31 (the B6 search has |a| &lt; 200).
/// </summary>
internal sealed class KsVTables
{
    public readonly KsVTab256 N256, S256;
    public readonly KsVTab512 N512, S512;

    private KsVTables(KsTable t)
    {
        N256 = Make256(t.NormalThr, t.Normal); S256 = Make256(t.ShiftedThr, t.Shifted);
        N512 = Make512(t.NormalThr, t.Normal); S512 = Make512(t.ShiftedThr, t.Shifted);
    }

    public static readonly KsVTables Iq3 = new(KsTable.Iq3);
    public static readonly KsVTables Iq4 = new(KsTable.Iq4);
    public static readonly KsVTables Iq5 = new(KsTable.Iq5);

    public static KsVTables For(KsTable t) => t.N == 8 ? Iq3 : t.N == 16 ? Iq4 : Iq5;

    private static float[] Level(float[] thr, int k)
    {
        int n = thr.Length, s = n >> k; // step of level k (1-based): N/2^k
        var r = new float[16];
        if (s < 1) return r;
        for (int i = 0; i < (1 << (k - 1)); i++) r[i] = thr[2 * s * i + s - 1];
        return r;
    }

    private static Vector256<float> V256(float[] a, int off = 0)
    {
        var b = new float[8];
        for (int i = 0; i < 8 && off + i < a.Length; i++) b[i] = a[off + i];
        return Vector256.Create(b);
    }

    private static Vector512<float> V512(float[] a, int off = 0)
    {
        var b = new float[16];
        for (int i = 0; i < 16 && off + i < a.Length; i++) b[i] = a[off + i];
        return Vector512.Create(b);
    }

    private static KsVTab256 Make256(float[] thr, float[] v)
    {
        var l5 = Level(thr, 5);
        return new KsVTab256
        {
            L1 = Vector256.Create(thr[thr.Length / 2 - 1]), L2 = V256(Level(thr, 2)), L3 = V256(Level(thr, 3)), L4 = V256(Level(thr, 4)),
            L5a = V256(l5, 0), L5b = V256(l5, 8),
            V0 = V256(v, 0), V1 = V256(v, 8), V2 = V256(v, 16), V3 = V256(v, 24),
        };
    }

    private static KsVTab512 Make512(float[] thr, float[] v) => new()
    {
        L1 = Vector512.Create(thr[thr.Length / 2 - 1]), L2 = V512(Level(thr, 2)), L3 = V512(Level(thr, 3)), L4 = V512(Level(thr, 4)),
        L5 = V512(Level(thr, 5)), V0 = V512(v, 0), V1 = V512(v, 16),
    };
}

/// <summary>Best-value search of one table family in vector form.</summary>
internal interface IKsFamily
{
    /// <summary>Table size.</summary>
    static abstract int N { get; }
    /// <summary>T[bi(T, a)] per lane.</summary>
    static abstract Vector256<float> Q(Vector256<float> a, ref readonly KsVTab256 t);
    /// <summary>T[bi(T, a)] per lane.</summary>
    static abstract Vector512<float> Q(Vector512<float> a, ref readonly KsVTab512 t);
    /// <summary>bi(T, a) per lane (without the |a| ≥ 2^31 rule; see <see cref="KsV.Guard(Vector256{int}, Vector256{float})"/>).</summary>
    static abstract Vector256<int> I(Vector256<float> a, ref readonly KsVTab256 t);
    /// <summary>bi(T, a) per lane (without the |a| ≥ 2^31 rule).</summary>
    static abstract Vector512<int> I(Vector512<float> a, ref readonly KsVTab512 t);
    /// <summary>T[i] per lane.</summary>
    static abstract Vector256<float> V(Vector256<int> i, ref readonly KsVTab256 t);
    /// <summary>T[i] per lane.</summary>
    static abstract Vector512<float> V(Vector512<int> i, ref readonly KsVTab512 t);
}

/// <summary>Vector helpers for the searches.</summary>
internal static class KsV
{
    /// <summary>i = 2i + (a &gt;= th).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Step(Vector256<int> i, Vector256<float> a, Vector256<float> th) =>
        i + i - Vector256.GreaterThanOrEqual(a, th).AsInt32();

    /// <summary>i = 2i + (a &gt;= th).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> Step(Vector512<int> i, Vector512<float> a, Vector512<float> th) =>
        i + i - Vector512.GreaterThanOrEqual(a, th).AsInt32();

    /// <summary>C's (int) cast gives INT_MIN for a ≥ 2^31 (and NaN), so B5 returns index 0 there.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Guard(Vector256<int> i, Vector256<float> a) =>
        Vector256.AndNot(i, Vector256.GreaterThanOrEqual(a, Vector256.Create(2147483648f)).AsInt32());

    /// <summary>C's (int) cast gives INT_MIN for a ≥ 2^31 (and NaN), so B5 returns index 0 there.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> Guard(Vector512<int> i, Vector512<float> a) =>
        Vector512.AndNot(i, Vector512.GreaterThanOrEqual(a, Vector512.Create(2147483648f)).AsInt32());

    /// <summary>16-entry int lookup from two registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Lookup16(Vector256<int> lo, Vector256<int> hi, Vector256<int> i) =>
        Lookup16(lo.AsSingle(), hi.AsSingle(), i).AsInt32();

    /// <summary>16-entry lookup from two registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Lookup16(Vector256<float> lo, Vector256<float> hi, Vector256<int> i) =>
        Avx.BlendVariable(Avx2.PermuteVar8x32(lo, i), Avx2.PermuteVar8x32(hi, i), Avx2.ShiftLeftLogical(i, 28).AsSingle());
}

internal struct KsFam3 : IKsFamily
{
    public static int N => 8;

    public static Vector256<float> V(Vector256<int> i, ref readonly KsVTab256 t) => Avx2.PermuteVar8x32(t.V0, i);

    public static Vector512<float> V(Vector512<int> i, ref readonly KsVTab512 t) => Avx512F.PermuteVar16x32(t.V0, i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Q(Vector256<float> a, ref readonly KsVTab256 t)
    {
        var i = Vector256<int>.Zero - Vector256.GreaterThanOrEqual(a, t.L1).AsInt32();
        i = KsV.Step(i, a, Avx2.PermuteVar8x32(t.L2, i));
        i = KsV.Step(i, a, Avx2.PermuteVar8x32(t.L3, i));
        return Avx2.PermuteVar8x32(t.V0, i);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> I(Vector256<float> a, ref readonly KsVTab256 t)
    {
        var i = Vector256<int>.Zero - Vector256.GreaterThanOrEqual(a, t.L1).AsInt32();
        i = KsV.Step(i, a, Avx2.PermuteVar8x32(t.L2, i));
        return KsV.Step(i, a, Avx2.PermuteVar8x32(t.L3, i));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> I(Vector512<float> a, ref readonly KsVTab512 t)
    {
        var i = Vector512<int>.Zero - Vector512.GreaterThanOrEqual(a, t.L1).AsInt32();
        i = KsV.Step(i, a, Avx512F.PermuteVar16x32(t.L2, i));
        return KsV.Step(i, a, Avx512F.PermuteVar16x32(t.L3, i));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Q(Vector512<float> a, ref readonly KsVTab512 t)
    {
        var i = Vector512<int>.Zero - Vector512.GreaterThanOrEqual(a, t.L1).AsInt32();
        i = KsV.Step(i, a, Avx512F.PermuteVar16x32(t.L2, i));
        i = KsV.Step(i, a, Avx512F.PermuteVar16x32(t.L3, i));
        return Avx512F.PermuteVar16x32(t.V0, i);
    }
}

internal struct KsFam4 : IKsFamily
{
    public static int N => 16;

    public static Vector256<float> V(Vector256<int> i, ref readonly KsVTab256 t) => KsV.Lookup16(t.V0, t.V1, i);

    public static Vector512<float> V(Vector512<int> i, ref readonly KsVTab512 t) => Avx512F.PermuteVar16x32(t.V0, i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Q(Vector256<float> a, ref readonly KsVTab256 t)
    {
        var i = Vector256<int>.Zero - Vector256.GreaterThanOrEqual(a, t.L1).AsInt32();
        i = KsV.Step(i, a, Avx2.PermuteVar8x32(t.L2, i));
        i = KsV.Step(i, a, Avx2.PermuteVar8x32(t.L3, i));
        i = KsV.Step(i, a, Avx2.PermuteVar8x32(t.L4, i));
        return KsV.Lookup16(t.V0, t.V1, i);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> I(Vector256<float> a, ref readonly KsVTab256 t)
    {
        var i = Vector256<int>.Zero - Vector256.GreaterThanOrEqual(a, t.L1).AsInt32();
        i = KsV.Step(i, a, Avx2.PermuteVar8x32(t.L2, i));
        i = KsV.Step(i, a, Avx2.PermuteVar8x32(t.L3, i));
        return KsV.Step(i, a, Avx2.PermuteVar8x32(t.L4, i));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> I(Vector512<float> a, ref readonly KsVTab512 t)
    {
        var i = Vector512<int>.Zero - Vector512.GreaterThanOrEqual(a, t.L1).AsInt32();
        i = KsV.Step(i, a, Avx512F.PermuteVar16x32(t.L2, i));
        i = KsV.Step(i, a, Avx512F.PermuteVar16x32(t.L3, i));
        return KsV.Step(i, a, Avx512F.PermuteVar16x32(t.L4, i));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Q(Vector512<float> a, ref readonly KsVTab512 t)
    {
        var i = Vector512<int>.Zero - Vector512.GreaterThanOrEqual(a, t.L1).AsInt32();
        i = KsV.Step(i, a, Avx512F.PermuteVar16x32(t.L2, i));
        i = KsV.Step(i, a, Avx512F.PermuteVar16x32(t.L3, i));
        i = KsV.Step(i, a, Avx512F.PermuteVar16x32(t.L4, i));
        return Avx512F.PermuteVar16x32(t.V0, i);
    }
}

internal struct KsFam5 : IKsFamily
{
    public static int N => 32;

    public static Vector256<float> V(Vector256<int> i, ref readonly KsVTab256 t) =>
        Avx.BlendVariable(KsV.Lookup16(t.V0, t.V1, i), KsV.Lookup16(t.V2, t.V3, i), Avx2.ShiftLeftLogical(i, 27).AsSingle());

    public static Vector512<float> V(Vector512<int> i, ref readonly KsVTab512 t) => Avx512F.PermuteVar16x32x2(t.V0, i, t.V1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Q(Vector256<float> a, ref readonly KsVTab256 t)
    {
        var i = Vector256<int>.Zero - Vector256.GreaterThanOrEqual(a, t.L1).AsInt32();
        i = KsV.Step(i, a, Avx2.PermuteVar8x32(t.L2, i));
        i = KsV.Step(i, a, Avx2.PermuteVar8x32(t.L3, i));
        i = KsV.Step(i, a, Avx2.PermuteVar8x32(t.L4, i));
        i = KsV.Step(i, a, KsV.Lookup16(t.L5a, t.L5b, i));
        var lo = KsV.Lookup16(t.V0, t.V1, i);
        var hi = KsV.Lookup16(t.V2, t.V3, i);
        return Avx.BlendVariable(lo, hi, Avx2.ShiftLeftLogical(i, 27).AsSingle());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> I(Vector256<float> a, ref readonly KsVTab256 t)
    {
        var i = Vector256<int>.Zero - Vector256.GreaterThanOrEqual(a, t.L1).AsInt32();
        i = KsV.Step(i, a, Avx2.PermuteVar8x32(t.L2, i));
        i = KsV.Step(i, a, Avx2.PermuteVar8x32(t.L3, i));
        i = KsV.Step(i, a, Avx2.PermuteVar8x32(t.L4, i));
        return KsV.Step(i, a, KsV.Lookup16(t.L5a, t.L5b, i));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> I(Vector512<float> a, ref readonly KsVTab512 t)
    {
        var i = Vector512<int>.Zero - Vector512.GreaterThanOrEqual(a, t.L1).AsInt32();
        i = KsV.Step(i, a, Avx512F.PermuteVar16x32(t.L2, i));
        i = KsV.Step(i, a, Avx512F.PermuteVar16x32(t.L3, i));
        i = KsV.Step(i, a, Avx512F.PermuteVar16x32(t.L4, i));
        return KsV.Step(i, a, Avx512F.PermuteVar16x32(t.L5, i));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Q(Vector512<float> a, ref readonly KsVTab512 t)
    {
        var i = Vector512<int>.Zero - Vector512.GreaterThanOrEqual(a, t.L1).AsInt32();
        i = KsV.Step(i, a, Avx512F.PermuteVar16x32(t.L2, i));
        i = KsV.Step(i, a, Avx512F.PermuteVar16x32(t.L3, i));
        i = KsV.Step(i, a, Avx512F.PermuteVar16x32(t.L4, i));
        i = KsV.Step(i, a, Avx512F.PermuteVar16x32(t.L5, i));
        return Avx512F.PermuteVar16x32x2(t.V0, i, t.V1);
    }
}

/// <summary>
/// Pass 1 of the B6-searched KS types: the float scale and shift flag of every 32-value sub-block of a row.
/// The SIMD forms put one sub-block in each lane (8 or 16 sub-blocks at a time) and run the reference's candidate
/// sequence unchanged in every lane: each lane's sums are accumulated in the reference order, and the candidate
/// selection is done per lane with masks, so the result is bit-identical to the scalar path.
/// </summary>
internal static unsafe class KsSearch
{
    /// <summary>
    /// Runs ScanScale (B6, STEP 1) for every sub-block; empty sub-blocks (amax &lt; 1e-16f) get scale 0, not shifted.
    /// </summary>
    public static void ScanRow(KsTable tab, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> max,
        ReadOnlySpan<float> amax, int ntry, bool guard, Span<float> scales, Span<bool> shifted, SimdLevel level)
    {
        int nsub = x.Length / 32;
        if (level == SimdLevel.Avx512)
        {
            if (tab.N == 8) Scan512<KsFam3>(tab, x, w, max, amax, ntry, guard, scales, shifted);
            else if (tab.N == 16) Scan512<KsFam4>(tab, x, w, max, amax, ntry, guard, scales, shifted);
            else Scan512<KsFam5>(tab, x, w, max, amax, ntry, guard, scales, shifted);
            return;
        }
        if (level == SimdLevel.Avx2)
        {
            if (tab.N == 8) Scan256<KsFam3>(tab, x, w, max, amax, ntry, guard, scales, shifted);
            else if (tab.N == 16) Scan256<KsFam4>(tab, x, w, max, amax, ntry, guard, scales, shifted);
            else Scan256<KsFam5>(tab, x, w, max, amax, ntry, guard, scales, shifted);
            return;
        }
        for (int i = 0; i < nsub; i++)
        {
            if (amax[i] < 1e-16f) { scales[i] = 0; shifted[i] = false; continue; }
            scales[i] = KsBlocks.ScanScale(tab, x.Slice(32 * i, 32), w.Slice(32 * i, 32), max[i], ntry, guard, out bool sh);
            shifted[i] = sh;
        }
    }

    /// <summary>
    /// Transposes sub-blocks <paramref name="first"/>.. into lane-major form (element j of lane l at [j*G + l]);
    /// missing or empty lanes get zeros and max 1. Returns the active-lane mask.
    /// </summary>
    internal static int Transpose(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> max, ReadOnlySpan<float> amax,
        float threshold, int first, int G, float* xt, float* wt, float* mx)
    {
        int nsub = x.Length / 32, active = 0;
        for (int l = 0; l < G; l++)
        {
            int sb = first + l;
            if (sb < nsub && amax[sb] >= threshold)
            {
                active |= 1 << l;
                mx[l] = max[sb];
                var xs = x.Slice(32 * sb, 32);
                var ws = w.Slice(32 * sb, 32);
                for (int j = 0; j < 32; j++) { xt[j * G + l] = xs[j]; wt[j * G + l] = ws[j]; }
            }
            else
            {
                mx[l] = 1;
                for (int j = 0; j < 32; j++) { xt[j * G + l] = 0; wt[j * G + l] = 0; }
            }
        }
        return active;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scan512<F>(KsTable tab, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> max,
        ReadOnlySpan<float> amax, int ntry, bool guard, Span<float> scales, Span<bool> shifted) where F : struct, IKsFamily
    {
        const int G = 16;
        int nsub = x.Length / 32;
        var vt = KsVTables.For(tab);
        ref readonly var tn = ref vt.N512;
        ref readonly var ts = ref vt.S512;
        float t0n = tab.Normal[0], t0s = tab.Shifted[0];
        float* xt = stackalloc float[32 * G];
        float* wt = stackalloc float[32 * G];
        float* mx = stackalloc float[G];
        float* dout = stackalloc float[G];
        int* shout = stackalloc int[G];
        for (int first = 0; first < nsub; first += G)
        {
            int active = Transpose(x, w, max, amax, 1e-16f, first, G, xt, wt, mx);
            if (active == 0)
            {
                for (int l = 0; l < G && first + l < nsub; l++) { scales[first + l] = 0; shifted[first + l] = false; }
                continue;
            }
            var vmax = Vector512.Load(mx);
            var d = -vmax / Vector512.Create(t0n);
            var id = Vector512<float>.One / d;
            Acc512<F>(xt, wt, id, in tn, out var sp, out var qp, out var sm, out var qm);
            Vector512<float> best;
            if (guard)
            {
                var m = Vector512.GreaterThan(qp, Vector512<float>.Zero);
                d = Vector512.ConditionalSelect(m, sp / qp, d);
                best = Vector512.ConditionalSelect(m, d * sp, Vector512<float>.Zero);
            }
            else
            {
                d = sp / qp;
                best = d * sp;
            }
            Update(ref d, ref best, sm, qm);
            var sh = Vector512<int>.Zero;
            for (int itry = -ntry; itry <= ntry; itry++)
            {
                var idn = Vector512.Create((float)(itry + (int)t0n)) / vmax;
                var ids = Vector512.Create((float)(itry + (int)t0s)) / vmax;
                Acc512Pair<F>(xt, wt, idn, ids, in tn, in ts, out var spn, out var qpn, out var smn, out var qmn,
                    out var sps, out var qps, out var sms, out var qms);
                var m1 = Update(ref d, ref best, spn, qpn);
                var m2 = Update(ref d, ref best, smn, qmn);
                sh = Vector512.ConditionalSelect((m1 | m2).AsInt32(), Vector512<int>.Zero, sh);
                m1 = Update(ref d, ref best, sps, qps);
                m2 = Update(ref d, ref best, sms, qms);
                sh = Vector512.ConditionalSelect((m1 | m2).AsInt32(), Vector512<int>.One, sh);
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

    /// <summary>if s2 &gt; 0 and s*s &gt; best*s2: d = s/s2; best = d*s (per lane). Returns the lanes updated.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Update(ref Vector512<float> d, ref Vector512<float> best, Vector512<float> s, Vector512<float> s2)
    {
        var m = Vector512.GreaterThan(s2, Vector512<float>.Zero) & Vector512.GreaterThan(s * s, best * s2);
        if (m == Vector512<float>.Zero) return m;
        var nd = s / s2;
        d = Vector512.ConditionalSelect(m, nd, d);
        best = Vector512.ConditionalSelect(m, nd * s, best);
        return m;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Update(ref Vector256<float> d, ref Vector256<float> best, Vector256<float> s, Vector256<float> s2)
    {
        var m = Vector256.GreaterThan(s2, Vector256<float>.Zero) & Vector256.GreaterThan(s * s, best * s2);
        if (m == Vector256<float>.Zero) return m;
        var nd = s / s2;
        d = Vector256.ConditionalSelect(m, nd, d);
        best = Vector256.ConditionalSelect(m, nd * s, best);
        return m;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Acc512<F>(float* xt, float* wt, Vector512<float> id, ref readonly KsVTab512 t,
        out Vector512<float> sp, out Vector512<float> qp, out Vector512<float> sm, out Vector512<float> qm) where F : struct, IKsFamily
    {
        Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
        for (int j = 0; j < 32; j++)
        {
            var xv = Vector512.Load(xt + 16 * j);
            var wv = Vector512.Load(wt + 16 * j);
            var a = id * xv;
            var q = F.Q(a, in t);
            var wq = wv * q;
            s0 += wq * xv; s1 += wq * q;
            q = F.Q(-a, in t);
            wq = wv * q;
            s2 += wq * xv; s3 += wq * q;
        }
        sp = s0; qp = s1; sm = s2; qm = s3;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Acc512Pair<F>(float* xt, float* wt, Vector512<float> idn, Vector512<float> ids,
        ref readonly KsVTab512 tn, ref readonly KsVTab512 ts,
        out Vector512<float> spn, out Vector512<float> qpn, out Vector512<float> smn, out Vector512<float> qmn,
        out Vector512<float> sps, out Vector512<float> qps, out Vector512<float> sms, out Vector512<float> qms) where F : struct, IKsFamily
    {
        Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
        Vector512<float> s4 = default, s5 = default, s6 = default, s7 = default;
        for (int j = 0; j < 32; j++)
        {
            var xv = Vector512.Load(xt + 16 * j);
            var wv = Vector512.Load(wt + 16 * j);
            var a = idn * xv;
            var q = F.Q(a, in tn);
            var wq = wv * q;
            s0 += wq * xv; s1 += wq * q;
            q = F.Q(-a, in tn);
            wq = wv * q;
            s2 += wq * xv; s3 += wq * q;
            a = ids * xv;
            q = F.Q(a, in ts);
            wq = wv * q;
            s4 += wq * xv; s5 += wq * q;
            q = F.Q(-a, in ts);
            wq = wv * q;
            s6 += wq * xv; s7 += wq * q;
        }
        spn = s0; qpn = s1; smn = s2; qmn = s3; sps = s4; qps = s5; sms = s6; qms = s7;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scan256<F>(KsTable tab, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> max,
        ReadOnlySpan<float> amax, int ntry, bool guard, Span<float> scales, Span<bool> shifted) where F : struct, IKsFamily
    {
        const int G = 8;
        int nsub = x.Length / 32;
        var vt = KsVTables.For(tab);
        ref readonly var tn = ref vt.N256;
        ref readonly var ts = ref vt.S256;
        float t0n = tab.Normal[0], t0s = tab.Shifted[0];
        float* xt = stackalloc float[32 * G];
        float* wt = stackalloc float[32 * G];
        float* mx = stackalloc float[G];
        float* dout = stackalloc float[G];
        int* shout = stackalloc int[G];
        for (int first = 0; first < nsub; first += G)
        {
            int active = Transpose(x, w, max, amax, 1e-16f, first, G, xt, wt, mx);
            if (active == 0)
            {
                for (int l = 0; l < G && first + l < nsub; l++) { scales[first + l] = 0; shifted[first + l] = false; }
                continue;
            }
            var vmax = Vector256.Load(mx);
            var d = -vmax / Vector256.Create(t0n);
            var id = Vector256<float>.One / d;
            Acc256<F>(xt, wt, id, in tn, out var sp, out var qp, out var sm, out var qm);
            Vector256<float> best;
            if (guard)
            {
                var m = Vector256.GreaterThan(qp, Vector256<float>.Zero);
                d = Vector256.ConditionalSelect(m, sp / qp, d);
                best = Vector256.ConditionalSelect(m, d * sp, Vector256<float>.Zero);
            }
            else
            {
                d = sp / qp;
                best = d * sp;
            }
            Update(ref d, ref best, sm, qm);
            var sh = Vector256<int>.Zero;
            for (int itry = -ntry; itry <= ntry; itry++)
            {
                var idn = Vector256.Create((float)(itry + (int)t0n)) / vmax;
                var ids = Vector256.Create((float)(itry + (int)t0s)) / vmax;
                Acc256Pair<F>(xt, wt, idn, ids, in tn, in ts, out var spn, out var qpn, out var smn, out var qmn,
                    out var sps, out var qps, out var sms, out var qms);
                var m1 = Update(ref d, ref best, spn, qpn);
                var m2 = Update(ref d, ref best, smn, qmn);
                sh = Vector256.ConditionalSelect((m1 | m2).AsInt32(), Vector256<int>.Zero, sh);
                m1 = Update(ref d, ref best, sps, qps);
                m2 = Update(ref d, ref best, sms, qms);
                sh = Vector256.ConditionalSelect((m1 | m2).AsInt32(), Vector256<int>.One, sh);
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Acc256<F>(float* xt, float* wt, Vector256<float> id, ref readonly KsVTab256 t,
        out Vector256<float> sp, out Vector256<float> qp, out Vector256<float> sm, out Vector256<float> qm) where F : struct, IKsFamily
    {
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
        for (int j = 0; j < 32; j++)
        {
            var xv = Vector256.Load(xt + 8 * j);
            var wv = Vector256.Load(wt + 8 * j);
            var a = id * xv;
            var q = F.Q(a, in t);
            var wq = wv * q;
            s0 += wq * xv; s1 += wq * q;
            q = F.Q(-a, in t);
            wq = wv * q;
            s2 += wq * xv; s3 += wq * q;
        }
        sp = s0; qp = s1; sm = s2; qm = s3;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Acc256Pair<F>(float* xt, float* wt, Vector256<float> idn, Vector256<float> ids,
        ref readonly KsVTab256 tn, ref readonly KsVTab256 ts,
        out Vector256<float> spn, out Vector256<float> qpn, out Vector256<float> smn, out Vector256<float> qmn,
        out Vector256<float> sps, out Vector256<float> qps, out Vector256<float> sms, out Vector256<float> qms) where F : struct, IKsFamily
    {
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
        Vector256<float> s4 = default, s5 = default, s6 = default, s7 = default;
        for (int j = 0; j < 32; j++)
        {
            var xv = Vector256.Load(xt + 8 * j);
            var wv = Vector256.Load(wt + 8 * j);
            var a = idn * xv;
            var q = F.Q(a, in tn);
            var wq = wv * q;
            s0 += wq * xv; s1 += wq * q;
            q = F.Q(-a, in tn);
            wq = wv * q;
            s2 += wq * xv; s3 += wq * q;
            a = ids * xv;
            q = F.Q(a, in ts);
            wq = wv * q;
            s4 += wq * xv; s5 += wq * q;
            q = F.Q(-a, in ts);
            wq = wv * q;
            s6 += wq * xv; s7 += wq * q;
        }
        spn = s0; qpn = s1; smn = s2; qmn = s3; sps = s4; qps = s5; sms = s6; qms = s7;
    }
}
