using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static IQuant.Core.Quants.BaselineHelpers;

namespace IQuant.Core.Quants;

/// <summary>
/// make_qx_quants (formats-baseline.md §2.1) with the 39 candidate inverse scales evaluated in SIMD lanes: lane c runs
/// its own sequential sums over the n weights in the reference order (every lane operation is the same IEEE binary32
/// operation as the scalar code), then the acceptance chain walks the candidates in the reference order in scalar code.
/// Bit-identical to <see cref="BaselineHelpers.MakeQx"/>.
/// </summary>
[SkipLocalsInit]
internal static unsafe class QxKernels
{
    private const int Candidates = 39;

    /// <summary>make_qx_quants(n, nmax, x, L, 1, w) with explicit weights (x² when there is no imatrix).</summary>
    public static float MakeQx(int n, int nmax, float* x, byte* L, float* w, SimdLevel level)
    {
        if (level == SimdLevel.Scalar || n % 8 != 0 || n > 32) return BaselineHelpers.MakeQx(n, nmax, x, L, w);
        float amax = AbsMaxLanes(x, n, out float max);
        if (amax < GroupMaxEps)
        {
            for (int i = 0; i < n; i++) L[i] = 0;
            return 0f;
        }
        float* s = stackalloc float[48];
        float* num = Numerators(nmax);
        var vmax = Vector256.Create(max);
        for (int c = 0; c < 48; c += 8) (Vector256.Load(num + c) / vmax).Store(s + c);
        float* slx = stackalloc float[48];
        float* sl2 = stackalloc float[48];
        if (level == SimdLevel.Avx512) Sums512(n, nmax, x, w, s, slx, sl2);
        else Sums256(n, nmax, x, w, s, slx, sl2);

        float scale = sl2[0] != 0 ? slx[0] / sl2[0] : 0f;
        float best = scale * slx[0];
        float bslx = slx[0], bsl2 = sl2[0];
        int last = 0;
        for (int c = 1; c < Candidates; c++)
        {
            float a = slx[c], b = sl2[c];
            if (b > 0 && a * a > best * b)
            {
                scale = a / b; best = scale * a; bslx = a; bsl2 = b; last = c;
            }
        }
        SymLevels(x, n, s[last], nmax, L);
        if (level == SimdLevel.Avx512 && (n == 16 || n == 32)) return Greedy512(n, nmax, x, L, w, scale, best, bslx, bsl2);
        if (n % 8 == 0 && n <= 32) return Greedy256(n, nmax, x, L, w, scale, best, bslx, bsl2);
        return QxGreedy(n, nmax, x, L, w, scale, best, bslx, bsl2);
    }

    /// <summary>
    /// The greedy refinement of §2.1 with the per-weight gradient scan in lanes; the first index of the largest |g|
    /// (strict &gt; in ascending order) is found as the lowest lane equal to the maximum.
    /// </summary>
    private static float Greedy512(int n, int nmax, float* x, byte* L, float* w, float scale, float best, float slx, float sl2)
    {
        int nv = n / 16;
        var x0 = Vector512.Load(x); var w0 = Vector512.Load(w);
        var x1 = nv > 1 ? Vector512.Load(x + 16) : Vector512<float>.Zero;
        var w1 = nv > 1 ? Vector512.Load(w + 16) : Vector512<float>.Zero;
        var vnmax = Vector512.Create(nmax);
        var l0 = Avx512F.ConvertToVector512Int32(Vector128.Load(L)) - vnmax;
        var l1 = nv > 1 ? Avx512F.ConvertToVector512Int32(Vector128.Load(L + 16)) - vnmax : Vector512<int>.Zero;
        var hiLim = Vector512.Create(nmax - 1); var loLim = Vector512.Create(-nmax);
        int maxIter = n * (2 * nmax - 1);
        for (int iter = 0; iter < maxIter; iter++)
        {
            var vs = Vector512.Create(scale);
            var g0 = (vs * w0) * (x0 - vs * Vector512.ConvertToSingle(l0));
            var ok0 = (Vector512.GreaterThan(g0, Vector512<float>.Zero) & Vector512.LessThan(l0, hiLim).AsSingle())
                    | (Vector512.LessThan(g0, Vector512<float>.Zero) & Vector512.GreaterThan(l0, loLim).AsSingle());
            var a0 = Vector512.Abs(g0) & ok0;
            var m = a0;
            Vector512<float> g1 = default, a1 = default;
            if (nv > 1)
            {
                g1 = (vs * w1) * (x1 - vs * Vector512.ConvertToSingle(l1));
                var ok1 = (Vector512.GreaterThan(g1, Vector512<float>.Zero) & Vector512.LessThan(l1, hiLim).AsSingle())
                        | (Vector512.LessThan(g1, Vector512<float>.Zero) & Vector512.GreaterThan(l1, loLim).AsSingle());
                a1 = Vector512.Abs(g1) & ok1;
                m = Vector512.Max(m, a1);
            }
            float agmax = HMax(m);
            if (!(agmax > 0)) break;
            var vm = Vector512.Create(agmax);
            ulong mask = Vector512.Equals(a0, vm).ExtractMostSignificantBits();
            if (nv > 1) mask |= Vector512.Equals(a1, vm).ExtractMostSignificantBits() << 16;
            int bj = System.Numerics.BitOperations.TrailingZeroCount(mask);
            float gmax = bj < 16 ? g0.GetElement(bj) : g1.GetElement(bj - 16);
            if (!QxTryMove(nmax, x, L, w, bj, gmax, ref scale, ref best, ref slx, ref sl2)) break;
            if (bj < 16) l0 = l0.WithElement(bj, L[bj] - nmax); else l1 = l1.WithElement(bj - 16, L[bj] - nmax);
        }
        return scale;
    }

    private static float Greedy256(int n, int nmax, float* x, byte* L, float* w, float scale, float best, float slx, float sl2)
    {
        int* li = stackalloc int[32];
        float* ag = stackalloc float[32];
        for (int j = 0; j < n; j++) li[j] = L[j] - nmax;
        var hiLim = Vector256.Create(nmax - 1); var loLim = Vector256.Create(-nmax);
        int maxIter = n * (2 * nmax - 1);
        for (int iter = 0; iter < maxIter; iter++)
        {
            var vs = Vector256.Create(scale);
            var m = Vector256<float>.Zero;
            for (int h = 0; h < n; h += 8)
            {
                var l = Vector256.Load(li + h);
                var g = (vs * Vector256.Load(w + h)) * (Vector256.Load(x + h) - vs * Vector256.ConvertToSingle(l));
                var ok = (Vector256.GreaterThan(g, Vector256<float>.Zero) & Vector256.LessThan(l, hiLim).AsSingle())
                       | (Vector256.LessThan(g, Vector256<float>.Zero) & Vector256.GreaterThan(l, loLim).AsSingle());
                var a = Vector256.Abs(g) & ok;
                a.Store(ag + h);
                m = Vector256.Max(m, a);
            }
            var m4 = Vector128.Max(m.GetLower(), m.GetUpper());
            m4 = Vector128.Max(m4, Vector128.Shuffle(m4, Vector128.Create(2, 3, 0, 1)));
            m4 = Vector128.Max(m4, Vector128.Shuffle(m4, Vector128.Create(1, 0, 3, 2)));
            float agmax = m4.ToScalar();
            if (!(agmax > 0)) break;
            int bj = 0;
            while (ag[bj] != agmax) bj++;
            float gmax = (scale * w[bj]) * (x[bj] - scale * li[bj]);
            if (!QxTryMove(nmax, x, L, w, bj, gmax, ref scale, ref best, ref slx, ref sl2)) break;
            li[bj] = L[bj] - nmax;
        }
        return scale;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HMax(Vector512<float> m)
    {
        var m8 = Vector256.Max(m.GetLower(), m.GetUpper());
        var m4 = Vector128.Max(m8.GetLower(), m8.GetUpper());
        m4 = Vector128.Max(m4, Vector128.Shuffle(m4, Vector128.Create(2, 3, 0, 1)));
        m4 = Vector128.Max(m4, Vector128.Shuffle(m4, Vector128.Create(1, 0, 3, 2)));
        return m4.ToScalar();
    }

    private static readonly nint[] s_numerators = new nint[33];

    /// <summary>
    /// The numerators of the 39 candidate inverse scales for one nmax (then divided by max): f(−nmax), and for
    /// k = −9..9 with t = 0.1f·f(k): −(f(nmax) + t) and f(nmax − 1) + t — computed once with the scalar operations.
    /// </summary>
    private static float* Numerators(int nmax)
    {
        nint p = Volatile.Read(ref s_numerators[nmax]);
        if (p != 0) return (float*)p;
        var a = (float*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc(48 * sizeof(float), 64);
        a[0] = (float)(-nmax);
        for (int k = -9; k <= 9; k++)
        {
            float t = 0.1f * k;
            a[1 + 2 * (k + 9)] = -((float)nmax + t);
            a[2 + 2 * (k + 9)] = (float)(nmax - 1) + t;
        }
        for (int c = Candidates; c < 48; c++) a[c] = a[0];
        nint prev = Interlocked.CompareExchange(ref s_numerators[nmax], (nint)a, 0);
        if (prev != 0) { System.Runtime.InteropServices.NativeMemory.AlignedFree(a); return (float*)prev; }
        return a;
    }

    /// <summary>
    /// ABSMAX in lanes: amax = max|x| (exact in any order), max = the first x with |x| = amax (what the scalar strict-&gt;
    /// scan keeps); +0 when amax is 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float AbsMaxLanes(float* x, int n, out float max)
    {
        var m = Vector256.Abs(Vector256.Load(x));
        for (int i = 8; i < n; i += 8) m = Vector256.Max(m, Vector256.Abs(Vector256.Load(x + i)));
        var m4 = Vector128.Max(m.GetLower(), m.GetUpper());
        m4 = Vector128.Max(m4, Vector128.Shuffle(m4, Vector128.Create(2, 3, 0, 1)));
        m4 = Vector128.Max(m4, Vector128.Shuffle(m4, Vector128.Create(1, 0, 3, 2)));
        float amax = m4.ToScalar();
        max = 0;
        if (amax > 0)
        {
            var va = Vector256.Create(amax);
            for (int i = 0; i < n; i += 8)
            {
                uint bits = Vector256.Equals(Vector256.Abs(Vector256.Load(x + i)), va).ExtractMostSignificantBits();
                if (bits != 0) { max = x[i + System.Numerics.BitOperations.TrailingZeroCount(bits)]; break; }
            }
        }
        return amax;
    }

    /// <summary>L_i = clamp(nearest_int(s·x_i), −nmax, nmax−1) + nmax in lanes (n a multiple of 8).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SymLevels(float* x, int n, float s, int nmax, byte* L)
    {
        var vs = Vector256.Create(s);
        var lo = Vector256.Create(-nmax); var hi = Vector256.Create(nmax - 1); var off = Vector256.Create(nmax);
        for (int i = 0; i < n; i += 8)
        {
            var q = (vs * Vector256.Load(x + i) + Vector256.Create(12582912f)).AsInt32();
            var l = Vector256.Min(Vector256.Max((q & Vector256.Create(0x7FFFFF)) - Vector256.Create(0x400000), lo), hi) + off;
            var p16 = Sse41.PackUnsignedSaturate(l.GetLower(), l.GetUpper());
            *(ulong*)(L + i) = Sse2.PackUnsignedSaturate(p16.AsInt16(), p16.AsInt16()).AsUInt64().ToScalar();
        }
    }

    private static void Sums512(int n, int nmax, float* x, float* w, float* s, float* slx, float* sl2)
    {
        var s0 = Vector512.Load(s); var s1 = Vector512.Load(s + 16); var s2 = Vector512.Load(s + 32);
        var lo = Vector512.Create(-nmax); var hi = Vector512.Create(nmax - 1);
        var magic = Vector512.Create(12582912f);
        var mask = Vector512.Create(0x7FFFFF); var off = Vector512.Create(0x400000);
        Vector512<float> x0 = default, x1 = default, x2 = default, q0 = default, q1 = default, q2 = default;
        for (int i = 0; i < n; i++)
        {
            var xi = Vector512.Create(x[i]); var wi = Vector512.Create(w[i]); var wxi = Vector512.Create(w[i] * x[i]);
            var l0 = Vector512.ConvertToSingle(Vector512.Min(Vector512.Max(((s0 * xi + magic).AsInt32() & mask) - off, lo), hi));
            var l1 = Vector512.ConvertToSingle(Vector512.Min(Vector512.Max(((s1 * xi + magic).AsInt32() & mask) - off, lo), hi));
            var l2 = Vector512.ConvertToSingle(Vector512.Min(Vector512.Max(((s2 * xi + magic).AsInt32() & mask) - off, lo), hi));
            x0 += wxi * l0; x1 += wxi * l1; x2 += wxi * l2;
            q0 += (wi * l0) * l0; q1 += (wi * l1) * l1; q2 += (wi * l2) * l2;
        }
        x0.Store(slx); x1.Store(slx + 16); x2.Store(slx + 32);
        q0.Store(sl2); q1.Store(sl2 + 16); q2.Store(sl2 + 32);
    }

    private static void Sums256(int n, int nmax, float* x, float* w, float* s, float* slx, float* sl2)
    {
        var lo = Vector256.Create(-nmax); var hi = Vector256.Create(nmax - 1);
        var magic = Vector256.Create(12582912f);
        var mask = Vector256.Create(0x7FFFFF); var off = Vector256.Create(0x400000);
        for (int c = 0; c < 40; c += 8)
        {
            var sc = Vector256.Load(s + c);
            Vector256<float> ax = default, a2 = default;
            for (int i = 0; i < n; i++)
            {
                var xi = Vector256.Create(x[i]);
                var l = Vector256.ConvertToSingle(Vector256.Min(Vector256.Max(((sc * xi + magic).AsInt32() & mask) - off, lo), hi));
                ax += Vector256.Create(w[i] * x[i]) * l;
                a2 += (Vector256.Create(w[i]) * l) * l;
            }
            ax.Store(slx + c); a2.Store(sl2 + c);
        }
    }
}
