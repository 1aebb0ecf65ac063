using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static IQuant.Core.Quants.BaselineHelpers;

namespace IQuant.Core.Quants;

/// <summary>
/// make_qkx2_quants / make_qkx3_quants (formats-baseline.md §2.3, §2.4) with the candidate scales evaluated in SIMD
/// lanes. The reference's quirk — an accepted candidate replaces <c>min</c>, and later candidates use the new one — makes
/// the candidates depend on each other, so the lanes evaluate candidates speculatively with the current <c>min</c>:
/// the scalar walk accepts the first improving candidate in reference order and restarts the lanes after it with the
/// new <c>min</c>. Each lane keeps its own sums over the weights in reference order with the same binary32 (KX2) or
/// binary64 (KX3) operations, so the results are bit-identical to <see cref="BaselineHelpers.MakeQkx2"/> and
/// <see cref="BaselineHelpers.MakeQkx3"/>.
/// </summary>
[SkipLocalsInit]
internal static unsafe class KxKernels
{
    /// <summary>make_qkx3_quants (use_mad = false).</summary>
    public static float MakeQkx3(int n, int nmax, float* x, float* w, byte* L, out float theMin, float rmin, float rdelta, int nstep, SimdLevel level)
    {
        if (level == SimdLevel.Scalar || n > 32) return BaselineHelpers.MakeQkx3(n, nmax, x, w, L, out theMin, rmin, rdelta, nstep);
        MinMax(x, n, out float min, out float max);
        double SW = w[0];
        double SX = SW * x[0];
        double SX2 = (SW * x[0]) * x[0];
        for (int i = 1; i < n; i++)
        {
            double wi = w[i];
            SW += wi;
            SX += wi * x[i];
            SX2 += (wi * x[i]) * x[i];
        }
        if (min > 0) min = 0;
        if (max - min < 1e-10f)
        {
            for (int i = 0; i < n; i++) L[i] = 0;
            theMin = -min;
            return 0f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        double* xd = stackalloc double[32]; double* wd = stackalloc double[32];
        for (int i = 0; i < n; i++) { xd[i] = x[i]; wd[i] = w[i]; }
        AffineLevels(x, n, iscale, min, nmax, L);
        double* t = stackalloc double[32];
        {
            var vs = Vector256.Create((double)scale); var vm = Vector256.Create((double)min);
            for (int i = 0; i < n; i += 4)
            {
                var l = Avx.ConvertToVector256Double(Sse41.ConvertToVector128Int32(Vector128.CreateScalarUnsafe(*(uint*)(L + i)).AsByte()));
                var diff = ((vs * l) + vm) - Vector256.Load(xd + i);
                (Vector256.Load(wd + i) * (diff * diff)).Store(t + i);
            }
        }
        double bestMad = 0;
        for (int i = 0; i < n; i++) bestMad += t[i];
        double* D = stackalloc double[8]; double* TS = stackalloc double[8]; double* TM = stackalloc double[8]; double* MAD = stackalloc double[8];
        float* s = stackalloc float[8];
        int width = level == SimdLevel.Avx512 ? 8 : 4;
        int k = 0;
        while (k <= nstep)
        {
            int cnt = Math.Min(width, nstep + 1 - k);
            CandidateScales(s, width, k, cnt, rmin, rdelta, nmax, max - min);
            if (width == 8) Kx3Lanes512(n, nmax, xd, wd, x, min, s, SW, SX, SX2, D, TS, TM, MAD);
            else Kx3Lanes256(n, nmax, xd, wd, x, min, s, SW, SX, SX2, D, TS, TM, MAD);
            int acc = -1;
            for (int c = 0; c < cnt; c++)
                if (D[c] > 0 && MAD[c] < bestMad) { acc = c; break; }
            if (acc < 0) { k += cnt; continue; }
            float sa = s[acc];
            AffineLevels(x, n, sa, min, nmax, L);
            bestMad = MAD[acc]; scale = (float)TS[acc]; min = (float)TM[acc];
            k += acc + 1;
        }
        if (n == 16 || n == 32) Kx3GreedySimd(n, nmax, x, w, L, SW, SX, ref scale, ref min);
        else Kx3Greedy(n, nmax, x, w, L, SW, SX, ref scale, ref min);
        theMin = -min;
        return scale;
    }

    /// <summary>
    /// min = x0, max = x0; then "if (x_i &lt; min) min = x_i; if (x_i &gt; max) max = x_i" in order, branch-free: minss/maxss
    /// return their second operand unless the first compares strictly less/greater, which is exactly that update
    /// (signed zeros and ties included).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MinMax(float* x, int n, out float min, out float max)
    {
        var mn = Vector128.CreateScalarUnsafe(x[0]); var mx = mn;
        for (int i = 1; i < n; i++)
        {
            var v = Vector128.CreateScalarUnsafe(x[i]);
            mn = Sse.MinScalar(v, mn);
            mx = Sse.MaxScalar(v, mx);
        }
        min = mn.ToScalar(); max = mx.ToScalar();
    }

    /// <summary>L_i = clamp(nearest_int(s·(x_i − min)), 0, nmax) for n (a multiple of 8) weights, in lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AffineLevels(float* x, int n, float s, float min, int nmax, byte* L)
    {
        var vs = Vector256.Create(s); var vm = Vector256.Create(min); var hi = Vector256.Create(nmax);
        for (int i = 0; i < n; i += 8)
        {
            var q = (vs * (Vector256.Load(x + i) - vm) + Vector256.Create(12582912f)).AsInt32();
            var l = Vector256.Min(Vector256.Max((q & Vector256.Create(0x7FFFFF)) - Vector256.Create(0x400000), Vector256<int>.Zero), hi);
            var p16 = Sse41.PackUnsignedSaturate(l.GetLower(), l.GetUpper());
            *(ulong*)(L + i) = Sse2.PackUnsignedSaturate(p16.AsInt16(), p16.AsInt16()).AsUInt64().ToScalar();
        }
    }

    /// <summary>s_c = ((rmin + rdelta·f(k + c)) + f(nmax)) / range for c &lt; width (lanes past cnt repeat the last one).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CandidateScales(float* s, int width, int k, int cnt, float rmin, float rdelta, int nmax, float range)
    {
        for (int c = 0; c < width; c += 8)
        {
            var kk = Vector256.Min(Vector256.Create(k + c) + Vector256<int>.Indices, Vector256.Create(k + cnt - 1));
            var v = ((Vector256.Create(rmin) + Vector256.Create(rdelta) * Vector256.ConvertToSingle(kk)) + Vector256.Create((float)nmax)) / Vector256.Create(range);
            if (width - c >= 8) v.Store(s + c);
            else v.GetLower().Store(s + c);
        }
    }

    /// <summary>
    /// The greedy refinement of make_qkx3_quants with the per-weight scan in lanes: g = (x − scale·L) − min, the first
    /// weight of largest |g| among those that may move (strict &gt; in ascending order = lowest lane equal to the maximum).
    /// The f64 updates are the scalar ones of <see cref="BaselineHelpers.Kx3Greedy"/>.
    /// </summary>
    private static void Kx3GreedySimd(int n, int nmax, float* x, float* w, byte* L, double SW, double SX, ref float scale, ref float min)
    {
        double SL = 0, SL2 = 0, SXL = 0;
        for (int i = 0; i < n; i++)
        {
            int l = L[i];
            double wi = w[i];
            SL += wi * l;
            SL2 += (wi * l) * l;
            SXL += (wi * l) * x[i];
        }
        double best = BaselineHelpers.Kx3Score(scale, min, SL, SL2, SXL, SW, SX);
        int* li = stackalloc int[32];
        float* ag = stackalloc float[32];
        for (int i = 0; i < n; i++) li[i] = L[i];
        var vnmax = Vector256.Create(nmax);
        int lastJ = -1, lastDir = 0;
        int maxIter = nmax * n;
        for (int itry = 0; itry < maxIter; itry++)
        {
            var vs = Vector256.Create(scale); var vmin = Vector256.Create(min);
            var m = Vector256<float>.Zero;
            for (int h = 0; h < n; h += 8)
            {
                var l = Vector256.Load(li + h);
                var g = (Vector256.Load(x + h) - vs * Vector256.ConvertToSingle(l)) - vmin;
                var ok = (Vector256.GreaterThan(g, Vector256<float>.Zero) & Vector256.LessThan(l, vnmax).AsSingle())
                       | (Vector256.LessThan(g, Vector256<float>.Zero) & Vector256.GreaterThan(l, Vector256<int>.Zero).AsSingle());
                var a = Vector256.Abs(g) & ok;
                a.Store(ag + h);
                m = Vector256.Max(m, a);
            }
            var m4 = Vector128.Max(m.GetLower(), m.GetUpper());
            m4 = Vector128.Max(m4, Vector128.Shuffle(m4, Vector128.Create(2, 3, 0, 1)));
            m4 = Vector128.Max(m4, Vector128.Shuffle(m4, Vector128.Create(1, 0, 3, 2)));
            float gmax = m4.ToScalar();
            if (!(gmax > 0)) break;
            int bj = 0;
            while (ag[bj] != gmax) bj++;
            float gb = (x[bj] - scale * li[bj]) - min;
            int dir = gb > 0 ? 1 : -1;
            if (bj == lastJ && dir == -lastDir) break;
            double wj = w[bj];
            SL += wj * dir;
            SL2 += wj * (2 * li[bj] * dir + 1);
            SXL += (wj * x[bj]) * dir;
            double D = (SW * SL2) - (SL * SL);
            if (D <= 0) break;
            double ts = ((SW * SXL) - (SX * SL)) / D;
            double tm = ((SL2 * SX) - (SL * SXL)) / D;
            if (tm > 0) { tm = 0; ts = SXL / SL2; }
            if (ts < 0) break;
            double score = BaselineHelpers.Kx3Score(ts, tm, SL, SL2, SXL, SW, SX);
            if (score <= best) break;
            best = score; scale = (float)ts; min = (float)tm; li[bj] += dir; L[bj] = (byte)li[bj];
            lastJ = bj; lastDir = dir;
        }
    }

    private static void Kx3Lanes512(int n, int nmax, double* xd, double* wd, float* x, float min, float* s, double SW, double SX, double SX2,
        double* D, double* TS, double* TM, double* MAD)
    {
        var vs = Vector256.Load(s);
        var magic = Vector256.Create(12582912f);
        var mask = Vector256.Create(0x7FFFFF); var off = Vector256.Create(0x400000);
        var hi = Vector256.Create(nmax);
        float* xm = stackalloc float[32];
        for (int i = 0; i < n; i++) xm[i] = x[i] - min;
        Vector512<double> SL = default, SL2 = default, SXL = default;
        for (int i = 0; i < n; i++)
        {
            var a = vs * Vector256.Create(xm[i]) + magic;
            var li = Vector256.Min(Vector256.Max((a.AsInt32() & mask) - off, Vector256<int>.Zero), hi);
            var dl = Avx512F.ConvertToVector512Double(li);
            var wl = Vector512.Create(wd[i]) * dl;
            SL += wl;
            SL2 += wl * dl;
            SXL += wl * Vector512.Create(xd[i]);
        }
        var vSW = Vector512.Create(SW); var vSX = Vector512.Create(SX);
        var d = (vSW * SL2) - (SL * SL);
        var ts = ((vSW * SXL) - (vSX * SL)) / d;
        var tm = ((SL2 * vSX) - (SL * SXL)) / d;
        var pos = Vector512.GreaterThan(tm, Vector512<double>.Zero);
        tm = Vector512.ConditionalSelect(pos, Vector512<double>.Zero, tm);
        ts = Vector512.ConditionalSelect(pos, SXL / SL2, ts);
        var two = Vector512.Create(2.0);
        var mad = ((((Vector512.Create(SX2) - (two * ts) * SXL) - (two * tm) * vSX) + ((two * ts) * tm) * SL) + (ts * ts) * SL2) + (tm * tm) * vSW;
        d.Store(D); ts.Store(TS); tm.Store(TM); mad.Store(MAD);
    }

    private static void Kx3Lanes256(int n, int nmax, double* xd, double* wd, float* x, float min, float* s, double SW, double SX, double SX2,
        double* D, double* TS, double* TM, double* MAD)
    {
        var vs = Vector128.Load(s);
        var magic = Vector128.Create(12582912f);
        var mask = Vector128.Create(0x7FFFFF); var off = Vector128.Create(0x400000);
        var hi = Vector128.Create(nmax);
        float* xm = stackalloc float[32];
        for (int i = 0; i < n; i++) xm[i] = x[i] - min;
        Vector256<double> SL = default, SL2 = default, SXL = default;
        for (int i = 0; i < n; i++)
        {
            var a = vs * Vector128.Create(xm[i]) + magic;
            var li = Vector128.Min(Vector128.Max((a.AsInt32() & mask) - off, Vector128<int>.Zero), hi);
            var dl = Avx.ConvertToVector256Double(li);
            var wl = Vector256.Create(wd[i]) * dl;
            SL += wl;
            SL2 += wl * dl;
            SXL += wl * Vector256.Create(xd[i]);
        }
        var vSW = Vector256.Create(SW); var vSX = Vector256.Create(SX);
        var d = (vSW * SL2) - (SL * SL);
        var ts = ((vSW * SXL) - (vSX * SL)) / d;
        var tm = ((SL2 * vSX) - (SL * SXL)) / d;
        var pos = Vector256.GreaterThan(tm, Vector256<double>.Zero);
        tm = Vector256.ConditionalSelect(pos, Vector256<double>.Zero, tm);
        ts = Vector256.ConditionalSelect(pos, SXL / SL2, ts);
        var two = Vector256.Create(2.0);
        var mad = ((((Vector256.Create(SX2) - (two * ts) * SXL) - (two * tm) * vSX) + ((two * ts) * tm) * SL) + (ts * ts) * SL2) + (tm * tm) * vSW;
        d.Store(D); ts.Store(TS); tm.Store(TM); mad.Store(MAD);
    }

    /// <summary>make_qkx2_quants.</summary>
    public static float MakeQkx2(int n, int nmax, float* x, float* w, byte* L, out float theMin, float rmin, float rdelta, int nstep, bool useMad, SimdLevel level)
    {
        if (level == SimdLevel.Scalar || n > 32) return BaselineHelpers.MakeQkx2(n, nmax, x, w, L, out theMin, rmin, rdelta, nstep, useMad);
        MinMax(x, n, out float min, out float max);
        float sw = w[0];
        float sx = sw * x[0];
        for (int i = 1; i < n; i++)
        {
            sw += w[i];
            sx += w[i] * x[i];
        }
        if (min > 0) min = 0;
        if (max - min < 1e-10f)
        {
            for (int i = 0; i < n; i++) L[i] = 0;
            theMin = -min;
            return 0f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        AffineLevels(x, n, iscale, min, nmax, L);
        float* t = stackalloc float[32];
        {
            var vs = Vector256.Create(scale); var vm = Vector256.Create(min);
            for (int i = 0; i < n; i += 8)
            {
                var l = Vector256.ConvertToSingle(Avx2.ConvertToVector256Int32(Vector128.CreateScalarUnsafe(*(ulong*)(L + i)).AsByte()));
                var diff = ((vs * l) + vm) - Vector256.Load(x + i);
                diff = useMad ? Vector256.Abs(diff) : diff * diff;
                (Vector256.Load(w + i) * diff).Store(t + i);
            }
        }
        float best = 0;
        for (int i = 0; i < n; i++) best += t[i];
        float* D = stackalloc float[16]; float* TS = stackalloc float[16]; float* TM = stackalloc float[16]; float* MAD = stackalloc float[16];
        float* s = stackalloc float[16];
        int width = level == SimdLevel.Avx512 ? 16 : 8;
        int k = 0;
        while (k <= nstep)
        {
            int cnt = Math.Min(width, nstep + 1 - k);
            CandidateScales(s, width, k, cnt, rmin, rdelta, nmax, max - min);
            if (width == 16) Kx2Lanes512(n, nmax, x, w, min, s, sw, sx, useMad, D, TS, TM, MAD);
            else Kx2Lanes256(n, nmax, x, w, min, s, sw, sx, useMad, D, TS, TM, MAD);
            int acc = -1;
            for (int c = 0; c < cnt; c++)
                if (D[c] > 0 && MAD[c] < best) { acc = c; break; }
            if (acc < 0) { k += cnt; continue; }
            float sa = s[acc];
            AffineLevels(x, n, sa, min, nmax, L);
            best = MAD[acc]; scale = TS[acc]; min = TM[acc];
            k += acc + 1;
        }
        theMin = -min;
        return scale;
    }

    private static void Kx2Lanes512(int n, int nmax, float* x, float* w, float min, float* s, float sw, float sx, bool useMad,
        float* D, float* TS, float* TM, float* MAD)
    {
        var vs = Vector512.Load(s);
        var magic = Vector512.Create(12582912f);
        var mask = Vector512.Create(0x7FFFFF); var off = Vector512.Create(0x400000);
        var hi = Vector512.Create(nmax);
        float* xm = stackalloc float[32];
        for (int i = 0; i < n; i++) xm[i] = x[i] - min;
        var ls = stackalloc Vector512<float>[32];
        Vector512<float> SL = default, SL2 = default, SXL = default;
        for (int i = 0; i < n; i++)
        {
            var a = vs * Vector512.Create(xm[i]) + magic;
            var l = Vector512.ConvertToSingle(Vector512.Min(Vector512.Max((a.AsInt32() & mask) - off, Vector512<int>.Zero), hi));
            ls[i] = l;
            var wl = Vector512.Create(w[i]) * l;
            SL += wl;
            SL2 += wl * l;
            SXL += wl * Vector512.Create(x[i]);
        }
        var vSW = Vector512.Create(sw); var vSX = Vector512.Create(sx);
        var d = (vSW * SL2) - (SL * SL);
        var ts = ((vSW * SXL) - (vSX * SL)) / d;
        var tm = ((SL2 * vSX) - (SL * SXL)) / d;
        var pos = Vector512.GreaterThan(tm, Vector512<float>.Zero);
        tm = Vector512.ConditionalSelect(pos, Vector512<float>.Zero, tm);
        ts = Vector512.ConditionalSelect(pos, SXL / SL2, ts);
        Vector512<float> mad = default;
        for (int i = 0; i < n; i++)
        {
            var diff = ((ts * ls[i]) + tm) - Vector512.Create(x[i]);
            diff = useMad ? Vector512.Abs(diff) : diff * diff;
            mad += Vector512.Create(w[i]) * diff;
        }
        d.Store(D); ts.Store(TS); tm.Store(TM); mad.Store(MAD);
    }

    private static void Kx2Lanes256(int n, int nmax, float* x, float* w, float min, float* s, float sw, float sx, bool useMad,
        float* D, float* TS, float* TM, float* MAD)
    {
        var vs = Vector256.Load(s);
        var magic = Vector256.Create(12582912f);
        var mask = Vector256.Create(0x7FFFFF); var off = Vector256.Create(0x400000);
        var hi = Vector256.Create(nmax);
        float* xm = stackalloc float[32];
        for (int i = 0; i < n; i++) xm[i] = x[i] - min;
        var ls = stackalloc Vector256<float>[32];
        Vector256<float> SL = default, SL2 = default, SXL = default;
        for (int i = 0; i < n; i++)
        {
            var a = vs * Vector256.Create(xm[i]) + magic;
            var l = Vector256.ConvertToSingle(Vector256.Min(Vector256.Max((a.AsInt32() & mask) - off, Vector256<int>.Zero), hi));
            ls[i] = l;
            var wl = Vector256.Create(w[i]) * l;
            SL += wl;
            SL2 += wl * l;
            SXL += wl * Vector256.Create(x[i]);
        }
        var vSW = Vector256.Create(sw); var vSX = Vector256.Create(sx);
        var d = (vSW * SL2) - (SL * SL);
        var ts = ((vSW * SXL) - (vSX * SL)) / d;
        var tm = ((SL2 * vSX) - (SL * SXL)) / d;
        var pos = Vector256.GreaterThan(tm, Vector256<float>.Zero);
        tm = Vector256.ConditionalSelect(pos, Vector256<float>.Zero, tm);
        ts = Vector256.ConditionalSelect(pos, SXL / SL2, ts);
        Vector256<float> mad = default;
        for (int i = 0; i < n; i++)
        {
            var diff = ((ts * ls[i]) + tm) - Vector256.Create(x[i]);
            diff = useMad ? Vector256.Abs(diff) : diff * diff;
            mad += Vector256.Create(w[i]) * diff;
        }
        d.Store(D); ts.Store(TS); tm.Store(TM); mad.Store(MAD);
    }
}
