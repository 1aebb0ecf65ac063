using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace IQuant.Core.Quants;

/// <summary>
/// SIMD forms of the IQ4_KSS searches (pass 1 and the pass-2 index/table choice): one sub-block per lane, the
/// reference's arithmetic, candidate order and Prune rules in every lane, so the bytes equal the scalar path's.
/// </summary>
internal static unsafe class Iq4KssSimd
{
    private static readonly Vector512<int> s_par512 = Vector512.Create(0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0);
    private static readonly Vector256<int> s_parLo = Vector256.Create(0, 1, 1, 0, 1, 0, 0, 1);
    private static readonly Vector256<int> s_parHi = Vector256.Create(1, 0, 0, 1, 0, 1, 1, 0);

    /// <summary>Parity of a 4-bit value, per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Par(Vector512<int> i) => Avx512F.PermuteVar16x32(s_par512, i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Par(Vector256<int> i) => KsV.Lookup16(s_parLo, s_parHi, i);

    /// <summary>Table value per lane (16 entries).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> LkF(ref readonly KsVTab512 t, Vector512<int> i) => Avx512F.PermuteVar16x32(t.V0, i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> LkF(ref readonly KsVTab256 t, Vector256<int> i) => KsV.Lookup16(t.V0, t.V1, i);

    /// <summary>Pass 1 for a row at the given level (Avx2 or Avx512).</summary>
    public static void ScanRow(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> max, ReadOnlySpan<float> amax,
        Span<float> scales, SimdLevel level)
    {
        if (level == SimdLevel.Avx512) Scan512(x, w, max, amax, scales);
        else Scan256(x, w, max, amax, scales);
    }

    /// <summary>Pass-2 choice at the given level.</summary>
    public static void Pass2(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> scales, float dRow, float id,
        Span<int> ls, Span<ushort> v, Span<bool> sh, SimdLevel level)
    {
        if (level == SimdLevel.Avx512) Pass2512(x, w, scales, dRow, id, ls, v, sh);
        else Pass2256(x, w, scales, dRow, id, ls, v, sh);
    }

    // ---------------- Vector512 (16 sub-blocks per call) ----------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PruneJ(int j, Vector512<int> q, Vector512<int> pq, Vector512<float> x, Vector512<float> w,
        ref readonly KsVTab512 tab, Vector512<float> dl, ref Vector512<float> best, ref Vector512<int> jb, ref Vector512<int> bq)
    {
        var diff0 = dl * LkF(in KsVTables.Iq4.N512, q) - x;
        var d0sq = diff0 * diff0;
        for (int delta = -2; delta <= 2; delta++)
        {
            if (delta == 0) continue;
            var qq = q + Vector512.Create(delta);
            var qc = qq & Vector512.Create(15);
            var valid = Vector512.Equals(qq, qc) & ~Vector512.Equals(Par(qc), pq);
            var diff1 = dl * LkF(in tab, qc) - x;
            var score = w * ((diff1 * diff1) - d0sq);
            var m = valid & Vector512.LessThan(score, best).AsInt32();
            best = Vector512.ConditionalSelect(m.AsSingle(), score, best);
            jb = Vector512.ConditionalSelect(m, Vector512.Create(j), jb);
            bq = Vector512.ConditionalSelect(m, qq, bq);
        }
    }

    /// <summary>Prune of §4.12 per lane on the group's four indices.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prune(ref Vector512<int> i0, ref Vector512<int> i1, ref Vector512<int> i2, ref Vector512<int> i3,
        ref readonly KsVTab512 tab, Vector512<float> x0, Vector512<float> x1, Vector512<float> x2, Vector512<float> x3,
        Vector512<float> w0, Vector512<float> w1, Vector512<float> w2, Vector512<float> w3, Vector512<float> dl)
    {
        var p0 = Par(i0); var p1 = Par(i1); var p2 = Par(i2); var p3 = Par(i3);
        var odd = p0 ^ p1 ^ p2 ^ p3;
        if (odd == Vector512<int>.Zero) return;
        var best = Vector512.Create(float.MaxValue);
        var jb = Vector512.Create(-1);
        var bq = Vector512<int>.Zero;
        PruneJ(0, i0, p0, x0, w0, in tab, dl, ref best, ref jb, ref bq);
        PruneJ(1, i1, p1, x1, w1, in tab, dl, ref best, ref jb, ref bq);
        PruneJ(2, i2, p2, x2, w2, in tab, dl, ref best, ref jb, ref bq);
        PruneJ(3, i3, p3, x3, w3, in tab, dl, ref best, ref jb, ref bq);
        jb = Vector512.ConditionalSelect(Vector512.Equals(odd, Vector512<int>.Zero), Vector512.Create(-1), jb);
        i0 = Vector512.ConditionalSelect(Vector512.Equals(jb, Vector512.Create(0)), bq, i0);
        i1 = Vector512.ConditionalSelect(Vector512.Equals(jb, Vector512.Create(1)), bq, i1);
        i2 = Vector512.ConditionalSelect(Vector512.Equals(jb, Vector512.Create(2)), bq, i2);
        i3 = Vector512.ConditionalSelect(Vector512.Equals(jb, Vector512.Create(3)), bq, i3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Acc(Vector512<float> id, Vector512<float> td, ref readonly KsVTab512 tab, float* xt, float* wt,
        out Vector512<float> sp, out Vector512<float> qp, out Vector512<float> sm, out Vector512<float> qm)
    {
        const int G = 16;
        Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
        for (int k = 0; k < 8; k++)
        {
            var x0 = Vector512.Load(xt + (2 * k) * G); var x1 = Vector512.Load(xt + (2 * k + 16) * G);
            var x2 = Vector512.Load(xt + (2 * k + 1) * G); var x3 = Vector512.Load(xt + (2 * k + 17) * G);
            var w0 = Vector512.Load(wt + (2 * k) * G); var w1 = Vector512.Load(wt + (2 * k + 16) * G);
            var w2 = Vector512.Load(wt + (2 * k + 1) * G); var w3 = Vector512.Load(wt + (2 * k + 17) * G);
            var a0 = id * x0; var a1 = id * x1; var a2 = id * x2; var a3 = id * x3;
            var p0 = KsFam4.I(a0, in tab); var p1 = KsFam4.I(a1, in tab); var p2 = KsFam4.I(a2, in tab); var p3 = KsFam4.I(a3, in tab);
            var m0 = KsFam4.I(-a0, in tab); var m1 = KsFam4.I(-a1, in tab); var m2 = KsFam4.I(-a2, in tab); var m3 = KsFam4.I(-a3, in tab);
            Prune(ref p0, ref p1, ref p2, ref p3, in tab, x0, x1, x2, x3, w0, w1, w2, w3, td);
            Prune(ref m0, ref m1, ref m2, ref m3, in tab, x0, x1, x2, x3, w0, w1, w2, w3, td);
            var q = LkF(in tab, p0); var u = w0 * q; s0 += u * x0; s1 += u * q;
            q = LkF(in tab, m0); u = w0 * q; s2 += u * x0; s3 += u * q;
            q = LkF(in tab, p1); u = w1 * q; s0 += u * x1; s1 += u * q;
            q = LkF(in tab, m1); u = w1 * q; s2 += u * x1; s3 += u * q;
            q = LkF(in tab, p2); u = w2 * q; s0 += u * x2; s1 += u * q;
            q = LkF(in tab, m2); u = w2 * q; s2 += u * x2; s3 += u * q;
            q = LkF(in tab, p3); u = w3 * q; s0 += u * x3; s1 += u * q;
            q = LkF(in tab, m3); u = w3 * q; s2 += u * x3; s3 += u * q;
        }
        sp = s0; qp = s1; sm = s2; qm = s3;
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
        ref readonly var tn = ref KsVTables.Iq4.N512;
        ref readonly var ts = ref KsVTables.Iq4.S512;
        for (int first = 0; first < nsub; first += G)
        {
            int active = KsSearch.Transpose(x, w, max, amax, 1e-16f, first, G, xt, wt, mx);
            if (active != 0)
            {
                var vmax = Vector512.Load(mx);
                var d = -vmax / Vector512.Create(-127f);
                var best = Vector512<float>.Zero;
                for (int itry = -7; itry <= 7; itry++)
                {
                    var id = Vector512.Create((float)(itry - 127)) / vmax;
                    Acc(id, Vector512<float>.One / id, in tn, xt, wt, out var sp, out var qp, out var sm, out var qm);
                    Upd(ref d, ref best, sp, qp);
                    Upd(ref d, ref best, sm, qm);
                    id = Vector512.Create((float)(itry - 123)) / vmax;
                    Acc(id, Vector512<float>.One / id, in ts, xt, wt, out sp, out qp, out sm, out qm);
                    Upd(ref d, ref best, sp, qp);
                    Upd(ref d, ref best, sm, qm);
                }
                d.Store(dout);
            }
            for (int l = 0; l < G && first + l < nsub; l++)
                scales[first + l] = (active >> l & 1) != 0 ? dout[l] : 0;
        }
    }

    /// <summary>Pass-2 choice per lane: odd scale l, the pruned index words of both tables, the table with the smaller error.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Pass2512(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> scales, float dRow, float id,
        Span<int> lsOut, Span<ushort> vOut, Span<bool> shOut)
    {
        const int G = 16;
        int nsub = x.Length / 32;
        float* xt = stackalloc float[32 * G];
        float* wt = stackalloc float[32 * G];
        int* lv = stackalloc int[G];
        int* vp = stackalloc int[8 * G];
        int* vm = stackalloc int[8 * G];
        int* shv = stackalloc int[G];
        ref readonly var tn = ref KsVTables.Iq4.N512;
        ref readonly var ts = ref KsVTables.Iq4.S512;
        var vd = Vector512.Create(dRow);
        for (int first = 0; first < nsub; first += G)
        {
            for (int l = 0; l < G; l++)
            {
                int sb = first + l;
                if (sb < nsub)
                {
                    int li = KsMath.NearestInt(0.5f * (id * scales[sb] + 127f));
                    lv[l] = (Math.Clamp(li, 0, 127) << 1) - 127;
                    for (int j = 0; j < 32; j++) { xt[j * G + l] = x[32 * sb + j]; wt[j * G + l] = w[32 * sb + j]; }
                }
                else
                {
                    lv[l] = 1;
                    for (int j = 0; j < 32; j++) { xt[j * G + l] = 0; wt[j * G + l] = 0; }
                }
            }
            var dl = vd * Vector512.ConvertToSingle(Vector512.Load(lv));
            var idl = Vector512<float>.One / dl;
            var mseP = Vector512<float>.Zero;
            var mseM = Vector512<float>.Zero;
            for (int k = 0; k < 8; k++)
            {
                var x0 = Vector512.Load(xt + (2 * k) * G); var x1 = Vector512.Load(xt + (2 * k + 16) * G);
                var x2 = Vector512.Load(xt + (2 * k + 1) * G); var x3 = Vector512.Load(xt + (2 * k + 17) * G);
                var w0 = Vector512.Load(wt + (2 * k) * G); var w1 = Vector512.Load(wt + (2 * k + 16) * G);
                var w2 = Vector512.Load(wt + (2 * k + 1) * G); var w3 = Vector512.Load(wt + (2 * k + 17) * G);
                var a0 = idl * x0; var a1 = idl * x1; var a2 = idl * x2; var a3 = idl * x3;
                var p0 = KsV.Guard(KsFam4.I(a0, in tn), a0); var p1 = KsV.Guard(KsFam4.I(a1, in tn), a1);
                var p2 = KsV.Guard(KsFam4.I(a2, in tn), a2); var p3 = KsV.Guard(KsFam4.I(a3, in tn), a3);
                var m0 = KsV.Guard(KsFam4.I(a0, in ts), a0); var m1 = KsV.Guard(KsFam4.I(a1, in ts), a1);
                var m2 = KsV.Guard(KsFam4.I(a2, in ts), a2); var m3 = KsV.Guard(KsFam4.I(a3, in ts), a3);
                Prune(ref p0, ref p1, ref p2, ref p3, in tn, x0, x1, x2, x3, w0, w1, w2, w3, dl);
                Prune(ref m0, ref m1, ref m2, ref m3, in ts, x0, x1, x2, x3, w0, w1, w2, w3, dl);
                var e = x0 - dl * LkF(in tn, p0); mseP += (w0 * e) * e;
                e = x0 - dl * LkF(in ts, m0); mseM += (w0 * e) * e;
                e = x1 - dl * LkF(in tn, p1); mseP += (w1 * e) * e;
                e = x1 - dl * LkF(in ts, m1); mseM += (w1 * e) * e;
                e = x2 - dl * LkF(in tn, p2); mseP += (w2 * e) * e;
                e = x2 - dl * LkF(in ts, m2); mseM += (w2 * e) * e;
                e = x3 - dl * LkF(in tn, p3); mseP += (w3 * e) * e;
                e = x3 - dl * LkF(in ts, m3); mseM += (w3 * e) * e;
                (p0 | (p1 << 4) | (p2 << 8) | (p3 << 12)).Store(vp + k * G);
                (m0 | (m1 << 4) | (m2 << 8) | (m3 << 12)).Store(vm + k * G);
            }
            Vector512.LessThan(mseM, mseP).AsInt32().Store(shv);
            for (int l = 0; l < G && first + l < nsub; l++)
            {
                int sb = first + l;
                bool sh = shv[l] != 0;
                lsOut[sb] = lv[l];
                shOut[sb] = sh;
                for (int k = 0; k < 8; k++) vOut[8 * sb + k] = (ushort)(sh ? vm[k * G + l] : vp[k * G + l]);
            }
        }
    }

    // ---------------- Vector256 (8 sub-blocks per call) ----------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PruneJ(int j, Vector256<int> q, Vector256<int> pq, Vector256<float> x, Vector256<float> w,
        ref readonly KsVTab256 tab, Vector256<float> dl, ref Vector256<float> best, ref Vector256<int> jb, ref Vector256<int> bq)
    {
        var diff0 = dl * LkF(in KsVTables.Iq4.N256, q) - x;
        var d0sq = diff0 * diff0;
        for (int delta = -2; delta <= 2; delta++)
        {
            if (delta == 0) continue;
            var qq = q + Vector256.Create(delta);
            var qc = qq & Vector256.Create(15);
            var valid = Vector256.Equals(qq, qc) & ~Vector256.Equals(Par(qc), pq);
            var diff1 = dl * LkF(in tab, qc) - x;
            var score = w * ((diff1 * diff1) - d0sq);
            var m = valid & Vector256.LessThan(score, best).AsInt32();
            best = Vector256.ConditionalSelect(m.AsSingle(), score, best);
            jb = Vector256.ConditionalSelect(m, Vector256.Create(j), jb);
            bq = Vector256.ConditionalSelect(m, qq, bq);
        }
    }

    /// <summary>Prune of §4.12 per lane on the group's four indices.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prune(ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3,
        ref readonly KsVTab256 tab, Vector256<float> x0, Vector256<float> x1, Vector256<float> x2, Vector256<float> x3,
        Vector256<float> w0, Vector256<float> w1, Vector256<float> w2, Vector256<float> w3, Vector256<float> dl)
    {
        var p0 = Par(i0); var p1 = Par(i1); var p2 = Par(i2); var p3 = Par(i3);
        var odd = p0 ^ p1 ^ p2 ^ p3;
        if (odd == Vector256<int>.Zero) return;
        var best = Vector256.Create(float.MaxValue);
        var jb = Vector256.Create(-1);
        var bq = Vector256<int>.Zero;
        PruneJ(0, i0, p0, x0, w0, in tab, dl, ref best, ref jb, ref bq);
        PruneJ(1, i1, p1, x1, w1, in tab, dl, ref best, ref jb, ref bq);
        PruneJ(2, i2, p2, x2, w2, in tab, dl, ref best, ref jb, ref bq);
        PruneJ(3, i3, p3, x3, w3, in tab, dl, ref best, ref jb, ref bq);
        jb = Vector256.ConditionalSelect(Vector256.Equals(odd, Vector256<int>.Zero), Vector256.Create(-1), jb);
        i0 = Vector256.ConditionalSelect(Vector256.Equals(jb, Vector256.Create(0)), bq, i0);
        i1 = Vector256.ConditionalSelect(Vector256.Equals(jb, Vector256.Create(1)), bq, i1);
        i2 = Vector256.ConditionalSelect(Vector256.Equals(jb, Vector256.Create(2)), bq, i2);
        i3 = Vector256.ConditionalSelect(Vector256.Equals(jb, Vector256.Create(3)), bq, i3);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Acc(Vector256<float> id, Vector256<float> td, ref readonly KsVTab256 tab, float* xt, float* wt,
        out Vector256<float> sp, out Vector256<float> qp, out Vector256<float> sm, out Vector256<float> qm)
    {
        const int G = 8;
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
        for (int k = 0; k < 8; k++)
        {
            var x0 = Vector256.Load(xt + (2 * k) * G); var x1 = Vector256.Load(xt + (2 * k + 16) * G);
            var x2 = Vector256.Load(xt + (2 * k + 1) * G); var x3 = Vector256.Load(xt + (2 * k + 17) * G);
            var w0 = Vector256.Load(wt + (2 * k) * G); var w1 = Vector256.Load(wt + (2 * k + 16) * G);
            var w2 = Vector256.Load(wt + (2 * k + 1) * G); var w3 = Vector256.Load(wt + (2 * k + 17) * G);
            var a0 = id * x0; var a1 = id * x1; var a2 = id * x2; var a3 = id * x3;
            var p0 = KsFam4.I(a0, in tab); var p1 = KsFam4.I(a1, in tab); var p2 = KsFam4.I(a2, in tab); var p3 = KsFam4.I(a3, in tab);
            var m0 = KsFam4.I(-a0, in tab); var m1 = KsFam4.I(-a1, in tab); var m2 = KsFam4.I(-a2, in tab); var m3 = KsFam4.I(-a3, in tab);
            Prune(ref p0, ref p1, ref p2, ref p3, in tab, x0, x1, x2, x3, w0, w1, w2, w3, td);
            Prune(ref m0, ref m1, ref m2, ref m3, in tab, x0, x1, x2, x3, w0, w1, w2, w3, td);
            var q = LkF(in tab, p0); var u = w0 * q; s0 += u * x0; s1 += u * q;
            q = LkF(in tab, m0); u = w0 * q; s2 += u * x0; s3 += u * q;
            q = LkF(in tab, p1); u = w1 * q; s0 += u * x1; s1 += u * q;
            q = LkF(in tab, m1); u = w1 * q; s2 += u * x1; s3 += u * q;
            q = LkF(in tab, p2); u = w2 * q; s0 += u * x2; s1 += u * q;
            q = LkF(in tab, m2); u = w2 * q; s2 += u * x2; s3 += u * q;
            q = LkF(in tab, p3); u = w3 * q; s0 += u * x3; s1 += u * q;
            q = LkF(in tab, m3); u = w3 * q; s2 += u * x3; s3 += u * q;
        }
        sp = s0; qp = s1; sm = s2; qm = s3;
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
        ref readonly var tn = ref KsVTables.Iq4.N256;
        ref readonly var ts = ref KsVTables.Iq4.S256;
        for (int first = 0; first < nsub; first += G)
        {
            int active = KsSearch.Transpose(x, w, max, amax, 1e-16f, first, G, xt, wt, mx);
            if (active != 0)
            {
                var vmax = Vector256.Load(mx);
                var d = -vmax / Vector256.Create(-127f);
                var best = Vector256<float>.Zero;
                for (int itry = -7; itry <= 7; itry++)
                {
                    var id = Vector256.Create((float)(itry - 127)) / vmax;
                    Acc(id, Vector256<float>.One / id, in tn, xt, wt, out var sp, out var qp, out var sm, out var qm);
                    Upd(ref d, ref best, sp, qp);
                    Upd(ref d, ref best, sm, qm);
                    id = Vector256.Create((float)(itry - 123)) / vmax;
                    Acc(id, Vector256<float>.One / id, in ts, xt, wt, out sp, out qp, out sm, out qm);
                    Upd(ref d, ref best, sp, qp);
                    Upd(ref d, ref best, sm, qm);
                }
                d.Store(dout);
            }
            for (int l = 0; l < G && first + l < nsub; l++)
                scales[first + l] = (active >> l & 1) != 0 ? dout[l] : 0;
        }
    }

    /// <summary>Pass-2 choice per lane: odd scale l, the pruned index words of both tables, the table with the smaller error.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Pass2256(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> scales, float dRow, float id,
        Span<int> lsOut, Span<ushort> vOut, Span<bool> shOut)
    {
        const int G = 8;
        int nsub = x.Length / 32;
        float* xt = stackalloc float[32 * G];
        float* wt = stackalloc float[32 * G];
        int* lv = stackalloc int[G];
        int* vp = stackalloc int[8 * G];
        int* vm = stackalloc int[8 * G];
        int* shv = stackalloc int[G];
        ref readonly var tn = ref KsVTables.Iq4.N256;
        ref readonly var ts = ref KsVTables.Iq4.S256;
        var vd = Vector256.Create(dRow);
        for (int first = 0; first < nsub; first += G)
        {
            for (int l = 0; l < G; l++)
            {
                int sb = first + l;
                if (sb < nsub)
                {
                    int li = KsMath.NearestInt(0.5f * (id * scales[sb] + 127f));
                    lv[l] = (Math.Clamp(li, 0, 127) << 1) - 127;
                    for (int j = 0; j < 32; j++) { xt[j * G + l] = x[32 * sb + j]; wt[j * G + l] = w[32 * sb + j]; }
                }
                else
                {
                    lv[l] = 1;
                    for (int j = 0; j < 32; j++) { xt[j * G + l] = 0; wt[j * G + l] = 0; }
                }
            }
            var dl = vd * Vector256.ConvertToSingle(Vector256.Load(lv));
            var idl = Vector256<float>.One / dl;
            var mseP = Vector256<float>.Zero;
            var mseM = Vector256<float>.Zero;
            for (int k = 0; k < 8; k++)
            {
                var x0 = Vector256.Load(xt + (2 * k) * G); var x1 = Vector256.Load(xt + (2 * k + 16) * G);
                var x2 = Vector256.Load(xt + (2 * k + 1) * G); var x3 = Vector256.Load(xt + (2 * k + 17) * G);
                var w0 = Vector256.Load(wt + (2 * k) * G); var w1 = Vector256.Load(wt + (2 * k + 16) * G);
                var w2 = Vector256.Load(wt + (2 * k + 1) * G); var w3 = Vector256.Load(wt + (2 * k + 17) * G);
                var a0 = idl * x0; var a1 = idl * x1; var a2 = idl * x2; var a3 = idl * x3;
                var p0 = KsV.Guard(KsFam4.I(a0, in tn), a0); var p1 = KsV.Guard(KsFam4.I(a1, in tn), a1);
                var p2 = KsV.Guard(KsFam4.I(a2, in tn), a2); var p3 = KsV.Guard(KsFam4.I(a3, in tn), a3);
                var m0 = KsV.Guard(KsFam4.I(a0, in ts), a0); var m1 = KsV.Guard(KsFam4.I(a1, in ts), a1);
                var m2 = KsV.Guard(KsFam4.I(a2, in ts), a2); var m3 = KsV.Guard(KsFam4.I(a3, in ts), a3);
                Prune(ref p0, ref p1, ref p2, ref p3, in tn, x0, x1, x2, x3, w0, w1, w2, w3, dl);
                Prune(ref m0, ref m1, ref m2, ref m3, in ts, x0, x1, x2, x3, w0, w1, w2, w3, dl);
                var e = x0 - dl * LkF(in tn, p0); mseP += (w0 * e) * e;
                e = x0 - dl * LkF(in ts, m0); mseM += (w0 * e) * e;
                e = x1 - dl * LkF(in tn, p1); mseP += (w1 * e) * e;
                e = x1 - dl * LkF(in ts, m1); mseM += (w1 * e) * e;
                e = x2 - dl * LkF(in tn, p2); mseP += (w2 * e) * e;
                e = x2 - dl * LkF(in ts, m2); mseM += (w2 * e) * e;
                e = x3 - dl * LkF(in tn, p3); mseP += (w3 * e) * e;
                e = x3 - dl * LkF(in ts, m3); mseM += (w3 * e) * e;
                (p0 | (p1 << 4) | (p2 << 8) | (p3 << 12)).Store(vp + k * G);
                (m0 | (m1 << 4) | (m2 << 8) | (m3 << 12)).Store(vm + k * G);
            }
            Vector256.LessThan(mseM, mseP).AsInt32().Store(shv);
            for (int l = 0; l < G && first + l < nsub; l++)
            {
                int sb = first + l;
                bool sh = shv[l] != 0;
                lsOut[sb] = lv[l];
                shOut[sb] = sh;
                for (int k = 0; k < 8; k++) vOut[8 * sb + k] = (ushort)(sh ? vm[k * G + l] : vp[k * G + l]);
            }
        }
    }
}
