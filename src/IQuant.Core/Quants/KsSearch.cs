namespace IQuant.Core.Quants;

/// <summary>
/// Pass 1 of the B6-searched KS types: the float scale and shift flag of every 32-value sub-block of a row.
/// </summary>
internal static class KsSearch
{
    /// <summary>
    /// Runs ScanScale (B6, STEP 1) for every sub-block; empty sub-blocks (amax &lt; 1e-16f) get scale 0, not shifted.
    /// </summary>
    public static void ScanRow(KsTable tab, ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> max,
        ReadOnlySpan<float> amax, int ntry, bool guard, Span<float> scales, Span<bool> shifted, SimdLevel level)
    {
        int nsub = x.Length / 32;
        for (int i = 0; i < nsub; i++)
        {
            if (amax[i] < 1e-16f) { scales[i] = 0; shifted[i] = false; continue; }
            scales[i] = KsBlocks.ScanScale(tab, x.Slice(32 * i, 32), w.Slice(32 * i, 32), max[i], ntry, guard, out bool sh);
            shifted[i] = sh;
        }
    }
}
