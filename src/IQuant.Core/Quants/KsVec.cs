using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace IQuant.Core.Quants;

/// <summary>
/// Element-wise helpers of the KS family. Every lane does exactly the scalar operations (no reductions), so
/// the vector and scalar forms give identical bits.
/// </summary>
internal static class KsVec
{
    /// <summary>w = qw * sqrt(σ² + x*x).</summary>
    public static void WeightsImatrix(ReadOnlySpan<float> x, ReadOnlySpan<float> qw, Span<float> w, float sigma2)
    {
        int j = 0, n = x.Length;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float rx = ref MemoryMarshal.GetReference(x);
            ref float rq = ref MemoryMarshal.GetReference(qw);
            ref float rw = ref MemoryMarshal.GetReference(w);
            var s = Vector256.Create(sigma2);
            for (; j + 8 <= n; j += 8)
            {
                var v = Vector256.LoadUnsafe(ref rx, (nuint)j);
                var t = Vector256.Sqrt(s + v * v);
                (Vector256.LoadUnsafe(ref rq, (nuint)j) * t).StoreUnsafe(ref rw, (nuint)j);
            }
        }
        for (; j < n; j++) w[j] = qw[j] * MathF.Sqrt(sigma2 + x[j] * x[j]);
    }

    /// <summary>w = q + x*x (q = 0.25f*σ² precomputed).</summary>
    public static void WeightsQuarter(ReadOnlySpan<float> x, Span<float> w, float q)
    {
        int j = 0, n = x.Length;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float rx = ref MemoryMarshal.GetReference(x);
            ref float rw = ref MemoryMarshal.GetReference(w);
            var s = Vector256.Create(q);
            for (; j + 8 <= n; j += 8)
            {
                var v = Vector256.LoadUnsafe(ref rx, (nuint)j);
                (s + v * v).StoreUnsafe(ref rw, (nuint)j);
            }
        }
        for (; j < n; j++) w[j] = q + x[j] * x[j];
    }

    /// <summary>w = x*x.</summary>
    public static void WeightsSquare(ReadOnlySpan<float> x, Span<float> w)
    {
        int j = 0, n = x.Length;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float rx = ref MemoryMarshal.GetReference(x);
            ref float rw = ref MemoryMarshal.GetReference(w);
            for (; j + 8 <= n; j += 8)
            {
                var v = Vector256.LoadUnsafe(ref rx, (nuint)j);
                (v * v).StoreUnsafe(ref rw, (nuint)j);
            }
        }
        for (; j < n; j++) w[j] = x[j] * x[j];
    }
}
