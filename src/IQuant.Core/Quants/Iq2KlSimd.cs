using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace IQuant.Core.Quants;

/// <summary>32-entry float table in two 512-bit registers.</summary>
internal struct KlT32x512
{
    public Vector512<float> Lo, Hi;
}

/// <summary>32-entry float table in four 256-bit registers.</summary>
internal struct KlT32x256
{
    public Vector256<float> A, B, C, D;
}

/// <summary>Tables of the IQ2_KL SIMD search: grid values, per-neighbour-slot grid values by list, K_INDEX.</summary>
internal static unsafe class KlTables
{
    /// <summary>grid first/second values, 512-bit form.</summary>
    public static readonly KlT32x512 GF512, GS512;
    /// <summary>Grid values of neighbour slot t of each list (NF[t][list]).</summary>
    public static readonly KlT32x512[] NF512 = new KlT32x512[8], NS512 = new KlT32x512[8];
    /// <summary>K_INDEX in four 512-bit registers.</summary>
    public static readonly Vector512<int> KI0, KI1, KI2, KI3;
    /// <summary>256-bit forms.</summary>
    public static readonly KlT32x256 GF256, GS256;
    /// <summary>Grid values of neighbour slot t of each list, 256-bit form.</summary>
    public static readonly KlT32x256[] NF256 = new KlT32x256[8], NS256 = new KlT32x256[8];
    /// <summary>K_INDEX (64 ints) and NEIGH (256 ints) in unmanaged memory for gathers.</summary>
    public static readonly int* KIndex, Neigh;

    static KlTables()
    {
        var grid = Iq2KlSearch.Grid;
        var gf = new float[32]; var gs = new float[32];
        for (int k = 0; k < 32; k++) { gf[k] = grid[2 * k]; gs[k] = grid[2 * k + 1]; }
        GF512 = T512(gf); GS512 = T512(gs); GF256 = T256(gf); GS256 = T256(gs);
        var nb = Iq2KlSearch.Neigh;
        for (int t = 0; t < 8; t++)
        {
            var nf = new float[32]; var ns = new float[32];
            for (int list = 0; list < 32; list++) { int k = nb[8 * list + t]; nf[list] = gf[k]; ns[list] = gs[k]; }
            NF512[t] = T512(nf); NS512[t] = T512(ns); NF256[t] = T256(nf); NS256[t] = T256(ns);
        }
        var ki = new int[64];
        for (int i = 0; i < 64; i++) ki[i] = Iq2KlSearch.KIndex[i];
        KI0 = Vector512.Create(ki.AsSpan(0, 16)); KI1 = Vector512.Create(ki.AsSpan(16, 16));
        KI2 = Vector512.Create(ki.AsSpan(32, 16)); KI3 = Vector512.Create(ki.AsSpan(48, 16));
        KIndex = (int*)NativeMemory.AlignedAlloc(64 * sizeof(int), 64);
        for (int i = 0; i < 64; i++) KIndex[i] = ki[i];
        Neigh = (int*)NativeMemory.AlignedAlloc(256 * sizeof(int), 64);
        for (int i = 0; i < 256; i++) Neigh[i] = nb[i];
    }

    private static KlT32x512 T512(float[] v) => new() { Lo = Vector512.Create(v.AsSpan(0, 16)), Hi = Vector512.Create(v.AsSpan(16, 16)) };

    private static KlT32x256 T256(float[] v) => new()
    {
        A = Vector256.Create(v.AsSpan(0, 8)), B = Vector256.Create(v.AsSpan(8, 8)),
        C = Vector256.Create(v.AsSpan(16, 8)), D = Vector256.Create(v.AsSpan(24, 8)),
    };
}

/// <summary>
/// SIMD forms of the IQ2_KL searches (pass 1 and the pass-2 scale/index choice): one sub-block per lane, the
/// reference's arithmetic and candidate order in every lane, so the bytes equal the scalar path's.
/// </summary>
internal static unsafe class Iq2KlSimd
{
    private static class T512
    {
        public static ref readonly KlT32x512 GF => ref KlTables.GF512;
        public static ref readonly KlT32x512 GS => ref KlTables.GS512;
        public static KlT32x512[] NF => KlTables.NF512;
        public static KlT32x512[] NS => KlTables.NS512;
    }

    private static class T256
    {
        public static ref readonly KlT32x256 GF => ref KlTables.GF256;
        public static ref readonly KlT32x256 GS => ref KlTables.GS256;
        public static KlT32x256[] NF => KlTables.NF256;
        public static KlT32x256[] NS => KlTables.NS256;
    }

    private static readonly Vector512<float> s_big512 = Vector512.Create(2147483648f);
    private static readonly Vector256<float> s_big256 = Vector256.Create(2147483648f);

    /// <summary>bi3 on the normal iq3nl table per lane (C's (int) cast: |a| ≥ 2^31 and NaN give index 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> I3(Vector512<float> a)
    {
        ref readonly var t = ref KsVTables.Iq3.N512;
        var i = Vector512<int>.Zero - Vector512.GreaterThanOrEqual(a, t.L1).AsInt32();
        i = KsV.Step(i, a, Avx512F.PermuteVar16x32(t.L2, i));
        i = KsV.Step(i, a, Avx512F.PermuteVar16x32(t.L3, i));
        return Vector512.AndNot(i, Vector512.GreaterThanOrEqual(a, s_big512).AsInt32());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> I3(Vector256<float> a)
    {
        ref readonly var t = ref KsVTables.Iq3.N256;
        var i = Vector256<int>.Zero - Vector256.GreaterThanOrEqual(a, t.L1).AsInt32();
        i = KsV.Step(i, a, Avx2.PermuteVar8x32(t.L2, i));
        i = KsV.Step(i, a, Avx2.PermuteVar8x32(t.L3, i));
        return Vector256.AndNot(i, Vector256.GreaterThanOrEqual(a, s_big256).AsInt32());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> KIdx(Vector512<int> i)
    {
        var lo = Avx512F.PermuteVar16x32x2(KlTables.KI0, i, KlTables.KI1);
        var hi = Avx512F.PermuteVar16x32x2(KlTables.KI2, i, KlTables.KI3);
        return Vector512.ConditionalSelect(Vector512.Equals(i & Vector512.Create(32), Vector512<int>.Zero), lo, hi);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> KIdx(Vector256<int> i) => Avx2.GatherVector256(KlTables.KIndex, i, 4);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> NeighK(Vector512<int> i) =>
        Vector512.Create(Avx2.GatherVector256(KlTables.Neigh, i.GetLower(), 4), Avx2.GatherVector256(KlTables.Neigh, i.GetUpper(), 4));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> NeighK(Vector256<int> i) => Avx2.GatherVector256(KlTables.Neigh, i, 4);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> L32(in KlT32x512 t, Vector512<int> i) => Avx512F.PermuteVar16x32x2(t.Lo, i, t.Hi);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> L32(in KlT32x256 t, Vector256<int> i)
    {
        var m3 = Avx2.ShiftLeftLogical(i, 28).AsSingle();
        var lo = Avx.BlendVariable(Avx2.PermuteVar8x32(t.A, i), Avx2.PermuteVar8x32(t.B, i), m3);
        var hi = Avx.BlendVariable(Avx2.PermuteVar8x32(t.C, i), Avx2.PermuteVar8x32(t.D, i), m3);
        return Avx.BlendVariable(lo, hi, Avx2.ShiftLeftLogical(i, 27).AsSingle());
    }

    /// <summary>Pass 1 for a row at the given level (Avx2 or Avx512).</summary>
    public static void ScanRow(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> max, ReadOnlySpan<float> amax,
        Span<float> scales, SimdLevel level)
    {
        if (level == SimdLevel.Avx512) Scan512(x, w, max, amax, scales);
        else Scan256(x, w, max, amax, scales);
    }

    /// <summary>Pass-2 choice of integer scales and pair indices at the given level.</summary>
    public static void Pass2(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> scales, float dRow, float id,
        Span<int> ls, Span<byte> kidx, SimdLevel level)
    {
        if (level == SimdLevel.Avx512) Pass2512(x, w, scales, dRow, id, ls, kidx);
        else Pass2256(x, w, scales, dRow, id, ls, kidx);
    }

    // ---------------- Vector512 (16 sub-blocks per call) ----------------

    private static Vector512<float> Score(Vector512<float> g1, Vector512<float> g2, Vector512<float> s1, Vector512<float> s2,
        Vector512<float> w1, Vector512<float> w2)
    {
        var d1 = g1 - s1; var d2 = g2 - s2;
        return ((w1 * d1) * d1) + ((w2 * d2) * d2);
    }

    /// <summary>PairIndex per lane: the grid values (g1, g2) and, when <paramref name="wantK"/>, the grid index.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pair(Vector512<float> id, Vector512<float> x1, Vector512<float> x2, Vector512<float> w1, Vector512<float> w2,
        bool wantK, out Vector512<float> g1, out Vector512<float> g2, out Vector512<int> k)
    {
        var s1 = id * x1; var s2 = id * x2;
        var c = KIdx(I3(s1) * Vector512.Create(8) + I3(s2));
        var ci = c & Vector512.Create(31);
        g1 = L32(T512.GF, ci); g2 = L32(T512.GS, ci);
        k = c;
        var neg = Vector512.LessThan(c, Vector512<int>.Zero);
        if (neg == Vector512<int>.Zero) return;
        var list = (Vector512<int>.Zero - c - Vector512<int>.One) & Vector512.Create(31);
        var b1 = L32(T512.NF[0], list); var b2 = L32(T512.NS[0], list);
        var best = Score(b1, b2, s1, s2, w1, w2);
        var bt = Vector512<int>.Zero;
        // the reference starts from FLT_MAX: the first neighbour is taken iff its score is < FLT_MAX
        var m0 = Vector512.LessThan(best, Vector512.Create(float.MaxValue));
        best = Vector512.ConditionalSelect(m0, best, Vector512.Create(float.MaxValue));
        for (int t = 1; t < 8; t++)
        {
            var n1 = L32(T512.NF[t], list); var n2 = L32(T512.NS[t], list);
            var sc = Score(n1, n2, s1, s2, w1, w2);
            var m = Vector512.LessThan(sc, best);
            best = Vector512.ConditionalSelect(m, sc, best);
            b1 = Vector512.ConditionalSelect(m, n1, b1); b2 = Vector512.ConditionalSelect(m, n2, b2);
            bt = Vector512.ConditionalSelect(m.AsInt32(), Vector512.Create(t), bt);
        }
        var negf = neg.AsSingle();
        g1 = Vector512.ConditionalSelect(negf, b1, g1); g2 = Vector512.ConditionalSelect(negf, b2, g2);
        if (wantK) k = Vector512.ConditionalSelect(neg, NeighK(list * Vector512.Create(8) + bt), c);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Acc2(Vector512<float> id, float* xt, float* wt, out Vector512<float> sp, out Vector512<float> qp,
        out Vector512<float> sm, out Vector512<float> qm)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var nid = -id;
        for (int p = 0; p < 16; p++)
        {
            var x1 = Vector512.Load(xt + (2 * p) * 16); var x2 = Vector512.Load(xt + (2 * p + 1) * 16);
            var w1 = Vector512.Load(wt + (2 * p) * 16); var w2 = Vector512.Load(wt + (2 * p + 1) * 16);
            Pair(id, x1, x2, w1, w2, false, out var g1, out var g2, out _);
            var u1 = w1 * g1; var u2 = w2 * g2;
            a0 += (u1 * x1) + (u2 * x2);
            a1 += (u1 * g1) + (u2 * g2);
            Pair(nid, x1, x2, w1, w2, false, out g1, out g2, out _);
            u1 = w1 * g1; u2 = w2 * g2;
            a2 += (u1 * x1) + (u2 * x2);
            a3 += (u1 * g1) + (u2 * g2);
        }
        sp = a0; qp = a1; sm = a2; qm = a3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Upd(ref Vector512<float> d, ref Vector512<float> best, Vector512<float> s, Vector512<float> s2)
    {
        var m = Vector512.GreaterThan(s2, Vector512<float>.Zero) & Vector512.GreaterThan(s * s, best * s2);
        if (m == Vector512<float>.Zero) return;
        var nd = s / s2;
        d = Vector512.ConditionalSelect(m, nd, d);
        best = Vector512.ConditionalSelect(m, nd * s, best);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scan512(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> max, ReadOnlySpan<float> amax,
        Span<float> scales)
    {
        const int G = 16;
        int nsub = x.Length / 32;
        float* xt = stackalloc float[32 * G];
        float* wt = stackalloc float[32 * G];
        float* mx = stackalloc float[G];
        float* dout = stackalloc float[G];
        for (int first = 0; first < nsub; first += G)
        {
            int active = KsSearch.Transpose(x, w, max, amax, 1e-16f, first, G, xt, wt, mx);
            if (active != 0)
            {
                var vmax = Vector512.Load(mx);
                var d = -vmax / Vector512.Create(-63f);
                Acc2(Vector512<float>.One / d, xt, wt, out var sp, out var qp, out var sm, out var qm);
                d = sp / qp;
                var best = d * sp;
                Upd(ref d, ref best, sm, qm);
                for (int itry = -5; itry <= 5; itry++)
                {
                    Acc2(Vector512.Create((float)(itry - 63)) / vmax, xt, wt, out sp, out qp, out sm, out qm);
                    Upd(ref d, ref best, sp, qp);
                    Upd(ref d, ref best, sm, qm);
                }
                d.Store(dout);
            }
            for (int l = 0; l < G && first + l < nsub; l++)
                scales[first + l] = (active >> l & 1) != 0 ? dout[l] : 0;
        }
    }

    /// <summary>Pass 2 search per lane: the integer scale (±1 around the rounded one) and the pair indices.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Pass2512(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> scales, float dRow, float id,
        Span<int> ls, Span<byte> kidx)
    {
        const int G = 16;
        int nsub = x.Length / 32;
        float* xt = stackalloc float[32 * G];
        float* wt = stackalloc float[32 * G];
        int* l0 = stackalloc int[G];
        int* kout = stackalloc int[G];
        var vd = Vector512.Create(dRow);
        for (int first = 0; first < nsub; first += G)
        {
            for (int l = 0; l < G; l++)
            {
                int sb = first + l;
                if (sb < nsub)
                {
                    l0[l] = Math.Clamp(KsMath.NearestInt(id * scales[sb]), -32, 31);
                    for (int j = 0; j < 32; j++) { xt[j * G + l] = x[32 * sb + j]; wt[j * G + l] = w[32 * sb + j]; }
                }
                else
                {
                    l0[l] = 0;
                    for (int j = 0; j < 32; j++) { xt[j * G + l] = 0; wt[j * G + l] = 0; }
                }
            }
            var ls0 = Vector512.Load(l0);
            var bestScore = Vector512.Create(float.MaxValue);
            var bestLs = ls0;
            for (int off = -1; off <= 1; off++)
            {
                var ils = ls0 + Vector512.Create(off);
                var valid = Vector512.GreaterThanOrEqual(ils, Vector512.Create(-32)) & Vector512.LessThanOrEqual(ils, Vector512.Create(31));
                var dl = vd * Vector512.ConvertToSingle(ils);
                var nz = ~Vector512.Equals(dl, Vector512<float>.Zero);
                var idl = Vector512.ConditionalSelect(nz, Vector512<float>.One / dl, Vector512<float>.Zero);
                var score = Vector512<float>.Zero;
                for (int p = 0; p < 16; p++)
                {
                    var x1 = Vector512.Load(xt + (2 * p) * G); var x2 = Vector512.Load(xt + (2 * p + 1) * G);
                    var w1 = Vector512.Load(wt + (2 * p) * G); var w2 = Vector512.Load(wt + (2 * p + 1) * G);
                    Pair(idl, x1, x2, w1, w2, false, out var g1, out var g2, out _);
                    var e1 = dl * g1 - x1; var e2 = dl * g2 - x2;
                    score += ((w1 * e1) * e1) + ((w2 * e2) * e2);
                }
                var m = valid & Vector512.LessThan(score, bestScore).AsInt32();
                bestScore = Vector512.ConditionalSelect(m.AsSingle(), score, bestScore);
                bestLs = Vector512.ConditionalSelect(m, ils, bestLs);
            }
            var dls = vd * Vector512.ConvertToSingle(bestLs);
            var idls = Vector512<float>.One / dls;
            bestLs.Store(l0);
            for (int l = 0; l < G && first + l < nsub; l++) ls[first + l] = l0[l];
            for (int p = 0; p < 16; p++)
            {
                var x1 = Vector512.Load(xt + (2 * p) * G); var x2 = Vector512.Load(xt + (2 * p + 1) * G);
                var w1 = Vector512.Load(wt + (2 * p) * G); var w2 = Vector512.Load(wt + (2 * p + 1) * G);
                Pair(idls, x1, x2, w1, w2, true, out _, out _, out var k);
                k.Store(kout);
                for (int l = 0; l < G && first + l < nsub; l++) kidx[16 * (first + l) + p] = (byte)kout[l];
            }
        }
    }

    // ---------------- Vector256 (8 sub-blocks per call) ----------------

    private static Vector256<float> Score(Vector256<float> g1, Vector256<float> g2, Vector256<float> s1, Vector256<float> s2,
        Vector256<float> w1, Vector256<float> w2)
    {
        var d1 = g1 - s1; var d2 = g2 - s2;
        return ((w1 * d1) * d1) + ((w2 * d2) * d2);
    }

    /// <summary>PairIndex per lane: the grid values (g1, g2) and, when <paramref name="wantK"/>, the grid index.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Pair(Vector256<float> id, Vector256<float> x1, Vector256<float> x2, Vector256<float> w1, Vector256<float> w2,
        bool wantK, out Vector256<float> g1, out Vector256<float> g2, out Vector256<int> k)
    {
        var s1 = id * x1; var s2 = id * x2;
        var c = KIdx(I3(s1) * Vector256.Create(8) + I3(s2));
        var ci = c & Vector256.Create(31);
        g1 = L32(T256.GF, ci); g2 = L32(T256.GS, ci);
        k = c;
        var neg = Vector256.LessThan(c, Vector256<int>.Zero);
        if (neg == Vector256<int>.Zero) return;
        var list = (Vector256<int>.Zero - c - Vector256<int>.One) & Vector256.Create(31);
        var b1 = L32(T256.NF[0], list); var b2 = L32(T256.NS[0], list);
        var best = Score(b1, b2, s1, s2, w1, w2);
        var bt = Vector256<int>.Zero;
        // the reference starts from FLT_MAX: the first neighbour is taken iff its score is < FLT_MAX
        var m0 = Vector256.LessThan(best, Vector256.Create(float.MaxValue));
        best = Vector256.ConditionalSelect(m0, best, Vector256.Create(float.MaxValue));
        for (int t = 1; t < 8; t++)
        {
            var n1 = L32(T256.NF[t], list); var n2 = L32(T256.NS[t], list);
            var sc = Score(n1, n2, s1, s2, w1, w2);
            var m = Vector256.LessThan(sc, best);
            best = Vector256.ConditionalSelect(m, sc, best);
            b1 = Vector256.ConditionalSelect(m, n1, b1); b2 = Vector256.ConditionalSelect(m, n2, b2);
            bt = Vector256.ConditionalSelect(m.AsInt32(), Vector256.Create(t), bt);
        }
        var negf = neg.AsSingle();
        g1 = Vector256.ConditionalSelect(negf, b1, g1); g2 = Vector256.ConditionalSelect(negf, b2, g2);
        if (wantK) k = Vector256.ConditionalSelect(neg, NeighK(list * Vector256.Create(8) + bt), c);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Acc2(Vector256<float> id, float* xt, float* wt, out Vector256<float> sp, out Vector256<float> qp,
        out Vector256<float> sm, out Vector256<float> qm)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var nid = -id;
        for (int p = 0; p < 16; p++)
        {
            var x1 = Vector256.Load(xt + (2 * p) * 8); var x2 = Vector256.Load(xt + (2 * p + 1) * 8);
            var w1 = Vector256.Load(wt + (2 * p) * 8); var w2 = Vector256.Load(wt + (2 * p + 1) * 8);
            Pair(id, x1, x2, w1, w2, false, out var g1, out var g2, out _);
            var u1 = w1 * g1; var u2 = w2 * g2;
            a0 += (u1 * x1) + (u2 * x2);
            a1 += (u1 * g1) + (u2 * g2);
            Pair(nid, x1, x2, w1, w2, false, out g1, out g2, out _);
            u1 = w1 * g1; u2 = w2 * g2;
            a2 += (u1 * x1) + (u2 * x2);
            a3 += (u1 * g1) + (u2 * g2);
        }
        sp = a0; qp = a1; sm = a2; qm = a3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Upd(ref Vector256<float> d, ref Vector256<float> best, Vector256<float> s, Vector256<float> s2)
    {
        var m = Vector256.GreaterThan(s2, Vector256<float>.Zero) & Vector256.GreaterThan(s * s, best * s2);
        if (m == Vector256<float>.Zero) return;
        var nd = s / s2;
        d = Vector256.ConditionalSelect(m, nd, d);
        best = Vector256.ConditionalSelect(m, nd * s, best);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Scan256(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> max, ReadOnlySpan<float> amax,
        Span<float> scales)
    {
        const int G = 8;
        int nsub = x.Length / 32;
        float* xt = stackalloc float[32 * G];
        float* wt = stackalloc float[32 * G];
        float* mx = stackalloc float[G];
        float* dout = stackalloc float[G];
        for (int first = 0; first < nsub; first += G)
        {
            int active = KsSearch.Transpose(x, w, max, amax, 1e-16f, first, G, xt, wt, mx);
            if (active != 0)
            {
                var vmax = Vector256.Load(mx);
                var d = -vmax / Vector256.Create(-63f);
                Acc2(Vector256<float>.One / d, xt, wt, out var sp, out var qp, out var sm, out var qm);
                d = sp / qp;
                var best = d * sp;
                Upd(ref d, ref best, sm, qm);
                for (int itry = -5; itry <= 5; itry++)
                {
                    Acc2(Vector256.Create((float)(itry - 63)) / vmax, xt, wt, out sp, out qp, out sm, out qm);
                    Upd(ref d, ref best, sp, qp);
                    Upd(ref d, ref best, sm, qm);
                }
                d.Store(dout);
            }
            for (int l = 0; l < G && first + l < nsub; l++)
                scales[first + l] = (active >> l & 1) != 0 ? dout[l] : 0;
        }
    }

    /// <summary>Pass 2 search per lane: the integer scale (±1 around the rounded one) and the pair indices.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Pass2256(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> scales, float dRow, float id,
        Span<int> ls, Span<byte> kidx)
    {
        const int G = 8;
        int nsub = x.Length / 32;
        float* xt = stackalloc float[32 * G];
        float* wt = stackalloc float[32 * G];
        int* l0 = stackalloc int[G];
        int* kout = stackalloc int[G];
        var vd = Vector256.Create(dRow);
        for (int first = 0; first < nsub; first += G)
        {
            for (int l = 0; l < G; l++)
            {
                int sb = first + l;
                if (sb < nsub)
                {
                    l0[l] = Math.Clamp(KsMath.NearestInt(id * scales[sb]), -32, 31);
                    for (int j = 0; j < 32; j++) { xt[j * G + l] = x[32 * sb + j]; wt[j * G + l] = w[32 * sb + j]; }
                }
                else
                {
                    l0[l] = 0;
                    for (int j = 0; j < 32; j++) { xt[j * G + l] = 0; wt[j * G + l] = 0; }
                }
            }
            var ls0 = Vector256.Load(l0);
            var bestScore = Vector256.Create(float.MaxValue);
            var bestLs = ls0;
            for (int off = -1; off <= 1; off++)
            {
                var ils = ls0 + Vector256.Create(off);
                var valid = Vector256.GreaterThanOrEqual(ils, Vector256.Create(-32)) & Vector256.LessThanOrEqual(ils, Vector256.Create(31));
                var dl = vd * Vector256.ConvertToSingle(ils);
                var nz = ~Vector256.Equals(dl, Vector256<float>.Zero);
                var idl = Vector256.ConditionalSelect(nz, Vector256<float>.One / dl, Vector256<float>.Zero);
                var score = Vector256<float>.Zero;
                for (int p = 0; p < 16; p++)
                {
                    var x1 = Vector256.Load(xt + (2 * p) * G); var x2 = Vector256.Load(xt + (2 * p + 1) * G);
                    var w1 = Vector256.Load(wt + (2 * p) * G); var w2 = Vector256.Load(wt + (2 * p + 1) * G);
                    Pair(idl, x1, x2, w1, w2, false, out var g1, out var g2, out _);
                    var e1 = dl * g1 - x1; var e2 = dl * g2 - x2;
                    score += ((w1 * e1) * e1) + ((w2 * e2) * e2);
                }
                var m = valid & Vector256.LessThan(score, bestScore).AsInt32();
                bestScore = Vector256.ConditionalSelect(m.AsSingle(), score, bestScore);
                bestLs = Vector256.ConditionalSelect(m, ils, bestLs);
            }
            var dls = vd * Vector256.ConvertToSingle(bestLs);
            var idls = Vector256<float>.One / dls;
            bestLs.Store(l0);
            for (int l = 0; l < G && first + l < nsub; l++) ls[first + l] = l0[l];
            for (int p = 0; p < 16; p++)
            {
                var x1 = Vector256.Load(xt + (2 * p) * G); var x2 = Vector256.Load(xt + (2 * p + 1) * G);
                var w1 = Vector256.Load(wt + (2 * p) * G); var w2 = Vector256.Load(wt + (2 * p + 1) * G);
                Pair(idls, x1, x2, w1, w2, true, out _, out _, out var k);
                k.Store(kout);
                for (int l = 0; l < G && first + l < nsub; l++) kidx[16 * (first + l) + p] = (byte)kout[l];
            }
        }
    }
}
