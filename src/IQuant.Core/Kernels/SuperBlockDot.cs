using System.Runtime.CompilerServices;

namespace IQuant.Core.Kernels;

/// <summary>
/// Exact integer dot of a decoded super-block with one Q8_K block (spec §5.4):
/// <c>Σ_g Ls[g] · Σ_{j in g} V[j]·q[j]</c> over the 16 groups of 16. This scalar version is the reference of the fused
/// kernels (<see cref="FusedAvx2"/>), which produce the same int32 (|Σ| &lt; 2^31 for all supported types).
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
}
