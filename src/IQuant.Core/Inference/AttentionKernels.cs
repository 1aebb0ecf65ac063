using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using IQuant.Core.Kernels;

namespace IQuant.Core.Inference;

/// <summary>
/// The two halves of one attention head over the KV cache (rows of head-dim values, one per position):
/// scores = (q·K_j)·scale and out = Σ_j p_j·V_j, in f32 or straight from f16 rows (converted in registers).
/// An AVX2 path (head dims that are multiples of 8) and a scalar path (TensorPrimitives).
/// </summary>
internal static unsafe class AttentionKernels
{
    /// <summary>Positions per converted tile on the scalar f16 path.</summary>
    public const int Tile = 64;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ScoresF32(ReadOnlySpan<float> q, ReadOnlySpan<float> K, Span<float> scores, int hd, float scale, bool simd)
    {
        int n = scores.Length;
        if (simd && Avx2.IsSupported && Fma.IsSupported)
        {
            fixed (float* pq = q) fixed (float* pk = K) fixed (float* ps = scores)
                for (int j = 0; j < n; j++) ps[j] = DotF32(pq, pk + (long)j * hd, hd) * scale;
            return;
        }
        for (int j = 0; j < n; j++) scores[j] = TensorPrimitives.Dot(q, K.Slice(j * hd, hd)) * scale;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ScoresF16(ReadOnlySpan<float> q, ReadOnlySpan<Half> K, Span<float> scores, int hd, float scale, bool simd, float[] tile)
    {
        int n = scores.Length;
        if (simd && Avx2.IsSupported && Fma.IsSupported)
        {
            fixed (float* pq = q) fixed (Half* pk = K) fixed (float* ps = scores)
                for (int j = 0; j < n; j++) ps[j] = DotF16(pq, (ushort*)pk + (long)j * hd, hd) * scale;
            return;
        }
        for (int j0 = 0; j0 < n; j0 += Tile)
        {
            int m = Math.Min(Tile, n - j0);
            var ts = tile.AsSpan(0, m * hd);
            TensorPrimitives.ConvertToSingle(K.Slice(j0 * hd, m * hd), ts);
            for (int j = 0; j < m; j++) scores[j0 + j] = TensorPrimitives.Dot(q, ts.Slice(j * hd, hd)) * scale;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WeightedSumF32(ReadOnlySpan<float> p, ReadOnlySpan<float> V, Span<float> output, int hd, bool simd)
    {
        output.Clear();
        int n = p.Length;
        if (simd && Avx2.IsSupported && Fma.IsSupported)
        {
            fixed (float* pp = p) fixed (float* pv = V) fixed (float* po = output)
                for (int i = 0; i < hd; i += 8)
                {
                    var acc = Vector256<float>.Zero;
                    for (int j = 0; j < n; j++) acc = Fma.MultiplyAdd(Vector256.Create(pp[j]), Avx.LoadVector256(pv + (long)j * hd + i), acc);
                    Avx.Store(po + i, acc);
                }
            return;
        }
        for (int j = 0; j < n; j++) TensorPrimitives.MultiplyAdd(V.Slice(j * hd, hd), p[j], output, output);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WeightedSumF16(ReadOnlySpan<float> p, ReadOnlySpan<Half> V, Span<float> output, int hd, bool simd, float[] tile)
    {
        output.Clear();
        int n = p.Length;
        if (simd && Avx2.IsSupported && Fma.IsSupported)
        {
            fixed (float* pp = p) fixed (Half* pv = V) fixed (float* po = output)
            {
                var vv = (ushort*)pv;
                for (int i = 0; i < hd; i += 8)
                {
                    var acc0 = Vector256<float>.Zero; var acc1 = acc0;
                    int j = 0;
                    for (; j + 2 <= n; j += 2)
                    {
                        acc0 = Fma.MultiplyAdd(Vector256.Create(pp[j]), RowDots.HalfToSingle(Sse2.LoadVector128(vv + (long)j * hd + i)), acc0);
                        acc1 = Fma.MultiplyAdd(Vector256.Create(pp[j + 1]), RowDots.HalfToSingle(Sse2.LoadVector128(vv + (long)(j + 1) * hd + i)), acc1);
                    }
                    if (j < n) acc0 = Fma.MultiplyAdd(Vector256.Create(pp[j]), RowDots.HalfToSingle(Sse2.LoadVector128(vv + (long)j * hd + i)), acc0);
                    Avx.Store(po + i, Avx.Add(acc0, acc1));
                }
            }
            return;
        }
        for (int j0 = 0; j0 < n; j0 += Tile)
        {
            int m = Math.Min(Tile, n - j0);
            var ts = tile.AsSpan(0, m * hd);
            TensorPrimitives.ConvertToSingle(V.Slice(j0 * hd, m * hd), ts);
            for (int j = 0; j < m; j++) TensorPrimitives.MultiplyAdd(ts.Slice(j * hd, hd), p[j0 + j], output, output);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float DotF32(float* a, float* b, int n)
    {
        var s0 = Vector256<float>.Zero; var s1 = s0;
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            s0 = Fma.MultiplyAdd(Avx.LoadVector256(a + i), Avx.LoadVector256(b + i), s0);
            s1 = Fma.MultiplyAdd(Avx.LoadVector256(a + i + 8), Avx.LoadVector256(b + i + 8), s1);
        }
        if (i < n) s0 = Fma.MultiplyAdd(Avx.LoadVector256(a + i), Avx.LoadVector256(b + i), s0);
        return RowDots.HSum(Avx.Add(s0, s1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float DotF16(float* a, ushort* b, int n)
    {
        var s0 = Vector256<float>.Zero; var s1 = s0;
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            s0 = Fma.MultiplyAdd(Avx.LoadVector256(a + i), RowDots.HalfToSingle(Sse2.LoadVector128(b + i)), s0);
            s1 = Fma.MultiplyAdd(Avx.LoadVector256(a + i + 8), RowDots.HalfToSingle(Sse2.LoadVector128(b + i + 8)), s1);
        }
        if (i < n) s0 = Fma.MultiplyAdd(Avx.LoadVector256(a + i), RowDots.HalfToSingle(Sse2.LoadVector128(b + i)), s0);
        return RowDots.HSum(Avx.Add(s0, s1));
    }
}
