using System.Runtime.InteropServices;

namespace IQuant.Core.Kernels;

/// <summary>
/// One 256-weight super-block decoded to integers: weight j = <c>D · Ls[j/16] · V[j] − DMin · M[j/16]</c>.
/// V holds the table value with any shift applied (|V| ≤ 128), Ls / M the integer sub-block scale / min per
/// 16 weights (32-weight sub-blocks repeat their scale twice). M and DMin are only used by the K-quants with mins.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 384)]
internal unsafe struct Decoded
{
    public fixed sbyte V[256];
    public fixed short Ls[16];
    public fixed short M[16];
    public float D;
    public float DMin;
}
