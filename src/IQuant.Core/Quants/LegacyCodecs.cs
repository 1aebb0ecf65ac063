using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using IQuant.Core.Types;
using static IQuant.Core.Quants.BaselineHelpers;

namespace IQuant.Core.Quants;

/// <summary>Common plumbing of the 32-weight legacy block codecs (Q4_0 … Q8_0).</summary>
[SkipLocalsInit]
public abstract unsafe class LegacyCodecBase : QuantCodec
{
    /// <summary>Bytes per 32-weight block.</summary>
    protected int BlockBytes => Info.BytesPerBlock;

    /// <inheritdoc/>
    public sealed override void QuantizeRow(ReadOnlySpan<float> src, Span<byte> dst, ReadOnlySpan<float> imatrix)
    {
        int n = src.Length;
        if (n % 32 != 0) throw new ArgumentException($"Row length {n} is not a multiple of 32.", nameof(src));
        if (dst.Length < n / 32 * BlockBytes) throw new ArgumentException("Destination too small.", nameof(dst));
        if (!imatrix.IsEmpty && imatrix.Length < n) throw new ArgumentException("Importance matrix shorter than the row.", nameof(imatrix));
        fixed (float* x = src) fixed (byte* y = dst) fixed (float* qw = imatrix)
            Quantize(x, n, y, imatrix.IsEmpty ? null : qw, SimdPolicy.Current);
    }

    /// <inheritdoc/>
    public sealed override void DequantizeRow(ReadOnlySpan<byte> src, Span<float> dst)
    {
        int n = dst.Length;
        if (n % 32 != 0) throw new ArgumentException($"Row length {n} is not a multiple of 32.", nameof(dst));
        if (src.Length < n / 32 * BlockBytes) throw new ArgumentException("Source too small.", nameof(src));
        fixed (byte* x = src) fixed (float* y = dst)
            Dequantize(x, n / 32, y, SimdPolicy.Current);
    }

    /// <summary>Quantizes one row of <paramref name="n"/> weights; <paramref name="qw"/> is null without imatrix.</summary>
    private protected abstract void Quantize(float* x, int n, byte* y, float* qw, SimdLevel level);

    /// <summary>Dequantizes <paramref name="nb"/> blocks.</summary>
    private protected abstract void Dequantize(byte* x, int nb, float* y, SimdLevel level);

    /// <summary>σ² = (Σ_row x²)/f(n) of the imatrix paths of Q4_0/Q5_0/Q6_0/Q4_1/Q5_1.</summary>
    private protected static float RowSigma2(float* x, int n)
    {
        float s = 0;
        for (int j = 0; j < n; j++) s += x[j] * x[j];
        return s / n;
    }

    /// <summary>w_j = qw_j·sqrtf(σ² + x_j²) for one block of 32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private protected static void ImWeights(float* x, float* qw, float sigma2, float* w)
    {
        for (int j = 0; j < 32; j++) w[j] = qw[j] * MathF.Sqrt(sigma2 + x[j] * x[j]);
    }
}

/// <summary>
/// Q8_0 (34 bytes / 32 weights): fp16 d, int8 qs[32]. Quantizer = <c>quantize_row_q8_0_ref</c>
/// (formats-baseline.md §3): d = amax/127, q = roundf(x·(1/d)); the imatrix is ignored, as in ik_llama.cpp.
/// </summary>
[SkipLocalsInit]
public sealed unsafe class Q8_0Codec : LegacyCodecBase
{
    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.Q8_0;

    private protected override void Quantize(float* x, int n, byte* y, float* qw, SimdLevel level)
    {
        int nb = n / 32;
        if (level == SimdLevel.Avx512) { for (int i = 0; i < nb; i++) Block512(x + 32 * i, y + 34 * i); return; }
        if (level == SimdLevel.Avx2) { for (int i = 0; i < nb; i++) Block256(x + 32 * i, y + 34 * i); return; }
        for (int i = 0; i < nb; i++)
        {
            float* xb = x + 32 * i; byte* yb = y + 34 * i;
            float amax = 0;
            for (int j = 0; j < 32; j++) { float a = MathF.Abs(xb[j]); amax = amax > a ? amax : a; }
            float d = amax / 127f;
            float id = d != 0 ? 1f / d : 0f;
            StoreHalf(yb, d);
            for (int j = 0; j < 32; j++) yb[2 + j] = (byte)(int)RoundAway(xb[j] * id);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block512(float* x, byte* y)
    {
        var v0 = Vector512.Load(x); var v1 = Vector512.Load(x + 16);
        var m = Vector512.MaxNative(Vector512.Abs(v0), Vector512.Abs(v1));
        var m8 = Vector256.MaxNative(m.GetLower(), m.GetUpper());
        float amax = HMax(Vector128.MaxNative(m8.GetLower(), m8.GetUpper()));
        float d = amax / 127f;
        float id = d != 0 ? 1f / d : 0f;
        StoreHalf(y, d);
        var vid = Vector512.Create(id);
        Vector128.Store(Avx512F.ConvertToVector128SByte(Avx512F.ConvertToVector512Int32WithTruncation(RoundAway512(v0 * vid))), (sbyte*)(y + 2));
        Vector128.Store(Avx512F.ConvertToVector128SByte(Avx512F.ConvertToVector512Int32WithTruncation(RoundAway512(v1 * vid))), (sbyte*)(y + 18));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Block256(float* x, byte* y)
    {
        var v0 = Vector256.Load(x); var v1 = Vector256.Load(x + 8); var v2 = Vector256.Load(x + 16); var v3 = Vector256.Load(x + 24);
        var m = Vector256.MaxNative(Vector256.MaxNative(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.MaxNative(Vector256.Abs(v2), Vector256.Abs(v3)));
        float amax = HMax(Vector128.MaxNative(m.GetLower(), m.GetUpper()));
        float d = amax / 127f;
        float id = d != 0 ? 1f / d : 0f;
        StoreHalf(y, d);
        var vid = Vector256.Create(id);
        var i0 = Avx.ConvertToVector256Int32WithTruncation(RoundAway256(v0 * vid));
        var i1 = Avx.ConvertToVector256Int32WithTruncation(RoundAway256(v1 * vid));
        var i2 = Avx.ConvertToVector256Int32WithTruncation(RoundAway256(v2 * vid));
        var i3 = Avx.ConvertToVector256Int32WithTruncation(RoundAway256(v3 * vid));
        var s01 = Avx2.PackSignedSaturate(i0, i1);
        var s23 = Avx2.PackSignedSaturate(i2, i3);
        var b = Avx2.PackSignedSaturate(s01, s23);
        b = Avx2.PermuteVar8x32(b.AsInt32(), Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsSByte();
        Vector256.Store(b, (sbyte*)(y + 2));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HMax(Vector128<float> v)
    {
        v = Vector128.MaxNative(v, Vector128.Shuffle(v, Vector128.Create(2, 3, 0, 1)));
        v = Vector128.MaxNative(v, Vector128.Shuffle(v, Vector128.Create(1, 0, 3, 2)));
        return v.ToScalar();
    }

    /// <summary>roundf on 16 lanes: t = trunc(p); t ± 1 where |p − t| ≥ 0.5 (exact, like <see cref="BaselineHelpers.RoundAway"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> RoundAway512(Vector512<float> p)
    {
        var t = Vector512.Truncate(p);
        var half = Vector512.GreaterThanOrEqual(Vector512.Abs(p - t), Vector512.Create(0.5f));
        return t + (half & Vector512.CopySign(Vector512<float>.One, p));
    }

    /// <summary>roundf on 8 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> RoundAway256(Vector256<float> p)
    {
        var t = Vector256.Truncate(p);
        var half = Vector256.GreaterThanOrEqual(Vector256.Abs(p - t), Vector256.Create(0.5f));
        return t + (half & Vector256.CopySign(Vector256<float>.One, p));
    }

    private protected override void Dequantize(byte* x, int nb, float* y, SimdLevel level)
    {
        if (level != SimdLevel.Scalar)
        {
            bool v512 = level == SimdLevel.Avx512;
            for (int i = 0; i < nb; i++, x += 34, y += 32)
            {
                float d = LoadHalf(x);
                BaselineSimd.Emit16(Vector128.Load((sbyte*)(x + 2)), d, BaselineSimd.NegZero, y, v512);
                BaselineSimd.Emit16(Vector128.Load((sbyte*)(x + 18)), d, BaselineSimd.NegZero, y + 16, v512);
            }
            return;
        }
        for (int i = 0; i < nb; i++, x += 34, y += 32)
        {
            float d = LoadHalf(x);
            for (int j = 0; j < 32; j++) y[j] = (sbyte)x[2 + j] * d;
        }
    }
}

/// <summary>
/// Q4_0 (18 bytes / 32): fp16 d, qs[16] (low nibble = weight j, high = j+16), y = (q−8)·d.
/// Without imatrix <c>quantize_row_q4_0_ref</c> (§4.1, d = max/−8, levels trunc(x/d + 8.5));
/// with imatrix <c>quantize_row_q4_0_impl</c> (§4.2, make_qx_quants with weights qw·sqrt(σ²+x²)).
/// </summary>
[SkipLocalsInit]
public sealed unsafe class Q4_0Codec : LegacyCodecBase
{
    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.Q4_0;

    private protected override void Quantize(float* x, int n, byte* y, float* qw, SimdLevel level)
    {
        int nb = n / 32;
        if (qw == null)
        {
            for (int i = 0; i < nb; i++)
            {
                float* xb = x + 32 * i; byte* yb = y + 18 * i;
                AbsMax(xb, 32, out float max);
                float d = max / -8f;
                float id = d != 0 ? 1f / d : 0f;
                StoreHalf(yb, d);
                for (int j = 0; j < 16; j++)
                {
                    int q0 = Math.Min(15, (int)(sbyte)(int)((xb[j] * id) + 8.5f));
                    int q1 = Math.Min(15, (int)(sbyte)(int)((xb[j + 16] * id) + 8.5f));
                    yb[2 + j] = (byte)(q0 | (q1 << 4));
                }
            }
            return;
        }
        float sigma2 = RowSigma2(x, n);
        float* w = stackalloc float[32];
        byte* L = stackalloc byte[32];
        for (int i = 0; i < nb; i++)
        {
            float* xb = x + 32 * i; byte* yb = y + 18 * i;
            ImWeights(xb, qw + 32 * i, sigma2, w);
            float d = QxKernels.MakeQx(32, 8, xb, L, w, level);
            StoreHalf(yb, d);
            for (int j = 0; j < 16; j++) yb[2 + j] = (byte)(L[j] | (L[j + 16] << 4));
        }
    }

    private protected override void Dequantize(byte* x, int nb, float* y, SimdLevel level)
    {
        if (level != SimdLevel.Scalar)
        {
            bool v512 = level == SimdLevel.Avx512;
            var eight = Vector128.Create((byte)8);
            for (int i = 0; i < nb; i++, x += 18, y += 32)
            {
                float d = LoadHalf(x);
                var q = BaselineSimd.Load16(x + 2);
                BaselineSimd.Emit16((BaselineSimd.LowNibbles(q) - eight).AsSByte(), d, BaselineSimd.NegZero, y, v512);
                BaselineSimd.Emit16((BaselineSimd.HighNibbles(q) - eight).AsSByte(), d, BaselineSimd.NegZero, y + 16, v512);
            }
            return;
        }
        for (int i = 0; i < nb; i++, x += 18, y += 32)
        {
            float d = LoadHalf(x);
            for (int j = 0; j < 16; j++)
            {
                y[j] = ((x[2 + j] & 0x0F) - 8) * d;
                y[j + 16] = ((x[2 + j] >> 4) - 8) * d;
            }
        }
    }
}

/// <summary>
/// Q4_1 (20 bytes / 32): fp16 d, fp16 m, qs[16]; y = q·d + m. Without imatrix <c>quantize_row_q4_1_ref</c>
/// (d = (max−min)/15, m = min, levels MIN(15, trunc((x−min)/d + 0.5))); with imatrix <c>quantize_row_q4_1_impl</c>
/// (make_qkx3_quants(32, 15, w = qw·sqrt(σ²+x²), −0.9, 0.05, 36), m = −the_min). Not covered by formats-baseline.md
/// (its §17); written from ggml-quants.c of the reference snapshot and checked against the reference vectors.
/// </summary>
[SkipLocalsInit]
public sealed unsafe class Q4_1Codec : LegacyCodecBase
{
    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.Q4_1;

    private protected override void Quantize(float* x, int n, byte* y, float* qw, SimdLevel level)
    {
        int nb = n / 32;
        if (qw == null)
        {
            for (int i = 0; i < nb; i++)
            {
                float* xb = x + 32 * i; byte* yb = y + 20 * i;
                MinMax(xb, out float min, out float max);
                float d = (max - min) / 15f;
                float id = d != 0 ? 1f / d : 0f;
                StoreHalf(yb, d);
                StoreHalf(yb + 2, min);
                for (int j = 0; j < 16; j++)
                {
                    int q0 = Math.Min(15, (int)(sbyte)(int)(((xb[j] - min) * id) + 0.5f));
                    int q1 = Math.Min(15, (int)(sbyte)(int)(((xb[j + 16] - min) * id) + 0.5f));
                    yb[4 + j] = (byte)(q0 | (q1 << 4));
                }
            }
            return;
        }
        float sigma2 = RowSigma2(x, n);
        float* w = stackalloc float[32];
        byte* L = stackalloc byte[32];
        for (int i = 0; i < nb; i++)
        {
            float* xb = x + 32 * i; byte* yb = y + 20 * i;
            ImWeights(xb, qw + 32 * i, sigma2, w);
            float d = KxKernels.MakeQkx3(32, 15, xb, w, L, out float theMin, -0.9f, 0.05f, 36, level);
            StoreHalf(yb, d);
            StoreHalf(yb + 2, -theMin);
            for (int j = 0; j < 16; j++) yb[4 + j] = (byte)(L[j] | (L[j + 16] << 4));
        }
    }

    /// <summary>min/max scan of the _1 reference quantizers (start FLT_MAX / −FLT_MAX, strict compares).</summary>
    internal static void MinMax(float* x, out float min, out float max)
    {
        min = float.MaxValue; max = -float.MaxValue;
        for (int j = 0; j < 32; j++)
        {
            float v = x[j];
            if (v < min) min = v;
            if (v > max) max = v;
        }
    }

    private protected override void Dequantize(byte* x, int nb, float* y, SimdLevel level)
    {
        if (level != SimdLevel.Scalar)
        {
            bool v512 = level == SimdLevel.Avx512;
            for (int i = 0; i < nb; i++, x += 20, y += 32)
            {
                float d = LoadHalf(x), m = LoadHalf(x + 2);
                var q = BaselineSimd.Load16(x + 4);
                BaselineSimd.Emit16(BaselineSimd.LowNibbles(q).AsSByte(), d, m, y, v512);
                BaselineSimd.Emit16(BaselineSimd.HighNibbles(q).AsSByte(), d, m, y + 16, v512);
            }
            return;
        }
        for (int i = 0; i < nb; i++, x += 20, y += 32)
        {
            float d = LoadHalf(x), m = LoadHalf(x + 2);
            for (int j = 0; j < 16; j++)
            {
                y[j] = (x[4 + j] & 0x0F) * d + m;
                y[j + 16] = (x[4 + j] >> 4) * d + m;
            }
        }
    }
}

/// <summary>
/// Q5_0 (22 bytes / 32): fp16 d, u32 qh (bit j = 5th bit of weight j), qs[16]; y = (q−16)·d.
/// Without imatrix <c>quantize_row_q5_0_ref</c> (§5.1); with imatrix <c>quantize_row_q5_0_impl</c> (§5.2, QX nmax 16).
/// </summary>
[SkipLocalsInit]
public sealed unsafe class Q5_0Codec : LegacyCodecBase
{
    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.Q5_0;

    private protected override void Quantize(float* x, int n, byte* y, float* qw, SimdLevel level)
    {
        int nb = n / 32;
        byte* L = stackalloc byte[32];
        if (qw == null)
        {
            for (int i = 0; i < nb; i++)
            {
                float* xb = x + 32 * i; byte* yb = y + 22 * i;
                AbsMax(xb, 32, out float max);
                float d = max / -16f;
                float id = d != 0 ? 1f / d : 0f;
                StoreHalf(yb, d);
                for (int j = 0; j < 32; j++) L[j] = (byte)Math.Min(31, (int)(sbyte)(int)((xb[j] * id) + 16.5f));
                Pack5(L, yb + 2);
            }
            return;
        }
        float sigma2 = RowSigma2(x, n);
        float* w = stackalloc float[32];
        for (int i = 0; i < nb; i++)
        {
            float* xb = x + 32 * i; byte* yb = y + 22 * i;
            ImWeights(xb, qw + 32 * i, sigma2, w);
            float d = QxKernels.MakeQx(32, 16, xb, L, w, level);
            StoreHalf(yb, d);
            Pack5(L, yb + 2);
        }
    }

    /// <summary>qh (u32 LE) then qs[16] from 32 five-bit levels.</summary>
    internal static void Pack5(byte* L, byte* p)
    {
        uint qh = 0;
        for (int j = 0; j < 16; j++)
        {
            int a = L[j], b = L[j + 16];
            p[4 + j] = (byte)((a & 15) | ((b & 15) << 4));
            qh |= (uint)((a & 0x10) >> 4) << j;
            qh |= (uint)((b & 0x10) >> 4) << (j + 16);
        }
        Unsafe.WriteUnaligned(p, qh);
    }

    private protected override void Dequantize(byte* x, int nb, float* y, SimdLevel level)
    {
        if (level != SimdLevel.Scalar)
        {
            bool v512 = level == SimdLevel.Avx512;
            var sixteen = Vector128.Create((byte)16);
            for (int i = 0; i < nb; i++, x += 22, y += 32)
            {
                float d = LoadHalf(x);
                uint qh = Unsafe.ReadUnaligned<uint>(x + 2);
                var q = BaselineSimd.Load16(x + 6);
                var lo = (BaselineSimd.LowNibbles(q) | BaselineSimd.BitsTo16(qh)) - sixteen;
                var hi = (BaselineSimd.HighNibbles(q) | BaselineSimd.BitsTo16(qh >> 16)) - sixteen;
                BaselineSimd.Emit16(lo.AsSByte(), d, BaselineSimd.NegZero, y, v512);
                BaselineSimd.Emit16(hi.AsSByte(), d, BaselineSimd.NegZero, y + 16, v512);
            }
            return;
        }
        for (int i = 0; i < nb; i++, x += 22, y += 32)
        {
            float d = LoadHalf(x);
            uint qh = Unsafe.ReadUnaligned<uint>(x + 2);
            for (int j = 0; j < 16; j++)
            {
                int h0 = (int)((qh >> j) << 4) & 0x10;
                int h1 = (int)(qh >> (j + 12)) & 0x10;
                y[j] = (((x[6 + j] & 0x0F) | h0) - 16) * d;
                y[j + 16] = (((x[6 + j] >> 4) | h1) - 16) * d;
            }
        }
    }
}

/// <summary>
/// Q5_1 (24 bytes / 32): fp16 d, fp16 m, u32 qh, qs[16]; y = q·d + m. Without imatrix <c>quantize_row_q5_1_ref</c>
/// (d = (max−min)/31, levels (uint8)((x−min)/d + 0.5)); with imatrix <c>quantize_row_q5_1_impl</c>
/// (make_qkx3_quants(32, 31, …, −0.9, 0.05, 36)). Written from ggml-quants.c of the reference snapshot (not in the spec)
/// and checked against the reference vectors.
/// </summary>
[SkipLocalsInit]
public sealed unsafe class Q5_1Codec : LegacyCodecBase
{
    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.Q5_1;

    private protected override void Quantize(float* x, int n, byte* y, float* qw, SimdLevel level)
    {
        int nb = n / 32;
        byte* L = stackalloc byte[32];
        if (qw == null)
        {
            for (int i = 0; i < nb; i++)
            {
                float* xb = x + 32 * i; byte* yb = y + 24 * i;
                Q4_1Codec.MinMax(xb, out float min, out float max);
                float d = (max - min) / 31f;
                float id = d != 0 ? 1f / d : 0f;
                StoreHalf(yb, d);
                StoreHalf(yb + 2, min);
                for (int j = 0; j < 32; j++) L[j] = (byte)(int)(((xb[j] - min) * id) + 0.5f);
                Q5_0Codec.Pack5(L, yb + 4);
            }
            return;
        }
        float sigma2 = RowSigma2(x, n);
        float* w = stackalloc float[32];
        for (int i = 0; i < nb; i++)
        {
            float* xb = x + 32 * i; byte* yb = y + 24 * i;
            ImWeights(xb, qw + 32 * i, sigma2, w);
            float d = KxKernels.MakeQkx3(32, 31, xb, w, L, out float theMin, -0.9f, 0.05f, 36, level);
            StoreHalf(yb, d);
            StoreHalf(yb + 2, -theMin);
            Q5_0Codec.Pack5(L, yb + 4);
        }
    }

    private protected override void Dequantize(byte* x, int nb, float* y, SimdLevel level)
    {
        if (level != SimdLevel.Scalar)
        {
            bool v512 = level == SimdLevel.Avx512;
            for (int i = 0; i < nb; i++, x += 24, y += 32)
            {
                float d = LoadHalf(x), m = LoadHalf(x + 2);
                uint qh = Unsafe.ReadUnaligned<uint>(x + 4);
                var q = BaselineSimd.Load16(x + 8);
                var lo = BaselineSimd.LowNibbles(q) | BaselineSimd.BitsTo16(qh);
                var hi = BaselineSimd.HighNibbles(q) | BaselineSimd.BitsTo16(qh >> 16);
                BaselineSimd.Emit16(lo.AsSByte(), d, m, y, v512);
                BaselineSimd.Emit16(hi.AsSByte(), d, m, y + 16, v512);
            }
            return;
        }
        for (int i = 0; i < nb; i++, x += 24, y += 32)
        {
            float d = LoadHalf(x), m = LoadHalf(x + 2);
            uint qh = Unsafe.ReadUnaligned<uint>(x + 4);
            for (int j = 0; j < 16; j++)
            {
                int h0 = (int)((qh >> j) << 4) & 0x10;
                int h1 = (int)(qh >> (j + 12)) & 0x10;
                y[j] = ((x[8 + j] & 0x0F) | h0) * d + m;
                y[j + 16] = ((x[8 + j] >> 4) | h1) * d + m;
            }
        }
    }
}

/// <summary>
/// Q6_0 (26 bytes / 32, ik-only): fp16 d, qh[8], qs[16]; y = (q−32)·d. Quantizer = <c>quantize_row_q6_0_impl</c>
/// (§6): make_qx_quants(32, 32) with weights x² (no imatrix) or qw·sqrt(σ²+x²).
/// </summary>
[SkipLocalsInit]
public sealed unsafe class Q6_0Codec : LegacyCodecBase
{
    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.Q6_0;

    private protected override void Quantize(float* x, int n, byte* y, float* qw, SimdLevel level)
    {
        int nb = n / 32;
        float sigma2 = qw != null ? RowSigma2(x, n) : 0f;
        float* w = stackalloc float[32];
        byte* L = stackalloc byte[32];
        for (int i = 0; i < nb; i++)
        {
            float* xb = x + 32 * i; byte* yb = y + 26 * i;
            if (qw != null) ImWeights(xb, qw + 32 * i, sigma2, w);
            else for (int j = 0; j < 32; j++) w[j] = xb[j] * xb[j];
            float d = QxKernels.MakeQx(32, 32, xb, L, w, level);
            StoreHalf(yb, d);
            byte* qh = yb + 2; byte* qs = yb + 10;
            for (int j = 0; j < 8; j++) qh[j] = 0;
            for (int j = 0; j < 16; j++)
            {
                int a = L[j], b = L[j + 16];
                qs[j] = (byte)((a & 15) | ((b & 15) << 4));
                int h = (a >> 4) | ((b >> 4) << 2);
                qh[j % 8] |= (byte)(h << (4 * (j / 8)));
            }
        }
    }

    private protected override void Dequantize(byte* x, int nb, float* y, SimdLevel level)
    {
        if (level != SimdLevel.Scalar)
        {
            bool v512 = level == SimdLevel.Avx512;
            var three = Vector128.Create((byte)3);
            var c32 = Vector128.Create((byte)32);
            for (int i = 0; i < nb; i++, x += 26, y += 32)
            {
                float d = LoadHalf(x);
                var h8 = Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<ulong>(x + 2)).AsByte();
                // lanes 0..7: qh[j], lanes 8..15: qh[j−8] >> 4
                var h = Sse2.UnpackLow(h8.AsUInt64(), (Vector128.ShiftRightLogical(h8.AsUInt16(), 4).AsByte() & Vector128.Create((byte)0x0F)).AsUInt64()).AsByte();
                var q = BaselineSimd.Load16(x + 10);
                var lo = (BaselineSimd.LowNibbles(q) | Vector128.ShiftLeft((h & three).AsUInt16(), 4).AsByte()) - c32;
                var hi = (BaselineSimd.HighNibbles(q) | Vector128.ShiftLeft((Vector128.ShiftRightLogical(h.AsUInt16(), 2).AsByte() & three).AsUInt16(), 4).AsByte()) - c32;
                BaselineSimd.Emit16(lo.AsSByte(), d, BaselineSimd.NegZero, y, v512);
                BaselineSimd.Emit16(hi.AsSByte(), d, BaselineSimd.NegZero, y + 16, v512);
            }
            return;
        }
        for (int i = 0; i < nb; i++, x += 26, y += 32)
        {
            float d = LoadHalf(x);
            for (int j = 0; j < 16; j++)
            {
                int h = x[2 + j % 8] >> (4 * (j / 8));
                int x0 = ((x[10 + j] & 0x0F) | ((h << 4) & 0x30)) - 32;
                int x1 = ((x[10 + j] >> 4) | ((h << 2) & 0x30)) - 32;
                y[j] = x0 * d;
                y[j + 16] = x1 * d;
            }
        }
    }
}
