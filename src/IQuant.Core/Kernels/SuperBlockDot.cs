using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace IQuant.Core.Kernels;

/// <summary>
/// Exact integer dot of a decoded super-block with one Q8_K block (spec §5.4):
/// <c>Σ_g Ls[g] · Σ_{j in g} V[j]·q[j]</c> over the 16 groups of 16. The result is the same int32 at every SIMD level
/// (|Σ| &lt; 2^31 for all supported types; intermediate int16 pair sums cannot saturate because |V| ≤ 128, |q| ≤ 127).
/// </summary>
internal static unsafe class SuperBlockDot
{
    public static int Scalar(Decoded* d, byte* q8)
    {
        sbyte* q = (sbyte*)(q8 + Q8Activations.Q8KQs);
        int isum = 0;
        for (int g = 0; g < 16; g++)
        {
            int s = 0;
            for (int j = 0; j < 16; j++) s += d->V[16 * g + j] * q[16 * g + j];
            isum += d->Ls[g] * s;
        }
        return isum;
    }

    /// <summary><c>Σ_g M[g] · bsums[g]</c> (the min term of Q2_K/Q4_K/Q5_K).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int MinSum(Decoded* d, byte* q8)
    {
        short* bs = (short*)(q8 + Q8Activations.Q8KBsums);
        int s = 0;
        for (int g = 0; g < 16; g++) s += d->M[g] * bs[g];
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int MinSumAvx2(Decoded* d, byte* q8)
    {
        var m = Avx.LoadVector256(d->M);
        var b = Avx.LoadVector256((short*)(q8 + Q8Activations.Q8KBsums));
        return Q8Activations.HSum(Avx2.MultiplyAddAdjacent(m, b));
    }

    private static readonly Vector256<byte> s_scaleShuffle =
        Vector256.Create((byte)0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Avx2Dot(Decoded* d, byte* q8)
    {
        sbyte* q = (sbyte*)(q8 + Q8Activations.Q8KQs);
        var shuf = s_scaleShuffle;
        var acc0 = Vector256<int>.Zero;
        var acc1 = Vector256<int>.Zero;
        for (int k = 0; k < 8; k += 2)
        {
            var v0 = Avx.LoadVector256(d->V + 32 * k);
            var v1 = Avx.LoadVector256(d->V + 32 * k + 32);
            var p0 = Avx2.MultiplyAddAdjacent(Avx2.Abs(v0), Avx2.Sign(Avx.LoadVector256(q + 32 * k), v0));
            var p1 = Avx2.MultiplyAddAdjacent(Avx2.Abs(v1), Avx2.Sign(Avx.LoadVector256(q + 32 * k + 32), v1));
            var s0 = Avx2.Shuffle(Vector256.Create(*(int*)(d->Ls + 2 * k)).AsByte(), shuf).AsInt16();
            var s1 = Avx2.Shuffle(Vector256.Create(*(int*)(d->Ls + 2 * k + 2)).AsByte(), shuf).AsInt16();
            acc0 = Avx2.Add(acc0, Avx2.MultiplyAddAdjacent(p0, s0));
            acc1 = Avx2.Add(acc1, Avx2.MultiplyAddAdjacent(p1, s1));
        }
        return Q8Activations.HSum(Avx2.Add(acc0, acc1));
    }

    private static readonly Vector512<short>[] s_perm512 = BuildPerm512();

    private static Vector512<short>[] BuildPerm512()
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Avx512Dot(Decoded* d, byte* q8)
    {
        sbyte* q = (sbyte*)(q8 + Q8Activations.Q8KQs);
        var ls = Vector512.Create(Avx.LoadVector256(d->Ls), Vector256<short>.Zero);
        var acc = Vector512<int>.Zero;
        for (int k = 0; k < 4; k++)
        {
            var v = Avx512BW.LoadVector512(d->V + 64 * k);
            var qq = Avx512BW.LoadVector512(q + 64 * k);
            var qs = Avx512BW.BlendVariable(qq, Avx512BW.Subtract(Vector512<sbyte>.Zero, qq), v);
            var p = Avx512BW.MultiplyAddAdjacent(Avx512BW.Abs(v), qs);
            var sc = Avx512BW.PermuteVar32x16(ls, s_perm512[k]);
            acc = Avx512F.Add(acc, Avx512BW.MultiplyAddAdjacent(p, sc));
        }
        return Q8Activations.HSum(Avx2.Add(acc.GetLower(), acc.GetUpper()));
    }
}
