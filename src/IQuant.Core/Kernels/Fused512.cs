using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace IQuant.Core.Kernels;

/// <summary>
/// Vector512 variant of <see cref="FusedAvx2"/> for the AVX-512 level: two 32-weight groups are decoded with the AVX2
/// block views and joined into one zmm; each activation row then costs one 64-byte load, a masked negate (AVX-512
/// has no <c>vpsignb</c>: <c>q·sign(v)</c> = blend(q, −q, v &lt; 0)), <c>vpmaddubsw</c> and <c>vpmaddwd</c> per
/// 64 weights. Integer sums are exact, so the result is identical to the scalar path.
/// </summary>
internal static unsafe class Fused512
{
    private static readonly Vector512<short>[] s_scaleIdx = BuildIdx();

    private static Vector512<short>[] BuildIdx()
    {
        var r = new Vector512<short>[4];
        var t = new short[32];
        for (int k = 0; k < 4; k++)
        {
            for (int i = 0; i < 32; i++) t[i] = (short)(4 * k + i / 8);
            r[k] = Vector512.Create(t);
        }
        return r;
    }

    public static void Rows<T, TV>(WeightMatrix w, byte* act, long actRowBytes, int nVec, float* y, int start, int end)
        where T : struct, IAvx2Block where TV : struct, IFlag
    {
        int nb = w.Cols / 256;
        float* res = stackalloc float[8];
        for (int r = start; r < end; r++)
        {
            byte* row = w.Row(r);
            int v = 0;
            for (; v + 8 <= nVec; v += 8)
            {
                Dot<T, Vec8, TV>(row, nb, act + v * actRowBytes, actRowBytes, res);
                for (int j = 0; j < 8; j++) y[(long)(v + j) * w.Rows + r] = res[j];
            }
            for (; v + 4 <= nVec; v += 4)
            {
                Dot<T, Vec4, TV>(row, nb, act + v * actRowBytes, actRowBytes, res);
                for (int j = 0; j < 4; j++) y[(long)(v + j) * w.Rows + r] = res[j];
            }
            int left = nVec - v;
            if (left == 0) continue;
            byte* a = act + v * actRowBytes;
            if (left == 1) Dot<T, Vec1, TV>(row, nb, a, actRowBytes, res);
            else if (left == 2) Dot<T, Vec2, TV>(row, nb, a, actRowBytes, res);
            else Dot<T, Vec3, TV>(row, nb, a, actRowBytes, res);
            for (int j = 0; j < left; j++) y[(long)(v + j) * w.Rows + r] = res[j];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> One(bool unsigned, Vector512<int> acc, Vector512<byte> av, Vector512<sbyte> v, Vector512<short> sc, byte* q)
    {
        var qq = Avx512BW.LoadVector512((sbyte*)q);
        if (unsigned) return Avx512F.Add(acc, Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(v.AsByte(), qq), sc));
        var qs = Avx512BW.BlendVariable(qq, Avx512BW.Subtract(Vector512<sbyte>.Zero, qq), v);
        return Avx512F.Add(acc, Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(av, qs), sc));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step<T, TN>(ref T blk, int k2, Vector512<short> ls, byte* q, long stride,
        ref Vector512<int> a0, ref Vector512<int> a1, ref Vector512<int> a2, ref Vector512<int> a3,
        ref Vector512<int> a4, ref Vector512<int> a5, ref Vector512<int> a6, ref Vector512<int> a7)
        where T : struct, IAvx2Block where TN : struct, IVecCount
    {
        var v = blk.Values512(k2);
        bool un = blk.Unsigned;
        var av = un ? default : Avx512BW.Abs(v);
        var sc = Avx512BW.PermuteVar32x16(ls, s_scaleIdx[k2]);
        q += Q8Activations.Q8KQs + 64 * k2;
        a0 = One(un, a0, av, v, sc, q);
        if (TN.N > 1) a1 = One(un, a1, av, v, sc, q + stride);
        if (TN.N > 2) a2 = One(un, a2, av, v, sc, q + 2 * stride);
        if (TN.N > 3) a3 = One(un, a3, av, v, sc, q + 3 * stride);
        if (TN.N > 4)
        {
            a4 = One(un, a4, av, v, sc, q + 4 * stride);
            a5 = One(un, a5, av, v, sc, q + 5 * stride);
            a6 = One(un, a6, av, v, sc, q + 6 * stride);
            a7 = One(un, a7, av, v, sc, q + 7 * stride);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Finish<T, TV>(ref T blk, float f, byte* q, Vector512<int> acc) where T : struct, IAvx2Block where TV : struct, IFlag
    {
        var a = Avx2.Add(acc.GetLower(), acc.GetUpper());
        float dA = *(float*)q;
        if (blk.HasCorr)
        {
            var c = Avx.LoadVector256((short*)(q + Q8Activations.Q8KBsums));
            a = TV.On ? AvxVnni.MultiplyWideningAndAdd(a, blk.Corr16, c) : Avx2.Add(a, Avx2.MultiplyAddAdjacent(blk.Corr16, c));
        }
        float t = f + (blk.D * dA) * Q8Activations.HSum(a);
        if (blk.HasMin)
            t -= (blk.DMin * dA) * Q8Activations.HSum(Avx2.MultiplyAddAdjacent(blk.M16, Avx.LoadVector256((short*)(q + Q8Activations.Q8KBsums))));
        return t;
    }

    // Compiled fully optimized at first call (no tier-0 phase): the first answer of a chat session would otherwise
    // run at a tenth of the speed while the JIT tiers up.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot<T, TN, TV>(byte* row, int nb, byte* q8, long stride, float* res)
        where T : struct, IAvx2Block where TN : struct, IVecCount where TV : struct, IFlag
    {
        T blk = default;
        float f0 = 0, f1 = 0, f2 = 0, f3 = 0, f4 = 0, f5 = 0, f6 = 0, f7 = 0;
        for (int b = 0; b < nb; b++)
        {
            blk.Begin(row, b);
            byte* q = q8 + b * Q8Activations.Q8KBlockBytes;
            var ls = Vector512.Create(blk.Ls16, blk.Ls16);
            Vector512<int> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            Step<T, TN>(ref blk, 0, ls, q, stride, ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7);
            Step<T, TN>(ref blk, 1, ls, q, stride, ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7);
            Step<T, TN>(ref blk, 2, ls, q, stride, ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7);
            Step<T, TN>(ref blk, 3, ls, q, stride, ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7);
            f0 = Finish<T, TV>(ref blk, f0, q, a0);
            if (TN.N > 1) f1 = Finish<T, TV>(ref blk, f1, q + stride, a1);
            if (TN.N > 2) f2 = Finish<T, TV>(ref blk, f2, q + 2 * stride, a2);
            if (TN.N > 3) f3 = Finish<T, TV>(ref blk, f3, q + 3 * stride, a3);
            if (TN.N > 4)
            {
                f4 = Finish<T, TV>(ref blk, f4, q + 4 * stride, a4);
                f5 = Finish<T, TV>(ref blk, f5, q + 5 * stride, a5);
                f6 = Finish<T, TV>(ref blk, f6, q + 6 * stride, a6);
                f7 = Finish<T, TV>(ref blk, f7, q + 7 * stride, a7);
            }
        }
        res[0] = f0;
        if (TN.N > 1) res[1] = f1;
        if (TN.N > 2) res[2] = f2;
        if (TN.N > 3) res[3] = f3;
        if (TN.N > 4) { res[4] = f4; res[5] = f5; res[6] = f6; res[7] = f7; }
    }
}
