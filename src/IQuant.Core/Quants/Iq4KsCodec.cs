using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using IQuant.Core.Types;

namespace IQuant.Core.Quants;

/// <summary>
/// IQ4_KS (spec §3.8, §4.7): f32 row scale, then per 256 values 8 scale bytes (bit 0 = shifted table, bits 1..7 =
/// odd scale) and 128 bytes of 4-bit iq4k indices.
/// </summary>
public sealed class Iq4KsCodec : QuantCodec
{
    private const int BlockBytes = 136;

    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.IQ4_KS;

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
        var tab = KsTable.Iq4;
        KsSearch.ScanRow(tab, x, w, s.Max, s.Amax, 7, false, s.Scales, s.Shifted, level);

        dst.Clear();
        float amax = 0;
        for (int i = 0; i < nsub; i++)
        {
            float a = MathF.Abs(s.Scales[i]);
            if (a > amax) amax = a;
        }
        float dRow = amax / 127;
        KsMath.WriteF32(dst, dRow);
        if (dRow == 0)
        {
            for (int i = 0; i < nsub; i++)
                if (s.Shifted[i]) dst[4 + BlockBytes * (i >> 3) + (i & 7)] = 1;
            return;
        }
        float id = 1 / dRow;
        float sumqx = 0, sumq2 = 0;
        var blocks = dst[4..];
        byte* idx = stackalloc byte[32];
        float* px = stackalloc float[32];
        float* pq = stackalloc float[32];
        for (int i = 0; i < nsub; i++)
        {
            var blk = blocks.Slice(BlockBytes * (i >> 3), BlockBytes);
            int ib = i & 7;
            bool sh = s.Shifted[i];
            int u = Math.Clamp(KsMath.NearestInt(0.5f * ((id * s.Scales[i]) + 127f)), 0, 127) << 1;
            blk[ib] = (byte)(u | (sh ? 1 : 0));
            int l = u - 127;
            float dl = dRow * l;
            float idl = 1 / dl;
            var qs = blk.Slice(8 + 16 * ib, 16);
            fixed (float* px0 = x, pw0 = w)
                KsPass2.Elements(tab, sh, px0 + 32 * i, pw0 + 32 * i, idl, l, idx, px, pq, level);
            for (int j = 0; j < 16; j++)
            {
                qs[j] = (byte)(idx[j] | (idx[j + 16] << 4));
                sumqx = sumqx + (px[j] + px[j + 16]);
                sumq2 = sumq2 + (pq[j] + pq[j + 16]);
            }
        }
        if (sumq2 > 0) KsMath.WriteF32(dst, sumqx / sumq2);
    }

    /// <inheritdoc/>
    public override void DequantizeRow(ReadOnlySpan<byte> src, Span<float> y)
    {
        if (SimdPolicy.Current >= SimdLevel.Avx2) { DequantizeV(src, y); return; }
        float d = KsMath.ReadF32(src);
        var tab = KsTable.Iq4;
        int nsub = y.Length / 32;
        Span<float> lut = stackalloc float[16];
        for (int i = 0; i < nsub; i++)
        {
            var blk = src.Slice(4 + BlockBytes * (i >> 3), BlockBytes);
            int ib = i & 7;
            int b = blk[ib];
            float dl = d * ((b & 254) - 127);
            var T = tab.Values((b & 1) != 0);
            for (int k = 0; k < 16; k++) lut[k] = dl * T[k];
            var qs = blk.Slice(8 + 16 * ib, 16);
            var ys = y.Slice(32 * i, 32);
            for (int j = 0; j < 16; j++)
            {
                ys[j] = lut[qs[j] & 15];
                ys[j + 16] = lut[qs[j] >> 4];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DequantizeV(ReadOnlySpan<byte> src, Span<float> y)
    {
        float d = KsMath.ReadF32(src);
        var vt = KsVTables.Iq4;
        int nsub = y.Length / 32;
        var m15 = Vector256.Create(15);
        fixed (byte* ps = src) fixed (float* py = y)
        {
            for (int i = 0; i < nsub; i++)
            {
                byte* blk = ps + 4 + BlockBytes * (i >> 3);
                int ib = i & 7;
                int b = blk[ib];
                var dl = Vector256.Create(d * ((b & 254) - 127));
                ref readonly var t = ref ((b & 1) != 0 ? ref vt.S256 : ref vt.N256);
                var l0 = dl * t.V0; var l1 = dl * t.V1;
                byte* qs = blk + 8 + 16 * ib;
                float* ys = py + 32 * i;
                var q0 = Avx2.ConvertToVector256Int32(qs);
                var q1 = Avx2.ConvertToVector256Int32(qs + 8);
                KsV.Lookup16(l0, l1, q0 & m15).Store(ys);
                KsV.Lookup16(l0, l1, q1 & m15).Store(ys + 8);
                KsV.Lookup16(l0, l1, q0 >>> 4).Store(ys + 16);
                KsV.Lookup16(l0, l1, q1 >>> 4).Store(ys + 24);
            }
        }
    }
}
