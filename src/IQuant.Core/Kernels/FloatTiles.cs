using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace IQuant.Core.Kernels;

/// <summary>
/// Register-blocked float kernels for several activation rows: a tile of 4 weight rows × 2 (AVX2) or 4 (AVX-512)
/// activation rows, so each weight vector load feeds several FMAs and each activation load feeds 4 rows.
/// </summary>
internal static unsafe class FloatTiles
{
    /// <summary>y[v*ldy + r] for 4 rows w[0..3] (each n floats) × 2 activation rows x, x + ldx.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile4x2Avx2(float** w, float* x, long ldx, int n, float* y, long ldy, int nRows)
    {
        var a00 = Vector256<float>.Zero; var a10 = a00; var a20 = a00; var a30 = a00;
        var a01 = a00; var a11 = a00; var a21 = a00; var a31 = a00;
        float* w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
        float* x0 = x, x1 = x + ldx;
        int i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var v0 = Avx.LoadVector256(x0 + i); var v1 = Avx.LoadVector256(x1 + i);
            var r = Avx.LoadVector256(w0 + i); a00 = Fma.MultiplyAdd(r, v0, a00); a01 = Fma.MultiplyAdd(r, v1, a01);
            r = Avx.LoadVector256(w1 + i); a10 = Fma.MultiplyAdd(r, v0, a10); a11 = Fma.MultiplyAdd(r, v1, a11);
            r = Avx.LoadVector256(w2 + i); a20 = Fma.MultiplyAdd(r, v0, a20); a21 = Fma.MultiplyAdd(r, v1, a21);
            r = Avx.LoadVector256(w3 + i); a30 = Fma.MultiplyAdd(r, v0, a30); a31 = Fma.MultiplyAdd(r, v1, a31);
        }
        Span<float> s = stackalloc float[8];
        s[0] = RowDots.HSum(a00); s[1] = RowDots.HSum(a10); s[2] = RowDots.HSum(a20); s[3] = RowDots.HSum(a30);
        s[4] = RowDots.HSum(a01); s[5] = RowDots.HSum(a11); s[6] = RowDots.HSum(a21); s[7] = RowDots.HSum(a31);
        for (; i < n; i++)
            for (int r = 0; r < 4; r++) { s[r] += w[r][i] * x0[i]; s[4 + r] += w[r][i] * x1[i]; }
        for (int r = 0; r < nRows; r++) { y[r] = s[r]; y[ldy + r] = s[4 + r]; }
    }

    /// <summary>As <see cref="Tile4x2Avx2"/> for 1 activation row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile4x1Avx2(float** w, float* x, int n, float* y, int nRows)
    {
        var a0 = Vector256<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
        float* w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
        int i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var v = Avx.LoadVector256(x + i);
            a0 = Fma.MultiplyAdd(Avx.LoadVector256(w0 + i), v, a0);
            a1 = Fma.MultiplyAdd(Avx.LoadVector256(w1 + i), v, a1);
            a2 = Fma.MultiplyAdd(Avx.LoadVector256(w2 + i), v, a2);
            a3 = Fma.MultiplyAdd(Avx.LoadVector256(w3 + i), v, a3);
        }
        Span<float> s = stackalloc float[4];
        s[0] = RowDots.HSum(a0); s[1] = RowDots.HSum(a1); s[2] = RowDots.HSum(a2); s[3] = RowDots.HSum(a3);
        for (; i < n; i++)
            for (int r = 0; r < 4; r++) s[r] += w[r][i] * x[i];
        for (int r = 0; r < nRows; r++) y[r] = s[r];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HSum512(Vector512<float> v) => RowDots.HSum(Avx.Add(v.GetLower(), v.GetUpper()));

    /// <summary>4 weight rows × 4 activation rows with 512-bit vectors (16 accumulators in the 32 EVEX registers).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile4x4Avx512(float** w, float* x, long ldx, int n, float* y, long ldy, int nRows)
    {
        var z = Vector512<float>.Zero;
        Vector512<float> a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
        Vector512<float> a20 = z, a21 = z, a22 = z, a23 = z, a30 = z, a31 = z, a32 = z, a33 = z;
        float* w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
        float* x0 = x, x1 = x + ldx, x2 = x + 2 * ldx, x3 = x + 3 * ldx;
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            var v0 = Avx512F.LoadVector512(x0 + i); var v1 = Avx512F.LoadVector512(x1 + i);
            var v2 = Avx512F.LoadVector512(x2 + i); var v3 = Avx512F.LoadVector512(x3 + i);
            var r = Avx512F.LoadVector512(w0 + i);
            a00 = Avx512F.FusedMultiplyAdd(r, v0, a00); a01 = Avx512F.FusedMultiplyAdd(r, v1, a01);
            a02 = Avx512F.FusedMultiplyAdd(r, v2, a02); a03 = Avx512F.FusedMultiplyAdd(r, v3, a03);
            r = Avx512F.LoadVector512(w1 + i);
            a10 = Avx512F.FusedMultiplyAdd(r, v0, a10); a11 = Avx512F.FusedMultiplyAdd(r, v1, a11);
            a12 = Avx512F.FusedMultiplyAdd(r, v2, a12); a13 = Avx512F.FusedMultiplyAdd(r, v3, a13);
            r = Avx512F.LoadVector512(w2 + i);
            a20 = Avx512F.FusedMultiplyAdd(r, v0, a20); a21 = Avx512F.FusedMultiplyAdd(r, v1, a21);
            a22 = Avx512F.FusedMultiplyAdd(r, v2, a22); a23 = Avx512F.FusedMultiplyAdd(r, v3, a23);
            r = Avx512F.LoadVector512(w3 + i);
            a30 = Avx512F.FusedMultiplyAdd(r, v0, a30); a31 = Avx512F.FusedMultiplyAdd(r, v1, a31);
            a32 = Avx512F.FusedMultiplyAdd(r, v2, a32); a33 = Avx512F.FusedMultiplyAdd(r, v3, a33);
        }
        Span<float> s = stackalloc float[16];
        s[0] = HSum512(a00); s[1] = HSum512(a10); s[2] = HSum512(a20); s[3] = HSum512(a30);
        s[4] = HSum512(a01); s[5] = HSum512(a11); s[6] = HSum512(a21); s[7] = HSum512(a31);
        s[8] = HSum512(a02); s[9] = HSum512(a12); s[10] = HSum512(a22); s[11] = HSum512(a32);
        s[12] = HSum512(a03); s[13] = HSum512(a13); s[14] = HSum512(a23); s[15] = HSum512(a33);
        for (; i < n; i++)
            for (int v = 0; v < 4; v++)
            {
                float xv = x[v * ldx + i];
                for (int r = 0; r < 4; r++) s[4 * v + r] += w[r][i] * xv;
            }
        for (int v = 0; v < 4; v++)
            for (int r = 0; r < nRows; r++) y[v * ldy + r] = s[4 * v + r];
    }
}
