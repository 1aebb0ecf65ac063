namespace IQuant.Core.Quants;

/// <summary>Dispatch of make_qkx2/make_qkx3 (§2.3, §2.4).</summary>
internal static unsafe class KxKernels
{
    /// <summary>make_qkx3_quants (use_mad = false).</summary>
    public static float MakeQkx3(int n, int nmax, float* x, float* w, byte* L, out float theMin, float rmin, float rdelta, int nstep, SimdLevel level) =>
        BaselineHelpers.MakeQkx3(n, nmax, x, w, L, out theMin, rmin, rdelta, nstep);

    /// <summary>make_qkx2_quants.</summary>
    public static float MakeQkx2(int n, int nmax, float* x, float* w, byte* L, out float theMin, float rmin, float rdelta, int nstep, bool useMad, SimdLevel level) =>
        BaselineHelpers.MakeQkx2(n, nmax, x, w, L, out theMin, rmin, rdelta, nstep, useMad);
}

