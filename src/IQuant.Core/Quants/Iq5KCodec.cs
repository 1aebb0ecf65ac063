using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using IQuant.Core.Types;
using static IQuant.Core.Quants.IqkCommon;

namespace IQuant.Core.Quants;

/// <summary>
/// IQ5_K (spec §3.9, §4.9): 176 bytes per 256 weights: fp16 d, u16 extra, u32 high scale bits, 8 bytes low scale
/// nibbles, 128 bytes low 4 index bits, 32 bytes 5th index bit. Scale search B6 (ntry 5, step 1) + refit.
/// </summary>
public sealed unsafe class Iq5KCodec : QuantCodec
{
    private const int BlockBytes = 176;

    /// <inheritdoc />
    public override GgmlType Type => GgmlType.IQ5_K;

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
        var g = Iq5;
        float sigma2 = 2 * SumSquares(x) / QK;
        Span<float> scales = stackalloc float[16];
        Span<float> w = stackalloc float[16];
        Span<int> idx = stackalloc int[16];
        ushort extra = 0;
        float maxAbs = 0, maxScale = 0;
        for (int ib = 0; ib < 16; ib++)
        {
            var xb = x.Slice(16 * ib, 16);
            Weights(xb, qw.IsEmpty ? default : qw.Slice(16 * ib, 16), sigma2, true, w, level);
            float amax = BlockMax(xb, out float max);
            if (amax < 1e-16f) { scales[ib] = 0; continue; }
            float d = IqkScan.ScanScale(g, xb, w, max, 5, 1, false, level, out bool shifted);
            if (d != 0) d = IqkScan.Refine(g, shifted, xb, w, d, level);
            scales[ib] = d;
            if (shifted) extra |= (ushort)(1 << ib);
            float ad = MathF.Abs(d);
            if (ad > maxAbs) { maxAbs = ad; maxScale = d; }
        }
        if (maxAbs == 0) return;
        float dsb = -maxScale / 32;
        U16(y, 0, Fp16.FromFloat(dsb));
        U16(y, 2, extra);
        float id = 1 / dsb;
        float sumqx = 0, sumq2 = 0;
        uint sh = 0;
        var qs = y.Slice(16, 128);
        var qh = y.Slice(144, 32);
        for (int ib = 0; ib < 16; ib++)
        {
            int ls = Math.Clamp(NearestInt(id * scales[ib]), -32, 31);
            int u = ls + 32;
            y[8 + ib / 2] |= (byte)((u & 0xf) << (4 * (ib % 2)));
            sh |= (uint)(u >> 4) << (2 * ib);
            float dl = dsb * ls;
            if (dl == 0) continue;
            bool shf = (extra & (1 << ib)) != 0;
            var t = g.Table(shf);
            var xb = x.Slice(16 * ib, 16);
            Weights(xb, qw.IsEmpty ? default : qw.Slice(16 * ib, 16), sigma2, true, w, level);
            IqkSimd.BestIndices(level, g, shf, 1 / dl, xb, idx);
            int ib32 = ib / 2, off = 16 * (ib % 2);
            int qsOff = 32 * (ib32 / 2) + off, shl = 4 * (ib32 % 2);
            for (int j = 0; j < 16; j++)
            {
                int k = idx[j];
                qs[qsOff + j] |= (byte)((k & 0xf) << shl);
                qh[off + j] |= (byte)((k >> 4) << ib32);
                float q = (int)t[k] * ls;
                sumqx += w[j] * q * xb[j];
                sumq2 += w[j] * q * q;
            }
        }
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(y.Slice(4), sh);
        if (sumq2 > 0) U16(y, 0, Fp16.FromFloat(sumqx / sumq2));
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
        uint h = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(b.Slice(4));
        var vals = Iq5nlValues;
        for (int ib = 0; ib < 16; ib++)
        {
            int ls = (((b[8 + ib / 2] >> (4 * (ib % 2))) & 0xf) | (int)(((h >> (2 * ib)) & 3) << 4)) - 32;
            float dl = d * ls;
            int o = ((extra >> ib) & 1) * 32;
            int ib32 = ib / 2, off = 16 * (ib % 2);
            int qo = 16 + 32 * (ib32 / 2) + off, shl = 4 * (ib32 % 2), ho = 144 + off;
            var yy = y.Slice(16 * ib, 16);
            for (int j = 0; j < 16; j++)
            {
                int k = ((b[qo + j] >> shl) & 0xf) | (((b[ho + j] >> ib32) & 1) << 4);
                yy[j] = dl * vals[o + k];
            }
        }
    }
    private static readonly float* s_tab = IqkDequant.PinnedTable(Iq5nlValues, 64);

    private static void Dequant512(byte* b, float* y)
    {
        float d = IqkDequant.F16(b);
        int extra = IqkDequant.U16(b + 2);
        uint h = System.Runtime.CompilerServices.Unsafe.ReadUnaligned<uint>(b + 4);
        for (int ib = 0; ib < 16; ib++)
        {
            int ls = (((b[8 + ib / 2] >> (4 * (ib % 2))) & 0xf) | (int)(((h >> (2 * ib)) & 3) << 4)) - 32;
            float dl = d * ls;
            float* t = s_tab + 32 * ((extra >> ib) & 1);
            int ib32 = ib >> 1, off = 16 * (ib & 1);
            var lo = Vector512.ShiftRightLogical(IqkDequant.Bytes16(b + 16 + 32 * (ib32 >> 1) + off), 4 * (ib32 & 1)) & Vector512.Create(15);
            var hi = Vector512.ShiftRightLogical(IqkDequant.Bytes16(b + 144 + off), ib32) & Vector512<int>.One;
            var v = Avx512F.PermuteVar16x32x2(Vector512.Load(t), lo | Vector512.ShiftLeft(hi, 4), Vector512.Load(t + 16));
            (Vector512.Create(dl) * v).Store(y + 16 * ib);
        }
    }

    private static void Dequant256(byte* b, float* y)
    {
        float d = IqkDequant.F16(b);
        int extra = IqkDequant.U16(b + 2);
        uint h = System.Runtime.CompilerServices.Unsafe.ReadUnaligned<uint>(b + 4);
        for (int ib = 0; ib < 16; ib++)
        {
            int ls = (((b[8 + ib / 2] >> (4 * (ib % 2))) & 0xf) | (int)(((h >> (2 * ib)) & 3) << 4)) - 32;
            var dl = Vector256.Create(d * ls);
            float* t = s_tab + 32 * ((extra >> ib) & 1);
            int ib32 = ib >> 1, off = 16 * (ib & 1);
            for (int k = 0; k < 16; k += 8)
            {
                var lo = Vector256.ShiftRightLogical(IqkDequant.Bytes8(b + 16 + 32 * (ib32 >> 1) + off + k), 4 * (ib32 & 1)) & Vector256.Create(15);
                var hi = Vector256.ShiftRightLogical(IqkDequant.Bytes8(b + 144 + off + k), ib32) & Vector256<int>.One;
                (dl * Avx2.GatherVector256(t, lo | Vector256.ShiftLeft(hi, 4), 4)).Store(y + 16 * ib + k);
            }
        }
    }

}
