using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using IQuant.Core.Types;
using static IQuant.Core.Quants.IqkCommon;

namespace IQuant.Core.Quants;

/// <summary>
/// IQ3_K (spec §3.5, §4.4): 110 bytes per 256 weights: fp16 d, u16 extra, u16 scale signs, 8 bytes of 4-bit scale
/// magnitudes, 64 bytes low index bits, 32 bytes high index bits. Scale search B6 (ntry 3, step 2, guarded) + refit.
/// </summary>
public sealed unsafe class Iq3KCodec : QuantCodec
{
    private const int BlockBytes = 110;

    /// <inheritdoc />
    public override GgmlType Type => GgmlType.IQ3_K;

    /// <inheritdoc />
    public override void QuantizeRow(ReadOnlySpan<float> src, Span<byte> dst, ReadOnlySpan<float> imatrix)
    {
        var level = SimdPolicy.Current;
        var qw = PrepareRowWeights(src, imatrix, 16);
        int nb = src.Length / QK;
        for (int ibl = 0; ibl < nb; ibl++)
            QuantizeBlock(src.Slice(ibl * QK, QK), qw.IsEmpty ? default : qw.Slice(ibl * QK, QK),
                dst.Slice(ibl * BlockBytes, BlockBytes), level);
    }

    private static void QuantizeBlock(ReadOnlySpan<float> x, ReadOnlySpan<float> qw, Span<byte> y, SimdLevel level)
    {
        y.Clear();
        var g = Iq3;
        float sigma2 = 1.5f * SumSquares(x) / QK;
        Span<float> scales = stackalloc float[16];
        Span<float> w = stackalloc float[16];
        Span<int> idx = stackalloc int[16];
        ushort extra = 0;
        float maxAbs = 0;
        for (int ib = 0; ib < 16; ib++)
        {
            var xb = x.Slice(16 * ib, 16);
            Weights(xb, qw.IsEmpty ? default : qw.Slice(16 * ib, 16), sigma2, true, w, level);
            float amax = BlockMax(xb, out float max);
            if (amax < 1e-16f) { scales[ib] = 0; continue; }
            float d = IqkScan.ScanScale(g, xb, w, max, 3, 2, true, level, out bool shifted);
            if (d == 0) { scales[ib] = 0; continue; }
            d = IqkScan.Refine(g, shifted, xb, w, d, level);
            scales[ib] = d;
            if (shifted) extra |= (ushort)(1 << ib);
            maxAbs = CMax(maxAbs, MathF.Abs(d));
        }
        if (maxAbs == 0) return;
        float dsb = maxAbs / 31;
        U16(y, 2, extra);
        float id = 1 / dsb;
        float sumqx = 0, sumq2 = 0;
        ushort signs = 0;
        var qs = y.Slice(14, 64);
        var qh = y.Slice(78, 32);
        for (int ib = 0; ib < 16; ib++)
        {
            float s = scales[ib];
            int m = Math.Clamp(NearestInt(0.5f * (id * MathF.Abs(s) - 1)), 0, 15);
            y[6 + ib / 2] |= (byte)(m << (4 * (ib % 2)));
            if (s < 0) signs |= (ushort)(1 << ib);
            int ls = (2 * m + 1) * (s < 0 ? -1 : 1);
            float dl = dsb * ls;
            if (dl == 0) continue;
            bool sh = (extra & (1 << ib)) != 0;
            var t = g.Table(sh);
            var xb = x.Slice(16 * ib, 16);
            Weights(xb, qw.IsEmpty ? default : qw.Slice(16 * ib, 16), sigma2, true, w, level);
            float idl = 1 / dl;
            IqkSimd.BestIndices(level, g, sh, idl, xb, idx);
            int ib32 = ib / 2;
            int off = 16 * (ib % 2);
            int qsOff = 32 * (ib32 / 4) + off;
            int shl = 2 * (ib32 % 4);
            for (int j = 0; j < 16; j++)
            {
                int k = idx[j];
                qs[qsOff + j] |= (byte)((k & 3) << shl);
                qh[off + j] |= (byte)((k >> 2) << ib32);
                float q = (int)t[k] * ls;
                sumqx += w[j] * q * xb[j];
                sumq2 += w[j] * q * q;
            }
        }
        U16(y, 4, signs);
        U16(y, 0, Fp16.FromFloat(1.01f * (sumq2 > 0 ? sumqx / sumq2 : dsb)));
    }

    /// <inheritdoc />
    public override void DequantizeRow(ReadOnlySpan<byte> src, Span<float> dst)
    {
        int nb = dst.Length / QK;
        var level = SimdPolicy.Current;
        if (IqkDequant.Use512(level) || IqkDequant.Use256(level))
        {
            bool wide = IqkDequant.Use512(level);
            fixed (byte* ps = src) fixed (float* pd = dst)
            {
                for (int i = 0; i < nb; i++)
                {
                    if (wide) Dequant512(ps + i * BlockBytes, pd + i * QK);
                    else Dequant256(ps + i * BlockBytes, pd + i * QK);
                }
            }
            return;
        }
        for (int i = 0; i < nb; i++)
            DequantizeBlock(src.Slice(i * BlockBytes, BlockBytes), dst.Slice(i * QK, QK));
    }

    private static void DequantizeBlock(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Fp16.ToFloat(U16(b, 0));
        int extra = U16(b, 2);
        int sh = U16(b, 4);
        var vals = Iq3nlValues;
        for (int ib = 0; ib < 16; ib++)
        {
            int nib = (b[6 + ib / 2] >> (4 * (ib % 2))) & 0xf;
            float dl = d * ((2 * nib + 1) * (1 - 2 * ((sh >> ib) & 1)));
            int o = ((extra >> ib) & 1) * 8;
            int ib32 = ib / 2, off = 16 * (ib % 2);
            int qsOff = 14 + 32 * (ib32 / 4) + off, qhOff = 78 + off, shl = 2 * (ib32 % 4);
            var yy = y.Slice(16 * ib, 16);
            for (int j = 0; j < 16; j++)
            {
                int k = ((b[qsOff + j] >> shl) & 3) | (((b[qhOff + j] >> ib32) & 1) << 2);
                yy[j] = dl * vals[o + k];
            }
        }
    }
    private static readonly float* s_tab = IqkDequant.PinnedTable(Iq3nlValues, 16);

    private static void Dequant512(byte* b, float* y)
    {
        float d = IqkDequant.F16(b);
        int extra = IqkDequant.U16(b + 2);
        int sh = IqkDequant.U16(b + 4);
        var tab = Vector512.Load(s_tab);
        for (int ib = 0; ib < 16; ib++)
        {
            int ib32 = ib >> 1, off = 16 * (ib & 1);
            int nib = (b[6 + ib32] >> (4 * (ib & 1))) & 0xf;
            float dl = d * ((2 * nib + 1) * (1 - 2 * ((sh >> ib) & 1)));
            var lo = Vector512.ShiftRightLogical(IqkDequant.Bytes16(b + 14 + 32 * (ib32 >> 2) + off), 2 * (ib32 & 3)) & Vector512.Create(3);
            var hi = Vector512.ShiftRightLogical(IqkDequant.Bytes16(b + 78 + off), ib32) & Vector512<int>.One;
            var idx = lo | Vector512.ShiftLeft(hi, 2) | Vector512.Create(((extra >> ib) & 1) << 3);
            (Vector512.Create(dl) * Avx512F.PermuteVar16x32(tab, idx)).Store(y + 16 * ib);
        }
    }

    private static void Dequant256(byte* b, float* y)
    {
        float d = IqkDequant.F16(b);
        int extra = IqkDequant.U16(b + 2);
        int sh = IqkDequant.U16(b + 4);
        for (int ib = 0; ib < 16; ib++)
        {
            int ib32 = ib >> 1, off = 16 * (ib & 1);
            int nib = (b[6 + ib32] >> (4 * (ib & 1))) & 0xf;
            var dl = Vector256.Create(d * ((2 * nib + 1) * (1 - 2 * ((sh >> ib) & 1))));
            var tab = Vector256.Load(s_tab + 8 * ((extra >> ib) & 1));
            for (int k = 0; k < 16; k += 8)
            {
                var lo = Vector256.ShiftRightLogical(IqkDequant.Bytes8(b + 14 + 32 * (ib32 >> 2) + off + k), 2 * (ib32 & 3)) & Vector256.Create(3);
                var hi = Vector256.ShiftRightLogical(IqkDequant.Bytes8(b + 78 + off + k), ib32) & Vector256<int>.One;
                (dl * Avx2.PermuteVar8x32(tab, lo | Vector256.ShiftLeft(hi, 2))).Store(y + 16 * ib + k);
            }
        }
    }

}
