using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using IQuant.Core.Types;
using static IQuant.Core.Quants.IqkCommon;

namespace IQuant.Core.Quants;

/// <summary>
/// IQ4_K (spec §3.7, §4.6): 144 bytes per 256 weights: fp16 d, u16 extra, u32 high scale bits, 8 bytes low scale
/// nibbles, 128 bytes of 4-bit indices. Scale search B6 (ntry 7, step 1, unguarded).
/// </summary>
public sealed unsafe class Iq4KCodec : QuantCodec
{
    private const int BlockBytes = 144;

    /// <inheritdoc />
    public override GgmlType Type => GgmlType.IQ4_K;

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
        var g = Iq4;
        float sigma2 = SumSquares(x) * (2f / QK);
        Span<float> scales = stackalloc float[16];
        Span<float> w = stackalloc float[16];
        Span<int> idx = stackalloc int[16];
        Span<byte> L = stackalloc byte[QK];
        ushort extra = 0;
        float amaxScale = 0, maxScale = 0;
        for (int ib = 0; ib < 16; ib++)
        {
            var xb = x.Slice(16 * ib, 16);
            Weights(xb, qw.IsEmpty ? default : qw.Slice(16 * ib, 16), sigma2, false, w, level);
            float amax = BlockMax(xb, out float max);
            if (amax < 1e-16f) { scales[ib] = 0; continue; }
            float d = IqkScan.ScanScale(g, xb, w, max, 7, 1, false, level, out bool shifted);
            if (shifted) extra |= (ushort)(1 << ib);
            scales[ib] = d;
            float ad = MathF.Abs(d);
            if (ad > amaxScale) { amaxScale = ad; maxScale = d; }
        }
        float dsb = -maxScale / 32;
        U16(y, 0, Fp16.FromFloat(dsb));
        U16(y, 2, extra);
        float id = dsb != 0 ? 1 / dsb : 0f;
        float sumqx = 0, sumq2 = 0;
        uint sh = 0;
        for (int ib = 0; ib < 16; ib++)
        {
            bool shf = (extra & (1 << ib)) != 0;
            var t = g.Table(shf);
            int l = Math.Clamp(NearestInt(id * scales[ib]), -32, 31);
            float dl = dsb * l;
            float idl = dl != 0 ? 1 / dl : 0f;
            var xb = x.Slice(16 * ib, 16);
            Weights(xb, qw.IsEmpty ? default : qw.Slice(16 * ib, 16), sigma2, false, w, level);
            IqkSimd.BestIndices(level, g, shf, idl, xb, idx);
            for (int j = 0; j < 16; j++)
            {
                int k = idx[j];
                L[16 * ib + j] = (byte)k;
                float q = (int)t[k] * l;
                sumqx += w[j] * q * xb[j];
                sumq2 += w[j] * q * q;
            }
            int u = l + 32;
            y[8 + ib / 2] |= (byte)((u & 0xf) << (4 * (ib % 2)));
            sh |= (uint)(u >> 4) << (2 * ib);
        }
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(y.Slice(4), sh);
        if (sumq2 > 0) U16(y, 0, Fp16.FromFloat(sumqx / sumq2));
        var qs = y.Slice(16, 128);
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 16; j++)
                qs[16 * i + j] = (byte)(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
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
        var vals = Iq4kValues;
        for (int ib = 0; ib < 16; ib++)
        {
            int ls = (((b[8 + ib / 2] >> (4 * (ib % 2))) & 0xf) | (int)(((h >> (2 * ib)) & 3) << 4)) - 32;
            float dl = d * ls;
            int o = ((extra >> ib) & 1) * 16;
            int qo = 16 + 16 * (ib / 2), shift = 4 * (ib % 2);
            var yy = y.Slice(16 * ib, 16);
            for (int j = 0; j < 16; j++)
                yy[j] = dl * vals[o + ((b[qo + j] >> shift) & 0xf)];
        }
    }
    private static readonly float* s_tab = IqkDequant.PinnedTable(Iq4kValues, 32);

    private static void Dequant512(byte* b, float* y)
    {
        float d = IqkDequant.F16(b);
        int extra = IqkDequant.U16(b + 2);
        uint h = System.Runtime.CompilerServices.Unsafe.ReadUnaligned<uint>(b + 4);
        for (int ib = 0; ib < 16; ib++)
        {
            int ls = (((b[8 + ib / 2] >> (4 * (ib % 2))) & 0xf) | (int)(((h >> (2 * ib)) & 3) << 4)) - 32;
            float dl = d * ls;
            var tab = Vector512.Load(s_tab + 16 * ((extra >> ib) & 1));
            var idx = Vector512.ShiftRightLogical(IqkDequant.Bytes16(b + 16 + 16 * (ib / 2)), 4 * (ib % 2)) & Vector512.Create(15);
            (Vector512.Create(dl) * Avx512F.PermuteVar16x32(tab, idx)).Store(y + 16 * ib);
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
            float* t = s_tab + 16 * ((extra >> ib) & 1);
            var tlo = Vector256.Load(t); var thi = Vector256.Load(t + 8);
            for (int k = 0; k < 16; k += 8)
            {
                var idx = Vector256.ShiftRightLogical(IqkDequant.Bytes8(b + 16 + 16 * (ib / 2) + k), 4 * (ib % 2)) & Vector256.Create(15);
                var v = Vector256.ConditionalSelect(Vector256.Equals(idx & Vector256.Create(8), Vector256<int>.Zero).AsSingle(),
                    Avx2.PermuteVar8x32(tlo, idx), Avx2.PermuteVar8x32(thi, idx));
                (dl * v).Store(y + 16 * ib + k);
            }
        }
    }

}
