using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using IQuant.Core.Types;

namespace IQuant.Core.Quants;

/// <summary>
/// IQ5_KS (spec §3.10, §4.10): f32 row scale, then per 256 values 8 scale bytes (as IQ4_KS), 128 bytes of low
/// nibbles and 32 bytes of 5th index bits.
/// </summary>
public sealed class Iq5KsCodec : QuantCodec
{
    private const int BlockBytes = 168;

    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.IQ5_KS;

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
        var tab = KsTable.Iq5;
        KsSearch.ScanRow(tab, x, w, s.Max, s.Amax, 5, false, s.Scales, s.Shifted, level);

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
            var qs = blk.Slice(8 + 32 * (ib >> 1), 32);
            var qh = blk.Slice(136, 32);
            int nsh = 4 * (ib & 1);
            fixed (float* px0 = x, pw0 = w)
                KsPass2.Elements(tab, sh, px0 + 32 * i, pw0 + 32 * i, idl, l, idx, px, pq, level);
            for (int j = 0; j < 32; j++)
            {
                int k = idx[j];
                qs[j] |= (byte)((k & 15) << nsh);
                qh[j] |= (byte)((k >> 4) << ib);
                sumqx = sumqx + px[j];
                sumq2 = sumq2 + pq[j];
            }
        }
        if (sumq2 > 0) KsMath.WriteF32(dst, sumqx / sumq2);
    }

    /// <inheritdoc/>
    public override void DequantizeRow(ReadOnlySpan<byte> src, Span<float> y)
    {
        if (SimdPolicy.Current >= SimdLevel.Avx2) { DequantizeV(src, y); return; }
        float d = KsMath.ReadF32(src);
        var tab = KsTable.Iq5;
        int nsub = y.Length / 32;
        Span<float> lut = stackalloc float[32];
        for (int i = 0; i < nsub; i++)
        {
            var blk = src.Slice(4 + BlockBytes * (i >> 3), BlockBytes);
            int ib = i & 7;
            int b = blk[ib];
            float dl = d * ((b & 254) - 127);
            var T = tab.Values((b & 1) != 0);
            for (int k = 0; k < 32; k++) lut[k] = dl * T[k];
            var qs = blk.Slice(8 + 32 * (ib >> 1), 32);
            var qh = blk.Slice(136, 32);
            int nsh = 4 * (ib & 1);
            var ys = y.Slice(32 * i, 32);
            for (int j = 0; j < 32; j++)
                ys[j] = lut[((qs[j] >> nsh) & 15) | (((qh[j] >> ib) & 1) << 4)];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DequantizeV(ReadOnlySpan<byte> src, Span<float> y)
    {
        float d = KsMath.ReadF32(src);
        var vt = KsVTables.Iq5;
        int nsub = y.Length / 32;
        var m15 = Vector256.Create(15);
        var one = Vector256.Create(1);
        fixed (byte* ps = src) fixed (float* py = y)
        {
            for (int i = 0; i < nsub; i++)
            {
                byte* blk = ps + 4 + BlockBytes * (i >> 3);
                int ib = i & 7;
                int b = blk[ib];
                var dl = Vector256.Create(d * ((b & 254) - 127));
                ref readonly var t = ref ((b & 1) != 0 ? ref vt.S256 : ref vt.N256);
                var lut = new KsVTab256 { V0 = dl * t.V0, V1 = dl * t.V1, V2 = dl * t.V2, V3 = dl * t.V3 };
                byte* qs = blk + 8 + 32 * (ib >> 1);
                byte* qh = blk + 136;
                int nsh = 4 * (ib & 1);
                float* ys = py + 32 * i;
                for (int h = 0; h < 32; h += 8)
                {
                    var lo = (Avx2.ConvertToVector256Int32(qs + h) >>> nsh) & m15;
                    var hi = (Avx2.ConvertToVector256Int32(qh + h) >>> ib) & one;
                    KsFam5.V(lo | (hi << 4), in lut).Store(ys + h);
                }
            }
        }
    }
}
