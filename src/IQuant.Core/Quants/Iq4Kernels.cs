using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static IQuant.Core.Quants.BaselineHelpers;

namespace IQuant.Core.Quants;

/// <summary>
/// The IQ4 sub-block scale search of formats-baseline.md §2.7 (IQ4_NL, IQ4_XS) and the BI4 level quantization,
/// vectorized. The 31 candidate inverse scales are independent, so each SIMD lane evaluates one candidate, running its
/// own sums over the 32 weights in the reference order; the acceptance chain then walks the candidates in the
/// reference order with scalar code. The greedy refinement scans the 32 weights in vector lanes (its per-weight step
/// computations are independent) and picks the first minimum exactly as the scalar strict-&lt; scan. All paths are
/// bit-identical to <see cref="BaselineHelpers.Iq4Search"/>.
/// </summary>
[SkipLocalsInit]
internal static unsafe class Iq4Kernels
{
    private static readonly int* s_index = AllocIndex();

    private static int* AllocIndex()
    {
        var p = (int*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc(256 * sizeof(int), 64);
        for (int i = 0; i < 256; i++) p[i] = Iq4nlIndexInt[i];
        return p;
    }

    private static Vector512<float> Table512 => Vector512.Create(-127f, -104f, -83f, -65f, -49f, -35f, -22f, -10f, 1f, 13f, 25f, 38f, 53f, 69f, 89f, 113f);
    private static Vector256<float> TableLo => Vector256.Create(-127f, -104f, -83f, -65f, -49f, -35f, -22f, -10f);
    private static Vector256<float> TableHi => Vector256.Create(1f, 13f, 25f, 38f, 53f, 69f, 89f, 113f);

    /// <summary>The §2.7 search over one block of 32 (scale, 0 for an empty block, NaN if all weights are 0).</summary>
    public static float Search(float* x, float* w, SimdLevel level) => level switch
    {
        SimdLevel.Avx512 => Search512(x, w),
        SimdLevel.Avx2 => Search256(x, w),
        _ => Iq4Search(x, w),
    };

    /// <summary>qs[j] = BI4(id·x_j) | BI4(id·x_{j+16}) &lt;&lt; 4 for one block of 32.</summary>
    public static void Levels32(float* x, float id, byte* qs, SimdLevel level)
    {
        if (level == SimdLevel.Avx512)
        {
            var vid = Vector512.Create(id);
            var lo = Bi4_512(vid * Vector512.Load(x));
            var hi = Bi4_512(vid * Vector512.Load(x + 16));
            Vector128.Store(Avx512F.ConvertToVector128Byte((lo | Vector512.ShiftLeft(hi, 4)).AsUInt32()), qs);
            return;
        }
        if (level == SimdLevel.Avx2)
        {
            var vid = Vector256.Create(id);
            for (int h = 0; h < 16; h += 8)
            {
                var lo = Bi4_256(vid * Vector256.Load(x + h));
                var hi = Bi4_256(vid * Vector256.Load(x + 16 + h));
                var v = lo | Vector256.ShiftLeft(hi, 4);
                var p16 = Sse41.PackUnsignedSaturate(v.GetLower(), v.GetUpper());
                var p8 = Sse2.PackUnsignedSaturate(p16.AsInt16(), p16.AsInt16());
                *(ulong*)(qs + h) = p8.AsUInt64().ToScalar();
            }
            return;
        }
        for (int j = 0; j < 16; j++)
            qs[j] = (byte)(Bi4(id * x[j]) | (Bi4(id * x[j + 16]) << 4));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // BI4 in lanes: same arithmetic as BaselineHelpers.Bi4 (cvttps2dq gives INT_MIN for NaN/overflow, like C on x86).
    // ---------------------------------------------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Bi4_512(Vector512<float> a)
    {
        var ix = Avx512F.ConvertToVector512Int32WithTruncation(a) + Vector512.Create(127);
        ix = Vector512.Min(Vector512.Max(ix, Vector512<int>.Zero), Vector512.Create(255));
        var c = Index512(ix);
        var k = c & Vector512.Create(15);
        var T = Table512;
        var tk = Avx512F.PermuteVar16x32(T, k);
        var tk1 = Avx512F.PermuteVar16x32(T, k + Vector512<int>.One);
        var lt = Vector512.LessThan(a - tk, tk1 - a).AsInt32();
        var choose = k + Vector512.AndNot(Vector512<int>.One, lt);
        return Vector512.ConditionalSelect(Vector512.LessThan(c, Vector512.Create(16)), c, choose);
    }

    private static readonly Vector512<byte> s_idx0 = LoadIndexBytes(0), s_idx1 = LoadIndexBytes(64), s_idx2 = LoadIndexBytes(128), s_idx3 = LoadIndexBytes(192);

    private static Vector512<byte> LoadIndexBytes(int from)
    {
        var b = new byte[64];
        for (int i = 0; i < 64; i++) b[i] = (byte)Iq4nlIndexInt[from + i];
        return Vector512.Create(b);
    }

    /// <summary>iq4nl_index[ix] for 16 lanes with ix in 0..255 (vpermi2b, or two 8-lane gathers without AVX512-VBMI).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Index512(Vector512<int> ix)
    {
        if (Avx512Vbmi.IsSupported)
        {
            var idx = Avx512F.ConvertToVector128Byte(ix.AsUInt32()).ToVector256Unsafe().ToVector512Unsafe();
            var lo = Avx512Vbmi.PermuteVar64x8x2(s_idx0, idx, s_idx1);
            var hi = Avx512Vbmi.PermuteVar64x8x2(s_idx2, idx, s_idx3);
            var c = Avx512BW.BlendVariable(lo, hi, idx);
            return Avx512F.ConvertToVector512Int32(c.GetLower().GetLower());
        }
        var g0 = Avx2.GatherVector256(s_index, ix.GetLower(), 4);
        var g1 = Avx2.GatherVector256(s_index, ix.GetUpper(), 4);
        return Vector512.Create(g0, g1);
    }

    /// <summary>T[BI4(a)] directly: the table value of the chosen index (T[c] = T[k] when c &lt; 16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Bi4Value512(Vector512<float> a)
    {
        var ix = Avx512F.ConvertToVector512Int32WithTruncation(a) + Vector512.Create(127);
        ix = Vector512.Min(Vector512.Max(ix, Vector512<int>.Zero), Vector512.Create(255));
        var c = Index512(ix);
        var k = c & Vector512.Create(15);
        var T = Table512;
        var tk = Avx512F.PermuteVar16x32(T, k);
        var tk1 = Avx512F.PermuteVar16x32(T, k + Vector512<int>.One);
        var takeK = Vector512.LessThan(a - tk, tk1 - a) | Vector512.LessThan(c, Vector512.Create(16)).AsSingle();
        return Vector512.ConditionalSelect(takeK, tk, tk1);
    }

    /// <summary>T[BI4(a)] directly, 8 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Bi4Value256(Vector256<float> a)
    {
        var ix = Avx.ConvertToVector256Int32WithTruncation(a) + Vector256.Create(127);
        ix = Vector256.Min(Vector256.Max(ix, Vector256<int>.Zero), Vector256.Create(255));
        var c = Avx2.GatherVector256(s_index, ix, 4);
        var k = c & Vector256.Create(15);
        var tk = Lookup256(k);
        var tk1 = Lookup256(k + Vector256<int>.One);
        var takeK = Vector256.LessThan(a - tk, tk1 - a) | Vector256.LessThan(c, Vector256.Create(16)).AsSingle();
        return Vector256.ConditionalSelect(takeK, tk, tk1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Lookup512(Vector512<int> l) => Avx512F.PermuteVar16x32(Table512, l);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Lookup256(Vector256<int> l)
    {
        var lo = Avx2.PermuteVar8x32(TableLo, l);
        var hi = Avx2.PermuteVar8x32(TableHi, l);
        return Vector256.ConditionalSelect(Vector256.GreaterThan(l, Vector256.Create(7)).AsSingle(), hi, lo);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Bi4_256(Vector256<float> a)
    {
        var ix = Avx.ConvertToVector256Int32WithTruncation(a) + Vector256.Create(127);
        ix = Vector256.Min(Vector256.Max(ix, Vector256<int>.Zero), Vector256.Create(255));
        var c = Avx2.GatherVector256(s_index, ix, 4);
        var k = c & Vector256.Create(15);
        var tk = Lookup256(k);
        var tk1 = Lookup256(k + Vector256<int>.One);
        var lt = Vector256.LessThan(a - tk, tk1 - a).AsInt32();
        var choose = k + Vector256.AndNot(Vector256<int>.One, lt);
        return Vector256.ConditionalSelect(Vector256.LessThan(c, Vector256.Create(16)), c, choose);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Candidate search. Lane 0: id = 1/((−max)/T[0]); lane 1 + 2(itry+7) + e: (itry + T[0 or 15]) / max; lane 31 unused.
    // ---------------------------------------------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CandidateIds(float* ids, float max)
    {
        float d = (-max) / -127f;
        ids[0] = 1 / d;
        for (int itry = -7; itry <= 7; itry++)
        {
            ids[1 + 2 * (itry + 7)] = (float)(itry - 127) / max;
            ids[2 + 2 * (itry + 7)] = (float)(itry + 113) / max;
        }
        ids[31] = ids[0];
    }

    /// <summary>The scalar acceptance chain over the candidate sums; returns the index of the last accepted candidate.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Walk(float* sqx, float* sq2, out float d, out float best, out float bsqx, out float bsq2)
    {
        d = sqx[0] / sq2[0];
        best = d * sqx[0];
        bsqx = sqx[0]; bsq2 = sq2[0];
        int last = 0;
        for (int c = 1; c < 31; c++)
        {
            float a = sqx[c], b = sq2[c];
            if (b > 0 && a * a > best * b)
            {
                d = a / b; best = d * a; bsqx = a; bsq2 = b; last = c;
            }
        }
        return last;
    }

    private static float Search512(float* x, float* w)
    {
        float amax = AbsMax(x, 32, out float max);
        if (amax < GroupMaxEps) return 0f;
        float* ids = stackalloc float[32];
        CandidateIds(ids, max);
        var id0 = Vector512.Load(ids); var id1 = Vector512.Load(ids + 16);
        var ax0 = Vector512<float>.Zero; var ax1 = Vector512<float>.Zero;
        var a20 = Vector512<float>.Zero; var a21 = Vector512<float>.Zero;
        for (int i = 0; i < 32; i++)
        {
            var xi = Vector512.Create(x[i]); var wi = Vector512.Create(w[i]);
            var q0 = Bi4Value512(id0 * xi);
            var q1 = Bi4Value512(id1 * xi);
            var wq0 = wi * q0; var wq1 = wi * q1;
            ax0 += wq0 * xi; ax1 += wq1 * xi;
            a20 += wq0 * q0; a21 += wq1 * q1;
        }
        float* sqx = stackalloc float[32]; float* sq2 = stackalloc float[32];
        ax0.Store(sqx); ax1.Store(sqx + 16); a20.Store(sq2); a21.Store(sq2 + 16);
        int last = Walk(sqx, sq2, out float d, out float best, out float bsqx, out float bsq2);
        byte* lb = stackalloc byte[32];
        var vid = Vector512.Create(ids[last]);
        Vector128.Store(Avx512F.ConvertToVector128Byte(Bi4_512(vid * Vector512.Load(x)).AsUInt32()), lb);
        Vector128.Store(Avx512F.ConvertToVector128Byte(Bi4_512(vid * Vector512.Load(x + 16)).AsUInt32()), lb + 16);
        return Greedy512(x, w, lb, d, best, bsqx, bsq2);
    }

    private static float Greedy512(float* x, float* w, byte* lb, float d, float best, float sqx, float sq2)
    {
        var x0 = Vector512.Load(x); var x1 = Vector512.Load(x + 16);
        var w0 = Vector512.Load(w); var w1 = Vector512.Load(w + 16);
        var l0 = Avx512F.ConvertToVector512Int32(Vector128.Load(lb));
        var l1 = Avx512F.ConvertToVector512Int32(Vector128.Load(lb + 16));
        var inf = Vector512.Create(float.PositiveInfinity);
        var zero = Vector512<float>.Zero;
        var fifteen = Vector512.Create(15);
        for (int iter = 0; iter < 1024; iter++)
        {
            var vd = Vector512.Create(d);
            var t0 = Lookup512(l0); var t1 = Lookup512(l1);
            var g0 = (vd * w0) * (x0 - vd * t0);
            var g1 = (vd * w1) * (x1 - vd * t1);
            var up0 = Vector512.GreaterThan(g0, zero) & Vector512.LessThan(l0, fifteen).AsSingle();
            var up1 = Vector512.GreaterThan(g1, zero) & Vector512.LessThan(l1, fifteen).AsSingle();
            var dn0 = Vector512.LessThan(g0, zero) & Vector512.GreaterThan(l0, Vector512<int>.Zero).AsSingle();
            var dn1 = Vector512.LessThan(g1, zero) & Vector512.GreaterThan(l1, Vector512<int>.Zero).AsSingle();
            var n0 = Vector512.ConditionalSelect(up0, Lookup512(l0 + Vector512<int>.One), Lookup512(l0 - Vector512<int>.One)) - t0;
            var n1 = Vector512.ConditionalSelect(up1, Lookup512(l1 + Vector512<int>.One), Lookup512(l1 - Vector512<int>.One)) - t1;
            var s0 = Vector512.ConditionalSelect(up0 | dn0, n0 / g0, inf);
            var s1 = Vector512.ConditionalSelect(up1 | dn1, n1 / g1, inf);
            var m = Vector512.Min(s0, s1);
            var m8 = Vector256.Min(m.GetLower(), m.GetUpper());
            var m4 = Vector128.Min(m8.GetLower(), m8.GetUpper());
            m4 = Vector128.Min(m4, Vector128.Shuffle(m4, Vector128.Create(2, 3, 0, 1)));
            m4 = Vector128.Min(m4, Vector128.Shuffle(m4, Vector128.Create(1, 0, 3, 2)));
            float minstep = m4.ToScalar();
            if (!(minstep < float.PositiveInfinity)) break;
            var vm = Vector512.Create(minstep);
            ulong mask = Vector512.Equals(s0, vm).ExtractMostSignificantBits() | (Vector512.Equals(s1, vm).ExtractMostSignificantBits() << 16);
            int bj = System.Numerics.BitOperations.TrailingZeroCount(mask);
            float gbj = bj < 16 ? g0.GetElement(bj) : g1.GetElement(bj - 16);
            int dir = gbj > 0 ? 1 : -1;
            lb[bj] = (byte)(bj < 16 ? l0.GetElement(bj) : l1.GetElement(bj - 16));
            if (!Iq4TryMove(x, w, lb, bj, dir, ref d, ref best, ref sqx, ref sq2)) break;
            if (bj < 16) l0 = l0.WithElement(bj, lb[bj]); else l1 = l1.WithElement(bj - 16, lb[bj]);
        }
        return d;
    }

    private static float Search256(float* x, float* w)
    {
        float amax = AbsMax(x, 32, out float max);
        if (amax < GroupMaxEps) return 0f;
        float* ids = stackalloc float[32];
        CandidateIds(ids, max);
        var id0 = Vector256.Load(ids); var id1 = Vector256.Load(ids + 8); var id2 = Vector256.Load(ids + 16); var id3 = Vector256.Load(ids + 24);
        var ax0 = Vector256<float>.Zero; var ax1 = Vector256<float>.Zero; var ax2 = Vector256<float>.Zero; var ax3 = Vector256<float>.Zero;
        var a20 = Vector256<float>.Zero; var a21 = Vector256<float>.Zero; var a22 = Vector256<float>.Zero; var a23 = Vector256<float>.Zero;
        for (int i = 0; i < 32; i++)
        {
            var xi = Vector256.Create(x[i]); var wi = Vector256.Create(w[i]);
            var q0 = Bi4Value256(id0 * xi); var q1 = Bi4Value256(id1 * xi);
            var q2 = Bi4Value256(id2 * xi); var q3 = Bi4Value256(id3 * xi);
            var wq0 = wi * q0; var wq1 = wi * q1; var wq2 = wi * q2; var wq3 = wi * q3;
            ax0 += wq0 * xi; ax1 += wq1 * xi; ax2 += wq2 * xi; ax3 += wq3 * xi;
            a20 += wq0 * q0; a21 += wq1 * q1; a22 += wq2 * q2; a23 += wq3 * q3;
        }
        float* sqx = stackalloc float[32]; float* sq2 = stackalloc float[32];
        ax0.Store(sqx); ax1.Store(sqx + 8); ax2.Store(sqx + 16); ax3.Store(sqx + 24);
        a20.Store(sq2); a21.Store(sq2 + 8); a22.Store(sq2 + 16); a23.Store(sq2 + 24);
        int last = Walk(sqx, sq2, out float d, out float best, out float bsqx, out float bsq2);
        int* li = stackalloc int[32];
        var vid = Vector256.Create(ids[last]);
        for (int h = 0; h < 32; h += 8) Bi4_256(vid * Vector256.Load(x + h)).Store(li + h);
        return Greedy256(x, w, li, d, best, bsqx, bsq2);
    }

    private static float Greedy256(float* x, float* w, int* li, float d, float best, float sqx, float sq2)
    {
        byte* lb = stackalloc byte[32];
        for (int j = 0; j < 32; j++) lb[j] = (byte)li[j];
        float* steps = stackalloc float[32];
        var inf = Vector256.Create(float.PositiveInfinity);
        var fifteen = Vector256.Create(15);
        for (int iter = 0; iter < 1024; iter++)
        {
            var vd = Vector256.Create(d);
            var vmin = inf;
            for (int h = 0; h < 32; h += 8)
            {
                var l = Vector256.Load(li + h);
                var t = Lookup256(l);
                var g = (vd * Vector256.Load(w + h)) * (Vector256.Load(x + h) - vd * t);
                var up = Vector256.GreaterThan(g, Vector256<float>.Zero) & Vector256.LessThan(l, fifteen).AsSingle();
                var dn = Vector256.LessThan(g, Vector256<float>.Zero) & Vector256.GreaterThan(l, Vector256<int>.Zero).AsSingle();
                var nt = Vector256.ConditionalSelect(up, Lookup256(l + Vector256<int>.One), Lookup256(l - Vector256<int>.One)) - t;
                var s = Vector256.ConditionalSelect(up | dn, nt / g, inf);
                s.Store(steps + h);
                vmin = Vector256.Min(vmin, s);
            }
            var m4 = Vector128.Min(vmin.GetLower(), vmin.GetUpper());
            m4 = Vector128.Min(m4, Vector128.Shuffle(m4, Vector128.Create(2, 3, 0, 1)));
            m4 = Vector128.Min(m4, Vector128.Shuffle(m4, Vector128.Create(1, 0, 3, 2)));
            float minstep = m4.ToScalar();
            if (!(minstep < float.PositiveInfinity)) break;
            int bj = 0;
            while (steps[bj] != minstep) bj++;
            float g1 = (d * w[bj]) * (x[bj] - d * Iq4nlFloats[lb[bj]]);
            int dir = g1 > 0 ? 1 : -1;
            if (!Iq4TryMove(x, w, lb, bj, dir, ref d, ref best, ref sqx, ref sq2)) break;
            li[bj] = lb[bj];
        }
        return d;
    }
}
