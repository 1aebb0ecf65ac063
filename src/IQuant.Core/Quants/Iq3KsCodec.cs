using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using IQuant.Core.Types;

namespace IQuant.Core.Quants;

/// <summary>
/// IQ3_KS (spec §3.6, §4.5): fp16 row scale, then per 256 values: extra (u16: bits 0..7 scale bit 4, bits 8..15
/// shift flags), 4 bytes of scale nibbles, 64 bytes of low index bits, 32 bytes of high index bits.
/// </summary>
public sealed class Iq3KsCodec : QuantCodec
{
    private const int BlockBytes = 102;

    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.IQ3_KS;

    /// <inheritdoc/>
    public override unsafe void QuantizeRow(ReadOnlySpan<float> x, Span<byte> dst, ReadOnlySpan<float> imatrix)
    {
        int n = x.Length, nsub = n / 32;
        var level = SimdPolicy.Current;
        var s = KsScratch.Get(n);
        ReadOnlySpan<float> qw = default;
        if (!imatrix.IsEmpty)
        {
            KsBlocks.PrepareImatrix(x, imatrix, s.Qw);
            qw = s.Qw.AsSpan(0, n);
        }
        var w = s.W.AsSpan(0, n);
        KsBlocks.PrepareRow(x, qw, KsSigma.Two, KsNoImatrixWeight.Square, w, s.Max, s.Amax, default);
        var tab = KsTable.Iq3;
        KsSearch.ScanRow(tab, x, w, s.Max, s.Amax, 5, true, s.Scales, s.Shifted, level);

        dst.Clear();
        var blocks = dst[2..];
        float amax = 0, maxScale = 0;
        for (int i = 0; i < nsub; i++)
        {
            float a = MathF.Abs(s.Scales[i]);
            if (a > amax) { amax = a; maxScale = s.Scales[i]; }
            if (s.Shifted[i]) blocks[BlockBytes * (i >> 3) + 1] |= (byte)(1 << (i & 7));
        }
        float dRow = -maxScale / 16;
        KsMath.WriteU16(dst, Fp16.FromFloat(dRow));
        if (dRow == 0) return;
        float id = 1 / dRow;
        float sumqx = 0, sumq2 = 0;
        byte* idx = stackalloc byte[32];
        float* px = stackalloc float[32];
        float* pq = stackalloc float[32];
        for (int i = 0; i < nsub; i++)
        {
            var blk = blocks.Slice(BlockBytes * (i >> 3), BlockBytes);
            int ib = i & 7;
            int l = Math.Clamp(KsMath.NearestInt(id * s.Scales[i]), -16, 15);
            int u = l + 16;
            blk[2 + (ib & 3)] |= (byte)((u & 15) << (4 * (ib >> 2)));
            blk[0] |= (byte)((u >> 4) << ib);
            float dl = dRow * l;
            float idl = dl != 0 ? 1 / dl : 0;
            var qs = blk.Slice(6 + 32 * (ib >> 2), 32);
            var qh = blk.Slice(70, 32);
            int sh = 2 * (ib & 3);
            fixed (float* px0 = x, pw0 = w)
                KsPass2.Elements(tab, s.Shifted[i], px0 + 32 * i, pw0 + 32 * i, idl, l, idx, px, pq, level);
            for (int j = 0; j < 32; j++)
            {
                int k = idx[j];
                qs[j] |= (byte)((k & 3) << sh);
                qh[j] |= (byte)((k >> 2) << ib);
                sumqx = sumqx + px[j];
                sumq2 = sumq2 + pq[j];
            }
        }
        if (sumq2 > 0) KsMath.WriteU16(dst, Fp16.FromFloat(sumqx / sumq2));
    }

    /// <inheritdoc/>
    public override void DequantizeRow(ReadOnlySpan<byte> src, Span<float> y)
    {
        if (SimdPolicy.Current >= SimdLevel.Avx2) { DequantizeV(src, y); return; }
        float d = Fp16.ToFloat(KsMath.ReadU16(src));
        var tab = KsTable.Iq3;
        int nsub = y.Length / 32;
        Span<float> lut = stackalloc float[8];
        for (int i = 0; i < nsub; i++)
        {
            var blk = src.Slice(2 + BlockBytes * (i >> 3), BlockBytes);
            int ib = i & 7;
            int extra = KsMath.ReadU16(blk);
            int ls = (((blk[2 + (ib & 3)] >> (4 * (ib >> 2))) & 15) | (((extra >> ib) & 1) << 4)) - 16;
            float dl = d * ls;
            var T = tab.Values(((extra >> (8 + ib)) & 1) != 0);
            for (int k = 0; k < 8; k++) lut[k] = dl * T[k];
            var qs = blk.Slice(6 + 32 * (ib >> 2), 32);
            var qh = blk.Slice(70, 32);
            int sh = 2 * (ib & 3);
            var ys = y.Slice(32 * i, 32);
            for (int j = 0; j < 32; j++)
                ys[j] = lut[((qs[j] >> sh) & 3) | (((qh[j] >> ib) & 1) << 2)];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DequantizeV(ReadOnlySpan<byte> src, Span<float> y)
    {
        float d = Fp16.ToFloat(KsMath.ReadU16(src));
        var vt = KsVTables.Iq3;
        int nsub = y.Length / 32;
        var m3 = Vector256.Create(3);
        var one = Vector256.Create(1);
        fixed (byte* ps = src) fixed (float* py = y)
        {
            for (int i = 0; i < nsub; i++)
            {
                byte* blk = ps + 2 + BlockBytes * (i >> 3);
                int ib = i & 7;
                int extra = blk[0] | (blk[1] << 8);
                int ls = (((blk[2 + (ib & 3)] >> (4 * (ib >> 2))) & 15) | (((extra >> ib) & 1) << 4)) - 16;
                var dl = Vector256.Create(d * ls);
                var lut = dl * (((extra >> (8 + ib)) & 1) != 0 ? vt.S256.V0 : vt.N256.V0);
                byte* qs = blk + 6 + 32 * (ib >> 2);
                byte* qh = blk + 70;
                int sh = 2 * (ib & 3);
                float* ys = py + 32 * i;
                for (int h = 0; h < 32; h += 8)
                {
                    var lo = (Avx2.ConvertToVector256Int32(qs + h) >>> sh) & m3;
                    var hi = (Avx2.ConvertToVector256Int32(qh + h) >>> ib) & one;
                    Avx2.PermuteVar8x32(lut, lo | (hi << 2)).Store(ys + h);
                }
            }
        }
    }
}
