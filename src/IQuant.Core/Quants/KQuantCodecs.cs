using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using IQuant.Core.Types;
using static IQuant.Core.Quants.BaselineHelpers;

namespace IQuant.Core.Quants;

/// <summary>Common plumbing of the 256-weight K-quant codecs.</summary>
[SkipLocalsInit]
public abstract unsafe class KQuantCodecBase : QuantCodec
{
    /// <inheritdoc/>
    public override void QuantizeRow(ReadOnlySpan<float> src, Span<byte> dst, ReadOnlySpan<float> imatrix)
    {
        int n = src.Length;
        int bb = Info.BytesPerBlock;
        if (n % 256 != 0) throw new ArgumentException($"Row length {n} is not a multiple of 256.", nameof(src));
        if (dst.Length < n / 256 * bb) throw new ArgumentException("Destination too small.", nameof(dst));
        if (!imatrix.IsEmpty && imatrix.Length < n) throw new ArgumentException("Importance matrix shorter than the row.", nameof(imatrix));
        var level = SimdPolicy.Current;
        fixed (float* x = src) fixed (byte* y = dst) fixed (float* pw = imatrix)
        {
            float* qw = imatrix.IsEmpty ? null : pw;
            for (int i = 0; i < n / 256; i++)
                QuantizeBlock(x + 256 * i, y + bb * i, qw == null ? null : qw + 256 * i, level);
        }
    }

    /// <inheritdoc/>
    public override void DequantizeRow(ReadOnlySpan<byte> src, Span<float> dst)
    {
        int n = dst.Length;
        int bb = Info.BytesPerBlock;
        if (n % 256 != 0) throw new ArgumentException($"Row length {n} is not a multiple of 256.", nameof(dst));
        if (src.Length < n / 256 * bb) throw new ArgumentException("Source too small.", nameof(src));
        var level = SimdPolicy.Current;
        fixed (byte* x = src) fixed (float* y = dst)
        {
            for (int i = 0; i < n / 256; i++)
                DequantizeBlock(x + bb * i, y + 256 * i, level);
        }
    }

    /// <summary>Quantizes one super-block; <paramref name="qw"/> is the imatrix slice of its 256 columns, or null.</summary>
    private protected abstract void QuantizeBlock(float* x, byte* y, float* qw, SimdLevel level);

    /// <summary>Dequantizes one super-block.</summary>
    private protected abstract void DequantizeBlock(byte* x, float* y, SimdLevel level);

    /// <summary>Σ_{j&lt;256} x_j² (sequential).</summary>
    private protected static float SumSq256(float* x)
    {
        float s = 0;
        for (int j = 0; j < 256; j++) s += x[j] * x[j];
        return s;
    }

    /// <summary>w_l = qw_l·sqrtf(σ² + x_l²) and returns Σ w_l (from +0) over <paramref name="n"/> weights.</summary>
    private protected static float ImWeights(float* x, float* qw, float sigma2, float* w, int n)
    {
        float sw = 0;
        for (int l = 0; l < n; l++) w[l] = qw[l] * MathF.Sqrt(sigma2 + x[l] * x[l]);
        for (int l = 0; l < n; l++) sw += w[l];
        return sw;
    }

    /// <summary>2-bit planes of Q2_K/Q3_K: qs[32h + l] = L[128h+l] | L[+32]&lt;&lt;2 | L[+64]&lt;&lt;4 | L[+96]&lt;&lt;6.</summary>
    private protected static void Pack2Bit(byte* L, byte* qs)
    {
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++)
            {
                byte* p = L + 128 * h + l;
                qs[32 * h + l] = (byte)(p[0] | (p[32] << 2) | (p[64] << 4) | (p[96] << 6));
            }
    }

    /// <summary>Q4_K/Q5_K 6-bit scale/min packing (§11).</summary>
    private protected static void PackScalesK4(byte* ls, byte* lm, byte* s)
    {
        for (int j = 0; j < 12; j++) s[j] = 0;
        for (int j = 0; j < 8; j++)
        {
            if (j < 4) { s[j] = ls[j]; s[j + 4] = lm[j]; }
            else
            {
                s[j + 4] = (byte)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
                s[j - 4] |= (byte)((ls[j] >> 4) << 6);
                s[j] |= (byte)((lm[j] >> 4) << 6);
            }
        }
    }

    /// <summary>get_scale_min_k4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private protected static void ScaleMinK4(int j, byte* q, out int sc, out int m)
    {
        if (j < 4) { sc = q[j] & 63; m = q[j + 4] & 63; }
        else
        {
            sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
            m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }

    /// <summary>Re-quantization of Q4_K/Q5_K from the stored fp16 d, dmin and 6-bit codes (§11).</summary>
    private protected static void RequantK4(float* x, byte* y, byte* L, int nmax, SimdLevel level)
    {
        float d = LoadHalf(y), dmin = LoadHalf(y + 2);
        for (int j = 0; j < 8; j++)
        {
            ScaleMinK4(j, y + 4, out int sc, out int m);
            float dd = d * sc;
            if (dd == 0) continue;
            float dm = dmin * m;
            if (level != SimdLevel.Scalar) RequantLanes(x + 32 * j, L + 32 * j, 32, dm, dd, 0, nmax);
            else for (int i = 0; i < 32; i++) L[32 * j + i] = (byte)Clamp(NearestInt((x[32 * j + i] + dm) / dd), 0, nmax);
        }
    }

    /// <summary>L_i = clamp(nearest_int((x_i + add) / div), lo, hi) + offset as bytes, 8 lanes at a time (same binary32 ops as the scalar loop).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private protected static void RequantLanes(float* x, byte* L, int n, float add, float div, int lo, int hi, int offset = 0,
        bool noAdd = false, bool multiply = false)
    {
        var va = Vector256.Create(add); var vd = Vector256.Create(div);
        var vlo = Vector256.Create(lo); var vhi = Vector256.Create(hi); var voff = Vector256.Create(offset);
        var magic = Vector256.Create(12582912f);
        for (int i = 0; i < n; i += 8)
        {
            var xv = Vector256.Load(x + i);
            if (!noAdd) xv += va;
            var q = ((multiply ? xv * vd : xv / vd) + magic).AsInt32();
            var l = Vector256.Min(Vector256.Max((q & Vector256.Create(0x7FFFFF)) - Vector256.Create(0x400000), vlo), vhi) + voff;
            var p16 = Sse41.PackUnsignedSaturate(l.GetLower(), l.GetUpper());
            *(ulong*)(L + i) = Sse2.PackUnsignedSaturate(p16.AsInt16(), p16.AsInt16()).AsUInt64().ToScalar();
        }
    }

    /// <summary>The per-sub-block weights of the no-imatrix Q4_K/Q5_K paths: av + |x| with av = sqrtf(Σx²/32).</summary>
    private protected static void RefWeights32(float* x, float* w)
    {
        float s = 0;
        for (int l = 0; l < 32; l++) s += x[l] * x[l];
        float av = MathF.Sqrt(s / 32f);
        for (int l = 0; l < 32; l++) w[l] = av + MathF.Abs(x[l]);
    }

    /// <summary>Q4_K/Q5_K: sub-block search + scale packing + re-quantization, both paths (§11, §12).</summary>
    private protected static void QuantizeK4Like(float* x, byte* y, float* qw, int nmax, float rmin, int nstep, bool clampImatrix,
        bool abortOnNaN, string typeName, byte* L, SimdLevel level)
    {
        float* w = stackalloc float[32];
        float* scales = stackalloc float[8];
        float* mins = stackalloc float[8];
        byte* ls = stackalloc byte[8];
        byte* lm = stackalloc byte[8];
        if (qw == null)
        {
            float maxScale = 0, maxMin = 0;
            for (int j = 0; j < 8; j++)
            {
                RefWeights32(x + 32 * j, w);
                scales[j] = KxKernels.MakeQkx2(32, nmax, x + 32 * j, w, L + 32 * j, out mins[j], rmin, 0.1f, nstep, false, level);
                if (abortOnNaN && float.IsNaN(scales[j])) ThrowZeroImatrixBlock(typeName);
                if (scales[j] > maxScale) maxScale = scales[j];
                if (mins[j] > maxMin) maxMin = mins[j];
            }
            float invScale = maxScale > 0 ? 63f / maxScale : 0f;
            float invMin = maxMin > 0 ? 63f / maxMin : 0f;
            for (int j = 0; j < 8; j++)
            {
                ls[j] = Math.Min((byte)63, (byte)NearestInt(invScale * scales[j]));
                lm[j] = Math.Min((byte)63, (byte)NearestInt(invMin * mins[j]));
            }
            StoreHalf(y, maxScale / 63f);
            StoreHalf(y + 2, maxMin / 63f);
        }
        else
        {
            float sigma2 = (2f * SumSq256(x)) / 256f;
            float* sw = stackalloc float[8];
            for (int j = 0; j < 8; j++)
            {
                sw[j] = ImWeights(x + 32 * j, qw + 32 * j, sigma2, w, 32);
                scales[j] = KxKernels.MakeQkx3(32, nmax, x + 32 * j, w, L + 32 * j, out mins[j], -0.9f, 0.05f, 36, level);
                if (abortOnNaN && float.IsNaN(scales[j])) ThrowZeroImatrixBlock(typeName);
            }
            float dBlock = MakeQp(8, 63, scales, ls, sw);
            float mBlock = MakeQp(8, 63, mins, lm, sw);
            if (float.IsNaN(dBlock) || float.IsNaN(mBlock)) ThrowZeroImatrixBlock(typeName);
            if (clampImatrix)
                for (int j = 0; j < 8; j++) { ls[j] = Math.Min((byte)63, ls[j]); lm[j] = Math.Min((byte)63, lm[j]); }
            StoreHalf(y, dBlock);
            StoreHalf(y + 2, mBlock);
        }
        PackScalesK4(ls, lm, y + 4);
        RequantK4(x, y, L, nmax, level);
    }
}

/// <summary>
/// Q2_K (84 bytes / 256): scales[16] (4-bit scale | 4-bit min), qs[64], fp16 d, fp16 dmin; y = d·sc·q − dmin·m.
/// Without imatrix <c>quantize_row_q2_K_ref</c> (formats-baseline.md §9.1) including its "TriNet" test, which looks at
/// a whole chunk of rows: IQuant uses llama-quantize's multi-threaded chunking (see <see cref="ChunkRows"/>). With
/// imatrix <c>quantize_row_q2_K_impl</c> (§9.2). A super-block whose importance weights are all zero makes the reference
/// store a NaN scale (rejected by its validation); IQuant throws <see cref="QuantizationInputException"/> instead.
/// </summary>
[SkipLocalsInit]
public sealed unsafe class Q2_KCodec : KQuantCodecBase
{
    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.Q2_K;

    /// <summary>
    /// Without imatrix the Q2_K reference decides "ternary or not" over a chunk of rows. IQuant reproduces the chunks of a
    /// multi-threaded llama-quantize on a 2-D tensor: ⌈16384 / n⌉ consecutive rows (1 when n ≥ 16384). (A single-threaded
    /// llama-quantize treats the whole matrix as one chunk; the two only differ for near-ternary weights.)
    /// </summary>
    public override int ChunkRows(int nPerRow, bool hasImatrix) =>
        hasImatrix || nPerRow >= 16384 ? 1 : (16384 + nPerRow - 1) / nPerRow;

    /// <inheritdoc/>
    public override void QuantizeRow(ReadOnlySpan<float> src, Span<byte> dst, ReadOnlySpan<float> imatrix)
    {
        if (imatrix.IsEmpty) QuantizeChunk(src, src.Length, dst, imatrix);
        else base.QuantizeRow(src, dst, imatrix);
    }

    /// <inheritdoc/>
    public override void QuantizeChunk(ReadOnlySpan<float> src, int nPerRow, Span<byte> dst, ReadOnlySpan<float> imatrix)
    {
        if (!imatrix.IsEmpty) { base.QuantizeChunk(src, nPerRow, dst, imatrix); return; }
        int k = src.Length;
        if (k % 256 != 0 || nPerRow % 256 != 0) throw new ArgumentException($"Row length {nPerRow} is not a multiple of 256.", nameof(src));
        if (dst.Length < k / 256 * 84) throw new ArgumentException("Destination too small.", nameof(dst));
        var level = SimdPolicy.Current;
        fixed (float* x = src) fixed (byte* y = dst)
        {
            if (TryTriNet(x, k, y)) return;
            for (int i = 0; i < k / 256; i++) QuantizeBlock(x + 256 * i, y + 84 * i, null, level);
        }
    }

    /// <summary>The TriNet test and encoding of §9.1 over a whole chunk; false when the chunk is not ternary.</summary>
    private static bool TryTriNet(float* x, int k, byte* y)
    {
        float M = 0;
        for (int j = 0; j < k; j++) { float a = MathF.Abs(x[j]); M = M > a ? M : a; }
        float lo = -0.5f * M, hi = 0.5f * M;
        float mse0 = 0, mse = 0;
        for (int j = 0; j < k; j++)
        {
            float v = x[j];
            int l = v < lo ? -1 : v < hi ? 0 : 1;
            mse0 += v * v;
            float diff = v - M * l;
            mse += diff * diff;
        }
        if (!(mse < 0.1f * mse0)) return false;
        byte* L = stackalloc byte[256];
        for (int ib = 0; ib < k / 256; ib++)
        {
            byte* yb = y + 84 * ib; float* xb = x + 256 * ib;
            StoreHalf(yb + 80, M);
            StoreHalf(yb + 82, M);
            for (int j = 0; j < 16; j++) yb[j] = 0x11;
            for (int j = 0; j < 256; j++) L[j] = (byte)(xb[j] < lo ? 0 : xb[j] < hi ? 1 : 2);
            Pack2Bit(L, yb + 16);
        }
        return true;
    }

    private protected override void QuantizeBlock(float* x, byte* y, float* qw, SimdLevel level)
    {
        byte* L = stackalloc byte[256];
        float* w = stackalloc float[16];
        float* scales = stackalloc float[16];
        float* mins = stackalloc float[16];
        if (qw == null)
        {
            float maxScale = 0, maxMin = 0;
            for (int j = 0; j < 16; j++)
            {
                for (int l = 0; l < 16; l++) w[l] = MathF.Abs(x[16 * j + l]);
                scales[j] = KxKernels.MakeQkx2(16, 3, x + 16 * j, w, L + 16 * j, out mins[j], -0.5f, 0.1f, 15, true, level);
                if (scales[j] > maxScale) maxScale = scales[j];
                if (mins[j] > maxMin) maxMin = mins[j];
            }
            byte* sb = y;
            for (int j = 0; j < 16; j++) sb[j] = 0;
            if (maxScale > 0)
            {
                float iscale = 15f / maxScale;
                for (int j = 0; j < 16; j++) sb[j] = (byte)NearestInt(iscale * scales[j]);
                StoreHalf(y + 80, maxScale / 15f);
            }
            else StoreHalf(y + 80, 0f);
            if (maxMin > 0)
            {
                float iscale = 15f / maxMin;
                for (int j = 0; j < 16; j++) sb[j] |= (byte)(NearestInt(iscale * mins[j]) << 4);
                StoreHalf(y + 82, maxMin / 15f);
            }
            else StoreHalf(y + 82, 0f);
            float d = LoadHalf(y + 80), dmin = LoadHalf(y + 82);
            for (int j = 0; j < 16; j++)
            {
                float dd = d * (sb[j] & 0xF);
                if (dd == 0) continue;
                float dm = dmin * (sb[j] >> 4);
                if (level != SimdLevel.Scalar) RequantLanes(x + 16 * j, L + 16 * j, 16, dm, dd, 0, 3);
                else for (int ii = 0; ii < 16; ii++) L[16 * j + ii] = (byte)Clamp(NearestInt((x[16 * j + ii] + dm) / dd), 0, 3);
            }
        }
        else
        {
            float sigma2 = (0.75f * SumSq256(x)) / 256f;
            float* sw = stackalloc float[16];
            byte* Ls = stackalloc byte[16];
            byte* Lm = stackalloc byte[16];
            for (int j = 0; j < 16; j++)
            {
                sw[j] = ImWeights(x + 16 * j, qw + 16 * j, sigma2, w, 16);
                scales[j] = KxKernels.MakeQkx3(16, 3, x + 16 * j, w, L + 16 * j, out mins[j], -0.9f, 0.05f, 36, level);
            }
            float dm = MakeQp(16, 15, scales, Ls, sw);
            float mm = MakeQp(16, 15, mins, Lm, sw);
            if (float.IsNaN(dm) || float.IsNaN(mm)) ThrowZeroImatrixBlock("Q2_K");
            StoreHalf(y + 80, dm);
            StoreHalf(y + 82, mm);
            for (int j = 0; j < 16; j++)
            {
                float dd = dm * Ls[j];
                float m = mm * Lm[j];
                float id = dd != 0 ? 1f / dd : 0f;
                if (level != SimdLevel.Scalar) RequantLanes(x + 16 * j, L + 16 * j, 16, m, id, 0, 3, multiply: true);
                else for (int l = 0; l < 16; l++) L[16 * j + l] = (byte)Clamp(NearestInt((x[16 * j + l] + m) * id), 0, 3);
            }
            for (int j = 0; j < 16; j++) y[j] = (byte)(Ls[j] | (Lm[j] << 4));
        }
        Pack2Bit(L, y + 16);
    }

    private protected override void DequantizeBlock(byte* x, float* y, SimdLevel level)
    {
        float d = LoadHalf(x + 80), min = LoadHalf(x + 82);
        byte* q = x + 16;
        int isc = 0;
        bool v512 = level == SimdLevel.Avx512;
        for (int n = 0; n < 256; n += 128, q += 32)
        {
            for (int j = 0; j < 4; j++)
            {
                int shift = 2 * j;
                for (int half = 0; half < 2; half++, y += 16)
                {
                    int sc = x[isc++];
                    float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                    byte* qq = q + 16 * half;
                    if (level != SimdLevel.Scalar)
                    {
                        var v = Vector128.ShiftRightLogical(BaselineSimd.Load16(qq).AsUInt16(), shift).AsByte() & Vector128.Create((byte)3);
                        BaselineSimd.Emit16(v.AsSByte(), dl, -ml, y, v512);
                    }
                    else
                        for (int l = 0; l < 16; l++) y[l] = dl * ((qq[l] >> shift) & 3) - ml;
                }
            }
        }
    }
}

/// <summary>
/// Q3_K (110 bytes / 256): hmask[32], qs[64], 6-bit scales[12], fp16 d; y = d·(sc−32)·(q − 4·!hbit).
/// Without imatrix <c>quantize_row_q3_K_ref</c> (§10.1: make_q3_quants per 16); with imatrix
/// <c>quantize_row_q3_K_impl</c> (§10.2: make_qx_quants for the levels and for the 6-bit scales).
/// </summary>
[SkipLocalsInit]
public sealed unsafe class Q3_KCodec : KQuantCodecBase
{
    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.Q3_K;

    private protected override void QuantizeBlock(float* x, byte* y, float* qw, SimdLevel level)
    {
        byte* L = stackalloc byte[256];
        float* scales = stackalloc float[16];
        byte* u = stackalloc byte[16];
        byte* sc = y + 96;
        for (int j = 0; j < 12; j++) sc[j] = 0;
        if (qw == null)
        {
            float amax = 0, maxScale = 0;
            for (int j = 0; j < 16; j++)
            {
                scales[j] = MakeQ3(16, 4, x + 16 * j, L + 16 * j);
                float a = MathF.Abs(scales[j]);
                if (a > amax) { amax = a; maxScale = scales[j]; }
            }
            if (maxScale != 0)
            {
                float iscale = -32f / maxScale;
                for (int j = 0; j < 16; j++) u[j] = (byte)(Clamp((sbyte)NearestInt(iscale * scales[j]), -32, 31) + 32);
                PackScales(u, sc);
                StoreHalf(y + 108, 1 / iscale);
            }
            else StoreHalf(y + 108, 0f);
        }
        else
        {
            float sigma2 = (2f * SumSq256(x)) / 256f;
            float* w = stackalloc float[16];
            float* sw = stackalloc float[16];
            for (int j = 0; j < 16; j++)
            {
                sw[j] = ImWeights(x + 16 * j, qw + 16 * j, sigma2, w, 16);
                scales[j] = QxKernels.MakeQx(16, 4, x + 16 * j, L + 16 * j, w, level);
            }
            float dBlock = QxKernels.MakeQx(16, 32, scales, u, sw, level);
            PackScales(u, sc);
            StoreHalf(y + 108, dBlock);
        }
        float d = LoadHalf(y + 108);
        for (int j = 0; j < 16; j++)
        {
            float dd = d * DecodeScale(sc, j);
            if (dd == 0) continue;
            if (level != SimdLevel.Scalar) RequantLanes(x + 16 * j, L + 16 * j, 16, 0f, dd, -4, 3, 4, noAdd: true);
            else for (int ii = 0; ii < 16; ii++) L[16 * j + ii] = (byte)(Clamp(NearestInt(x[16 * j + ii] / dd), -4, 3) + 4);
        }
        byte* hmask = y;
        for (int j = 0; j < 32; j++) hmask[j] = 0;
        for (int j = 0; j < 256; j++)
        {
            if (L[j] > 3) { hmask[j % 32] |= (byte)(1 << (j / 32)); L[j] -= 4; }
        }
        Pack2Bit(L, y + 32);
    }

    private static void PackScales(byte* u, byte* sc)
    {
        for (int j = 0; j < 16; j++)
        {
            int l = u[j];
            if (j < 8) sc[j] = (byte)(l & 0xF);
            else sc[j - 8] |= (byte)((l & 0xF) << 4);
            sc[8 + j % 4] |= (byte)((l >> 4) << (2 * (j / 4)));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int DecodeScale(byte* sc, int j)
    {
        int lo = j < 8 ? sc[j] & 0xF : sc[j - 8] >> 4;
        return (lo | (((sc[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
    }

    private protected override void DequantizeBlock(byte* x, float* y, SimdLevel level)
    {
        float dAll = LoadHalf(x + 108);
        byte* hm = x;
        byte* q = x + 32;
        byte* sc = x + 96;
        int isc = 0;
        bool v512 = level == SimdLevel.Avx512;
        int mbit = 0;
        for (int n = 0; n < 256; n += 128, q += 32)
        {
            for (int j = 0; j < 4; j++, mbit++)
            {
                int shift = 2 * j;
                for (int half = 0; half < 2; half++, y += 16)
                {
                    float dl = dAll * DecodeScale(sc, isc++);
                    byte* qq = q + 16 * half; byte* hh = hm + 16 * half;
                    if (level != SimdLevel.Scalar)
                    {
                        var v = Vector128.ShiftRightLogical(BaselineSimd.Load16(qq).AsUInt16(), shift).AsByte() & Vector128.Create((byte)3);
                        var hb = BaselineSimd.Load16(hh) & Vector128.Create((byte)(1 << mbit));
                        var sub = Vector128.Equals(hb, Vector128<byte>.Zero) & Vector128.Create((byte)4);
                        BaselineSimd.Emit16((v - sub).AsSByte(), dl, BaselineSimd.NegZero, y, v512);
                    }
                    else
                        for (int l = 0; l < 16; l++) y[l] = dl * (((qq[l] >> shift) & 3) - ((hh[l] & (1 << mbit)) != 0 ? 0 : 4));
                }
            }
        }
    }
}

/// <summary>
/// Q4_K (144 bytes / 256): fp16 d, fp16 dmin, 6-bit scales/mins[12], qs[128]; y = d·sc·q − dmin·m.
/// Without imatrix <c>quantize_row_q4_K_ref</c> (§11.1, make_qkx2_quants); with imatrix <c>quantize_row_q4_K_impl</c>
/// (§11.2, make_qkx3_quants + make_qp_quants). Where the reference aborts (a NaN super-block scale from an all-zero
/// imatrix block) IQuant throws <see cref="QuantizationInputException"/>.
/// </summary>
[SkipLocalsInit]
public sealed unsafe class Q4_KCodec : KQuantCodecBase
{
    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.Q4_K;

    private protected override void QuantizeBlock(float* x, byte* y, float* qw, SimdLevel level)
    {
        byte* L = stackalloc byte[256];
        QuantizeK4Like(x, y, qw, 15, -1f, 20, clampImatrix: false, abortOnNaN: true, "Q4_K", L, level);
        byte* q = y + 16;
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) q[32 * c + l] = (byte)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
    }

    private protected override void DequantizeBlock(byte* x, float* y, SimdLevel level)
    {
        float d = LoadHalf(x), min = LoadHalf(x + 2);
        byte* q = x + 16;
        bool v512 = level == SimdLevel.Avx512;
        for (int c = 0; c < 4; c++, q += 32, y += 64)
        {
            ScaleMinK4(2 * c, x + 4, out int sc1, out int m1i);
            float d1 = d * sc1, m1 = min * m1i;
            ScaleMinK4(2 * c + 1, x + 4, out int sc2, out int m2i);
            float d2 = d * sc2, m2 = min * m2i;
            if (level != SimdLevel.Scalar)
            {
                var a = BaselineSimd.Load16(q); var b = BaselineSimd.Load16(q + 16);
                BaselineSimd.Emit16(BaselineSimd.LowNibbles(a).AsSByte(), d1, -m1, y, v512);
                BaselineSimd.Emit16(BaselineSimd.LowNibbles(b).AsSByte(), d1, -m1, y + 16, v512);
                BaselineSimd.Emit16(BaselineSimd.HighNibbles(a).AsSByte(), d2, -m2, y + 32, v512);
                BaselineSimd.Emit16(BaselineSimd.HighNibbles(b).AsSByte(), d2, -m2, y + 48, v512);
            }
            else
            {
                for (int l = 0; l < 32; l++) y[l] = d1 * (q[l] & 0xF) - m1;
                for (int l = 0; l < 32; l++) y[32 + l] = d2 * (q[l] >> 4) - m2;
            }
        }
    }
}

/// <summary>
/// Q5_K (176 bytes / 256): fp16 d, fp16 dmin, scales[12], qh[32], qs[128]; as Q4_K with a 5th bit.
/// Without imatrix <c>quantize_row_q5_K_ref</c> (§12.1); with imatrix <c>quantize_row_q5_K_impl</c> (§12.2). A NaN
/// super-block scale (all-zero imatrix block, rejected by the reference's validation) throws
/// <see cref="QuantizationInputException"/>.
/// </summary>
[SkipLocalsInit]
public sealed unsafe class Q5_KCodec : KQuantCodecBase
{
    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.Q5_K;

    private protected override void QuantizeBlock(float* x, byte* y, float* qw, SimdLevel level)
    {
        byte* L = stackalloc byte[256];
        QuantizeK4Like(x, y, qw, 31, -0.5f, 15, clampImatrix: true, abortOnNaN: false, "Q5_K", L, level);
        byte* qh = y + 16; byte* ql = y + 48;
        for (int j = 0; j < 32; j++) qh[j] = 0;
        for (int p = 0; p < 4; p++)
        {
            byte m1 = (byte)(1 << (2 * p)), m2 = (byte)(2 << (2 * p));
            for (int l = 0; l < 32; l++)
            {
                int a = L[64 * p + l], b = L[64 * p + 32 + l];
                if (a > 15) { a -= 16; qh[l] |= m1; }
                if (b > 15) { b -= 16; qh[l] |= m2; }
                ql[32 * p + l] = (byte)(a | (b << 4));
            }
        }
    }

    private protected override void DequantizeBlock(byte* x, float* y, SimdLevel level)
    {
        float d = LoadHalf(x), min = LoadHalf(x + 2);
        byte* qh = x + 16; byte* ql = x + 48;
        bool v512 = level == SimdLevel.Avx512;
        for (int c = 0; c < 4; c++, ql += 32, y += 64)
        {
            ScaleMinK4(2 * c, x + 4, out int sc1, out int m1i);
            float d1 = d * sc1, m1 = min * m1i;
            ScaleMinK4(2 * c + 1, x + 4, out int sc2, out int m2i);
            float d2 = d * sc2, m2 = min * m2i;
            int u1 = 1 << (2 * c), u2 = 2 << (2 * c);
            if (level != SimdLevel.Scalar)
            {
                var a = BaselineSimd.Load16(ql); var b = BaselineSimd.Load16(ql + 16);
                var h0 = BaselineSimd.Load16(qh); var h1 = BaselineSimd.Load16(qh + 16);
                var c16 = Vector128.Create((byte)16);
                var bu1 = Vector128.Create((byte)u1); var bu2 = Vector128.Create((byte)u2);
                var h0a = ~Vector128.Equals(h0 & bu1, Vector128<byte>.Zero) & c16;
                var h1a = ~Vector128.Equals(h1 & bu1, Vector128<byte>.Zero) & c16;
                var h0b = ~Vector128.Equals(h0 & bu2, Vector128<byte>.Zero) & c16;
                var h1b = ~Vector128.Equals(h1 & bu2, Vector128<byte>.Zero) & c16;
                BaselineSimd.Emit16((BaselineSimd.LowNibbles(a) + h0a).AsSByte(), d1, -m1, y, v512);
                BaselineSimd.Emit16((BaselineSimd.LowNibbles(b) + h1a).AsSByte(), d1, -m1, y + 16, v512);
                BaselineSimd.Emit16((BaselineSimd.HighNibbles(a) + h0b).AsSByte(), d2, -m2, y + 32, v512);
                BaselineSimd.Emit16((BaselineSimd.HighNibbles(b) + h1b).AsSByte(), d2, -m2, y + 48, v512);
            }
            else
            {
                for (int l = 0; l < 32; l++) y[l] = d1 * ((ql[l] & 0xF) + ((qh[l] & u1) != 0 ? 16 : 0)) - m1;
                for (int l = 0; l < 32; l++) y[32 + l] = d2 * ((ql[l] >> 4) + ((qh[l] & u2) != 0 ? 16 : 0)) - m2;
            }
        }
    }
}

/// <summary>
/// Q6_K (210 bytes / 256): ql[128], qh[64], int8 scales[16], fp16 d; y = d·sc·(q−32).
/// <c>quantize_row_q6_K_ref</c> / <c>_impl</c> (§13): make_qx_quants(16, 32) per sub-block with weights x² (no imatrix)
/// or the raw imatrix values.
/// </summary>
[SkipLocalsInit]
public sealed unsafe class Q6_KCodec : KQuantCodecBase
{
    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.Q6_K;

    private protected override void QuantizeBlock(float* x, byte* y, float* qw, SimdLevel level)
    {
        byte* L = stackalloc byte[256];
        float* scales = stackalloc float[16];
        float* w = stackalloc float[16];
        float amax = 0, maxScale = 0;
        for (int ib = 0; ib < 16; ib++)
        {
            float* xb = x + 16 * ib;
            float* wb;
            if (qw != null) wb = qw + 16 * ib;
            else { for (int l = 0; l < 16; l++) w[l] = xb[l] * xb[l]; wb = w; }
            float s = QxKernels.MakeQx(16, 32, xb, L + 16 * ib, wb, level);
            scales[ib] = s;
            float a = MathF.Abs(s);
            if (a > amax) { amax = a; maxScale = s; }
        }
        if (amax < GroupMaxEps)
        {
            new Span<byte>(y, 210).Clear();
            return;
        }
        float iscale = -128f / maxScale;
        StoreHalf(y + 208, 1 / iscale);
        sbyte* sc = (sbyte*)(y + 192);
        for (int ib = 0; ib < 16; ib++) sc[ib] = (sbyte)Math.Min(127, NearestInt(iscale * scales[ib]));
        float d = LoadHalf(y + 208);
        for (int j = 0; j < 16; j++)
        {
            float dd = d * sc[j];
            if (dd == 0) continue;
            if (level != SimdLevel.Scalar) RequantLanes(x + 16 * j, L + 16 * j, 16, 0f, dd, -32, 31, 32, noAdd: true);
            else for (int ii = 0; ii < 16; ii++) L[16 * j + ii] = (byte)(Clamp(NearestInt(x[16 * j + ii] / dd), -32, 31) + 32);
        }
        byte* ql = y; byte* qh = y + 128;
        for (int h = 0; h < 2; h++)
        {
            byte* Lb = L + 128 * h;
            for (int l = 0; l < 32; l++)
            {
                int q1 = Lb[l], q2 = Lb[l + 32], q3 = Lb[l + 64], q4 = Lb[l + 96];
                ql[64 * h + l] = (byte)((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[64 * h + l + 32] = (byte)((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[32 * h + l] = (byte)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }

    private protected override void DequantizeBlock(byte* x, float* y, SimdLevel level)
    {
        float d = LoadHalf(x + 208);
        byte* ql = x; byte* qh = x + 128; sbyte* sc = (sbyte*)(x + 192);
        bool v512 = level == SimdLevel.Avx512;
        for (int n = 0; n < 2; n++, y += 128, ql += 64, qh += 32, sc += 8)
        {
            if (level != SimdLevel.Scalar)
            {
                var three = Vector128.Create((byte)3); var c32 = Vector128.Create((byte)32);
                for (int half = 0; half < 2; half++)
                {
                    int o = 16 * half;
                    var a = BaselineSimd.Load16(ql + o); var b = BaselineSimd.Load16(ql + 32 + o);
                    var h = BaselineSimd.Load16(qh + o);
                    var hh0 = Vector128.ShiftLeft((h & three).AsUInt16(), 4).AsByte();
                    var hh1 = Vector128.ShiftLeft((Vector128.ShiftRightLogical(h.AsUInt16(), 2).AsByte() & three).AsUInt16(), 4).AsByte();
                    var hh2 = Vector128.ShiftLeft((Vector128.ShiftRightLogical(h.AsUInt16(), 4).AsByte() & three).AsUInt16(), 4).AsByte();
                    var hh3 = Vector128.ShiftLeft((Vector128.ShiftRightLogical(h.AsUInt16(), 6).AsByte() & three).AsUInt16(), 4).AsByte();
                    BaselineSimd.Emit16(((BaselineSimd.LowNibbles(a) | hh0) - c32).AsSByte(), d * sc[half + 0], BaselineSimd.NegZero, y + o, v512);
                    BaselineSimd.Emit16(((BaselineSimd.LowNibbles(b) | hh1) - c32).AsSByte(), d * sc[half + 2], BaselineSimd.NegZero, y + 32 + o, v512);
                    BaselineSimd.Emit16(((BaselineSimd.HighNibbles(a) | hh2) - c32).AsSByte(), d * sc[half + 4], BaselineSimd.NegZero, y + 64 + o, v512);
                    BaselineSimd.Emit16(((BaselineSimd.HighNibbles(b) | hh3) - c32).AsSByte(), d * sc[half + 6], BaselineSimd.NegZero, y + 96 + o, v512);
                }
                continue;
            }
            for (int l = 0; l < 32; l++)
            {
                int isc = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[isc + 0] * q1;
                y[l + 32] = d * sc[isc + 2] * q2;
                y[l + 64] = d * sc[isc + 4] * q3;
                y[l + 96] = d * sc[isc + 6] * q4;
            }
        }
    }
}
