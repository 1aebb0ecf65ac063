using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using IQuant.Core.Types;
using static IQuant.Core.Quants.BaselineHelpers;

namespace IQuant.Core.Quants;

/// <summary>
/// IQ4_NL (18 bytes / 32): fp16 d, qs[16] (Q4_0 nibble order); y = d·kvalues_iq4nl[q].
/// Quantizer = ik_llama.cpp's <c>quantize_row_iq4_nl_impl(32, 32, …, ntry = 7)</c> per block (formats-baseline.md §7):
/// weights x² without imatrix, qw·sqrt(σ² + x²) with σ² = Σx²·(2/32) of the block; the §2.7 scale search with greedy
/// refinement; levels re-quantized from the f32 scale.
/// <para>
/// <b>Deviation for all-zero importance weights.</b> When every importance weight of a 32-column block is 0, ik_llama.cpp
/// computes the scale as 0/0 and stores a NaN (fp16 0xFE00), which its own validation then rejects ("quantized data
/// validation failed"). IQuant never writes NaN: such a block (more generally, any block whose weighted search yields a
/// NaN scale) is quantized <i>as if it had no importance weights</i> (weights x²), i.e. exactly like ik_llama.cpp without
/// imatrix for that block. All other blocks of the row are unaffected (IQ4_NL blocks are independent) and match the
/// reference byte for byte.
/// </para>
/// </summary>
[SkipLocalsInit]
public sealed unsafe class Iq4NlCodec : QuantCodec
{
    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.IQ4_NL;

    /// <inheritdoc/>
    public override void QuantizeRow(ReadOnlySpan<float> src, Span<byte> dst, ReadOnlySpan<float> imatrix)
    {
        int n = src.Length;
        if (n % 32 != 0) throw new ArgumentException($"Row length {n} is not a multiple of 32.", nameof(src));
        if (dst.Length < n / 32 * 18) throw new ArgumentException("Destination too small.", nameof(dst));
        if (!imatrix.IsEmpty && imatrix.Length < n) throw new ArgumentException("Importance matrix shorter than the row.", nameof(imatrix));
        var level = SimdPolicy.Current;
        float* w = stackalloc float[32];
        fixed (float* px = src) fixed (byte* py = dst) fixed (float* pw = imatrix)
        {
            float* qw = imatrix.IsEmpty ? null : pw;
            for (int ib = 0; ib < n / 32; ib++)
            {
                float* x = px + 32 * ib; byte* y = py + 18 * ib;
                float d;
                if (qw != null)
                {
                    Iq4Weights(x, qw + 32 * ib, Iq4Sigma2(x, 32, 0.0625f), w);
                    d = Iq4Kernels.Search(x, w, level);
                    if (float.IsNaN(d))
                    {
                        for (int j = 0; j < 32; j++) w[j] = x[j] * x[j];
                        d = Iq4Kernels.Search(x, w, level);
                    }
                }
                else
                {
                    for (int j = 0; j < 32; j++) w[j] = x[j] * x[j];
                    d = Iq4Kernels.Search(x, w, level);
                }
                StoreHalf(y, d);
                float id = d != 0 ? 1f / d : 0f;
                Iq4Kernels.Levels32(x, id, y + 2, level);
            }
        }
    }

    /// <summary>σ² = (Σ x²)·factor over <paramref name="n"/> weights.</summary>
    internal static float Iq4Sigma2(float* x, int n, float factor)
    {
        float s = 0;
        for (int j = 0; j < n; j++) s += x[j] * x[j];
        return s * factor;
    }

    /// <summary>w_j = qw_j·sqrtf(σ² + x_j²) for 32 weights.</summary>
    internal static void Iq4Weights(float* x, float* qw, float sigma2, float* w)
    {
        for (int j = 0; j < 32; j++) w[j] = qw[j] * MathF.Sqrt(sigma2 + x[j] * x[j]);
    }

    /// <inheritdoc/>
    public override void DequantizeRow(ReadOnlySpan<byte> src, Span<float> dst)
    {
        int n = dst.Length;
        if (n % 32 != 0) throw new ArgumentException($"Row length {n} is not a multiple of 32.", nameof(dst));
        if (src.Length < n / 32 * 18) throw new ArgumentException("Source too small.", nameof(src));
        var level = SimdPolicy.Current;
        fixed (byte* px = src) fixed (float* py = dst)
        {
            byte* x = px; float* y = py;
            int nb = n / 32;
            if (level != SimdLevel.Scalar)
            {
                bool v512 = level == SimdLevel.Avx512;
                var table = BaselineSimd.Iq4nlTable;
                for (int i = 0; i < nb; i++, x += 18, y += 32)
                {
                    float d = LoadHalf(x);
                    var q = BaselineSimd.Load16(x + 2);
                    BaselineSimd.Emit16(BaselineSimd.Lookup16(table, BaselineSimd.LowNibbles(q)), d, BaselineSimd.NegZero, y, v512);
                    BaselineSimd.Emit16(BaselineSimd.Lookup16(table, BaselineSimd.HighNibbles(q)), d, BaselineSimd.NegZero, y + 16, v512);
                }
                return;
            }
            var T = Iq4nlValues;
            for (int i = 0; i < nb; i++, x += 18, y += 32)
            {
                float d = LoadHalf(x);
                for (int j = 0; j < 16; j++)
                {
                    y[j] = d * T[x[2 + j] & 0x0F];
                    y[j + 16] = d * T[x[2 + j] >> 4];
                }
            }
        }
    }
}

/// <summary>
/// IQ4_XS (136 bytes / 256): fp16 d, u16 scales_h, scales_l[4], qs[128]; 6-bit sub-block scales (ls − 32), y =
/// d·(ls−32)·kvalues_iq4nl[q]. Quantizer = <c>quantize_row_iq4_nl_impl(256, 32, …, 7)</c> (formats-baseline.md §8).
/// A 32-column sub-block whose importance weights are all 0 gets a NaN sub-scale in the reference, which never becomes
/// the block maximum and is encoded as code 32 with levels 8 — reproduced exactly; no NaN is ever stored.
/// </summary>
[SkipLocalsInit]
public sealed unsafe class Iq4XsCodec : QuantCodec
{
    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.IQ4_XS;

    /// <inheritdoc/>
    public override void QuantizeRow(ReadOnlySpan<float> src, Span<byte> dst, ReadOnlySpan<float> imatrix)
    {
        int n = src.Length;
        if (n % 256 != 0) throw new ArgumentException($"Row length {n} is not a multiple of 256.", nameof(src));
        if (dst.Length < n / 256 * 136) throw new ArgumentException("Destination too small.", nameof(dst));
        if (!imatrix.IsEmpty && imatrix.Length < n) throw new ArgumentException("Importance matrix shorter than the row.", nameof(imatrix));
        var level = SimdPolicy.Current;
        float* w = stackalloc float[32];
        float* scales = stackalloc float[8];
        fixed (float* px = src) fixed (byte* py = dst) fixed (float* pw = imatrix)
        {
            float* qw = imatrix.IsEmpty ? null : pw;
            for (int ibl = 0; ibl < n / 256; ibl++)
            {
                float* xbl = px + 256 * ibl; byte* y = py + 136 * ibl;
                float sigma2 = qw != null ? Iq4NlCodec.Iq4Sigma2(xbl, 256, 0.0078125f) : 0f;
                float amaxS = 0, maxS = 0;
                for (int ib = 0; ib < 8; ib++)
                {
                    float* x = xbl + 32 * ib;
                    if (qw != null) Iq4NlCodec.Iq4Weights(x, qw + 256 * ibl + 32 * ib, sigma2, w);
                    else for (int j = 0; j < 32; j++) w[j] = x[j] * x[j];
                    float s = Iq4Kernels.Search(x, w, level);
                    scales[ib] = s;
                    if (MathF.Abs(s) > amaxS) { amaxS = MathF.Abs(s); maxS = s; }
                }
                float d = (-maxS) / 32f;
                StoreHalf(y, d);
                float id = d != 0 ? 1f / d : 0f;
                ushort scalesH = 0;
                byte* scalesL = y + 4;
                for (int ib = 0; ib < 8; ib++)
                {
                    int l = Clamp(NearestInt(id * scales[ib]), -32, 31);
                    float dl = d * l;
                    float idl = dl != 0 ? 1f / dl : 0f;
                    Iq4Kernels.Levels32(xbl + 32 * ib, idl, y + 8 + 16 * ib, level);
                    int u = l + 32;
                    if (ib % 2 == 0) scalesL[ib / 2] = (byte)(u & 15);
                    else scalesL[ib / 2] |= (byte)((u & 15) << 4);
                    scalesH |= (ushort)((u >> 4) << (2 * ib));
                }
                Unsafe.WriteUnaligned(y + 2, scalesH);
            }
        }
    }

    /// <inheritdoc/>
    public override void DequantizeRow(ReadOnlySpan<byte> src, Span<float> dst)
    {
        int n = dst.Length;
        if (n % 256 != 0) throw new ArgumentException($"Row length {n} is not a multiple of 256.", nameof(dst));
        if (src.Length < n / 256 * 136) throw new ArgumentException("Source too small.", nameof(src));
        var level = SimdPolicy.Current;
        bool simd = level != SimdLevel.Scalar, v512 = level == SimdLevel.Avx512;
        var T = Iq4nlValues;
        fixed (byte* px = src) fixed (float* py = dst)
        {
            byte* x = px; float* y = py;
            var table = BaselineSimd.Iq4nlTable;
            for (int i = 0; i < n / 256; i++, x += 136)
            {
                float d = LoadHalf(x);
                int scalesH = Unsafe.ReadUnaligned<ushort>(x + 2);
                byte* qs = x + 8;
                for (int ib = 0; ib < 8; ib++, y += 32, qs += 16)
                {
                    int ls = ((x[4 + ib / 2] >> (4 * (ib % 2))) & 0xF) | (((scalesH >> (2 * ib)) & 3) << 4);
                    float dl = d * (ls - 32);
                    if (simd)
                    {
                        var q = BaselineSimd.Load16(qs);
                        BaselineSimd.Emit16(BaselineSimd.Lookup16(table, BaselineSimd.LowNibbles(q)), dl, BaselineSimd.NegZero, y, v512);
                        BaselineSimd.Emit16(BaselineSimd.Lookup16(table, BaselineSimd.HighNibbles(q)), dl, BaselineSimd.NegZero, y + 16, v512);
                    }
                    else
                    {
                        for (int j = 0; j < 16; j++)
                        {
                            y[j] = dl * T[qs[j] & 0xF];
                            y[j + 16] = dl * T[qs[j] >> 4];
                        }
                    }
                }
            }
        }
    }
}
