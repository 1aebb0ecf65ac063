using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace IQuant.Core.Kernels;

/// <summary>Compile-time vector count for the fused kernels (1..4 activation rows per weight-row pass).</summary>
internal interface IVecCount { static abstract int N { get; } }
internal struct Vec1 : IVecCount { public static int N => 1; }
internal struct Vec2 : IVecCount { public static int N => 2; }
internal struct Vec3 : IVecCount { public static int N => 3; }
internal struct Vec4 : IVecCount { public static int N => 4; }
internal struct Vec8 : IVecCount { public static int N => 8; }

/// <summary>Compile-time switch for the fused kernels' type parameters.</summary>
internal interface IFlag { static abstract bool On { get; } }
internal struct Yes : IFlag { public static bool On => true; }
internal struct No : IFlag { public static bool On => false; }

/// <summary>
/// Fused AVX2 kernels: decode 32 weights to int8 in registers (<see cref="IAvx2Block"/>), multiply with up to four
/// (eight at the AVX-512 level) Q8_K activation rows (<c>pmaddubsw(|v|, sign(q, v))</c> for signed tables, or
/// <c>pmaddubsw(u, q)</c> for small unsigned offset tables — exact, no int16 saturation — then <c>pmaddwd</c> or
/// AVX-VNNI <c>vpdpwssd</c> with the sub-block scales; shifts and offsets are applied through the block sums),
/// exact int32 per super-block, then the same f32 steps as the scalar path
/// (<c>acc + (d·dA)·isum [− (dmin·dA)·msum]</c>), so results are bit-identical to the scalar level.
/// </summary>
internal static unsafe class FusedAvx2
{
    /// <summary>
    /// Rows [start, end) of <paramref name="w"/> against <paramref name="nVec"/> Q8_K activation rows.
    /// <typeparamref name="TV"/>: use AVX-VNNI <c>vpdpwssd</c>; <typeparamref name="TW"/>: 8 activation rows per weight pass.
    /// </summary>
    public static void Rows<T, TV, TW>(WeightMatrix w, byte* act, long actRowBytes, int nVec, float* y, int start, int end)
        where T : struct, IAvx2Block where TV : struct, IFlag where TW : struct, IFlag
    {
        int nb = w.Cols / 256;
        float* res = stackalloc float[8];
        bool wide = TW.On;   // 8 activation rows per pass: needs the 32 vector registers of AVX-512 (EVEX encoding)
        for (int r = start; r < end; r++)
        {
            byte* row = w.Row(r);
            int v = 0;
            if (wide)
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

    private static readonly Vector256<byte> s_scaleShuffle =
        Vector256.Create((byte)0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Acc<TV>(Vector256<int> a, Vector256<short> p, Vector256<short> sc) where TV : struct, IFlag =>
        TV.On ? AvxVnni.MultiplyWideningAndAdd(a, p, sc) : Avx2.Add(a, Avx2.MultiplyAddAdjacent(p, sc));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step<T, TN, TV>(ref T blk, int k, byte* q, long stride,
        ref Vector256<int> a0, ref Vector256<int> a1, ref Vector256<int> a2, ref Vector256<int> a3,
        ref Vector256<int> a4, ref Vector256<int> a5, ref Vector256<int> a6, ref Vector256<int> a7)
        where T : struct, IAvx2Block where TN : struct, IVecCount where TV : struct, IFlag
    {
        var v = blk.Values(k);
        var sc = Avx2.PermuteVar8x32(blk.Ls16.AsInt32(), Vector256.Create(k)).AsInt16();
        if (!blk.Sub32) sc = Avx2.Shuffle(sc.AsByte(), s_scaleShuffle).AsInt16();
        q += Q8Activations.Q8KQs + 32 * k;
        if (blk.Unsigned)
        {
            var u = v.AsByte();
            a0 = Acc<TV>(a0, Avx2.MultiplyAddAdjacent(u, Avx.LoadVector256((sbyte*)q)), sc);
            if (TN.N > 1) a1 = Acc<TV>(a1, Avx2.MultiplyAddAdjacent(u, Avx.LoadVector256((sbyte*)(q + stride))), sc);
            if (TN.N > 2) a2 = Acc<TV>(a2, Avx2.MultiplyAddAdjacent(u, Avx.LoadVector256((sbyte*)(q + 2 * stride))), sc);
            if (TN.N > 3) a3 = Acc<TV>(a3, Avx2.MultiplyAddAdjacent(u, Avx.LoadVector256((sbyte*)(q + 3 * stride))), sc);
            if (TN.N > 4)
            {
                a4 = Acc<TV>(a4, Avx2.MultiplyAddAdjacent(u, Avx.LoadVector256((sbyte*)(q + 4 * stride))), sc);
                a5 = Acc<TV>(a5, Avx2.MultiplyAddAdjacent(u, Avx.LoadVector256((sbyte*)(q + 5 * stride))), sc);
                a6 = Acc<TV>(a6, Avx2.MultiplyAddAdjacent(u, Avx.LoadVector256((sbyte*)(q + 6 * stride))), sc);
                a7 = Acc<TV>(a7, Avx2.MultiplyAddAdjacent(u, Avx.LoadVector256((sbyte*)(q + 7 * stride))), sc);
            }
            return;
        }
        var av = Avx2.Abs(v);
        a0 = Acc<TV>(a0, Avx2.MultiplyAddAdjacent(av, Avx2.Sign(Avx.LoadVector256((sbyte*)q), v)), sc);
        if (TN.N > 1) a1 = Acc<TV>(a1, Avx2.MultiplyAddAdjacent(av, Avx2.Sign(Avx.LoadVector256((sbyte*)(q + stride)), v)), sc);
        if (TN.N > 2) a2 = Acc<TV>(a2, Avx2.MultiplyAddAdjacent(av, Avx2.Sign(Avx.LoadVector256((sbyte*)(q + 2 * stride)), v)), sc);
        if (TN.N > 3) a3 = Acc<TV>(a3, Avx2.MultiplyAddAdjacent(av, Avx2.Sign(Avx.LoadVector256((sbyte*)(q + 3 * stride)), v)), sc);
        if (TN.N > 4)
        {
            a4 = Acc<TV>(a4, Avx2.MultiplyAddAdjacent(av, Avx2.Sign(Avx.LoadVector256((sbyte*)(q + 4 * stride)), v)), sc);
            a5 = Acc<TV>(a5, Avx2.MultiplyAddAdjacent(av, Avx2.Sign(Avx.LoadVector256((sbyte*)(q + 5 * stride)), v)), sc);
            a6 = Acc<TV>(a6, Avx2.MultiplyAddAdjacent(av, Avx2.Sign(Avx.LoadVector256((sbyte*)(q + 6 * stride)), v)), sc);
            a7 = Acc<TV>(a7, Avx2.MultiplyAddAdjacent(av, Avx2.Sign(Avx.LoadVector256((sbyte*)(q + 7 * stride)), v)), sc);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Finish<T, TV>(ref T blk, float f, byte* q, Vector256<int> acc) where T : struct, IAvx2Block where TV : struct, IFlag
    {
        float dA = *(float*)q;
        if (blk.HasCorr) acc = Acc<TV>(acc, blk.Corr16, Avx.LoadVector256((short*)(q + Q8Activations.Q8KBsums)));
        float t = f + (blk.D * dA) * Q8Activations.HSum(acc);
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
            Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            Step<T, TN, TV>(ref blk, 0, q, stride, ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7);
            Step<T, TN, TV>(ref blk, 1, q, stride, ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7);
            Step<T, TN, TV>(ref blk, 2, q, stride, ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7);
            Step<T, TN, TV>(ref blk, 3, q, stride, ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7);
            Step<T, TN, TV>(ref blk, 4, q, stride, ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7);
            Step<T, TN, TV>(ref blk, 5, q, stride, ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7);
            Step<T, TN, TV>(ref blk, 6, q, stride, ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7);
            Step<T, TN, TV>(ref blk, 7, q, stride, ref a0, ref a1, ref a2, ref a3, ref a4, ref a5, ref a6, ref a7);
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
