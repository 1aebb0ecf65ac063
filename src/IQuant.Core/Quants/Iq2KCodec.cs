using System.Runtime.CompilerServices;
using IQuant.Core.Types;
using static IQuant.Core.Quants.IqkCommon;

namespace IQuant.Core.Quants;

/// <summary>
/// IQ2_K (spec §3.3, §4.2): 76 bytes per 256 weights: fp16 d, u16 extra (shift flags), 8 bytes of 4-bit scales,
/// 64 bytes of 2-bit indices. The sub-block scale search is the exhaustive 4-level partition search B8.
/// </summary>
public sealed class Iq2KCodec : QuantCodec
{
    private const int BlockBytes = 76;

    /// <inheritdoc />
    public override GgmlType Type => GgmlType.IQ2_K;

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
        float t0 = Iq2nlValues[0], t1 = Iq2nlValues[1], t2 = Iq2nlValues[2], t3 = Iq2nlValues[3];
        float s0 = Iq2nlValues[4], s1 = Iq2nlValues[5], s2 = Iq2nlValues[6], s3 = Iq2nlValues[7];

        float sigma2 = 1.5f * SumSquares(x) / QK;
        Span<float> scales = stackalloc float[16];
        Span<float> sw = stackalloc float[16];
        Span<float> w = stackalloc float[16];
        var scratch = new Iq2KSearch.Scratch();
        ushort extra = 0;
        float maxAbs = 0;
        for (int ib = 0; ib < 16; ib++)
        {
            var xb = x.Slice(16 * ib, 16);
            Weights(xb, qw.IsEmpty ? default : qw.Slice(16 * ib, 16), sigma2, true, w);
            float s = 0, amax = 0;
            for (int j = 0; j < 16; j++)
            {
                s += w[j];
                amax = MathF.Max(amax, MathF.Abs(xb[j]));
            }
            sw[ib] = s;
            if (amax < 1e-16f) { scales[ib] = 0; continue; }
            float d = Iq2KSearch.Search(xb, w, ref scratch, level, out bool shifted);
            scales[ib] = d;
            if (shifted) extra |= (ushort)(1 << ib);
            maxAbs = MathF.Max(maxAbs, MathF.Abs(d));
        }
        if (maxAbs == 0) return;
        float dsb = MakeQxQuants(8, scales, sw);
        if (dsb == 0) return;
        U16(y, 2, extra);
        float id = 1 / dsb;
        float sumqx = 0, sumq2 = 0;
        var qs = y.Slice(12, 64);
        for (int ib = 0; ib < 16; ib++)
        {
            int ls = Math.Clamp(NearestInt(id * scales[ib]), -8, 7);
            y[4 + ib / 2] |= (byte)((ls + 8) << (4 * (ib % 2)));
            float dl = dsb * ls;
            if (dl == 0) continue;
            bool sh = (extra & (1 << ib)) != 0;
            float v0 = sh ? s0 : t0, v1 = sh ? s1 : t1, v2 = sh ? s2 : t2, v3 = sh ? s3 : t3;
            var xb = x.Slice(16 * ib, 16);
            Weights(xb, qw.IsEmpty ? default : qw.Slice(16 * ib, 16), sigma2, true, w);
            float idl = 1 / dl;
            int ib32 = ib / 2;
            int off = 32 * (ib32 / 4) + 16 * (ib % 2);
            int shift = 2 * (ib32 % 4);
            for (int j = 0; j < 16; j++)
            {
                int k = BestIndex2(v0, v1, v2, v3, idl * xb[j]);
                qs[off + j] |= (byte)(k << shift);
                float tv = k switch { 0 => v0, 1 => v1, 2 => v2, _ => v3 };
                float q = (int)tv * ls;
                sumqx += w[j] * q * xb[j];
                sumq2 += w[j] * q * q;
            }
        }
        U16(y, 0, Fp16.FromFloat(1.030f * (sumq2 > 0 ? sumqx / sumq2 : dsb)));
    }

    /// <inheritdoc />
    public override void DequantizeRow(ReadOnlySpan<byte> src, Span<float> dst)
    {
        int nb = dst.Length / QK;
        for (int i = 0; i < nb; i++)
            DequantizeBlock(src.Slice(i * BlockBytes, BlockBytes), dst.Slice(i * QK, QK));
    }

    private static void DequantizeBlock(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Fp16.ToFloat(U16(b, 0));
        int extra = U16(b, 2);
        var qs = b.Slice(12, 64);
        var vals = Iq2nlValues;
        for (int ib32 = 0; ib32 < 8; ib32++)
        {
            byte sc = b[4 + ib32];
            float dl1 = d * ((sc & 0xf) - 8);
            float dl2 = d * ((sc >> 4) - 8);
            int o1 = (extra >> (2 * ib32)) & 1, o2 = (extra >> (2 * ib32 + 1)) & 1;
            int shift = 2 * (ib32 % 4);
            var q = qs.Slice(32 * (ib32 / 4), 32);
            var yy = y.Slice(32 * ib32, 32);
            for (int j = 0; j < 16; j++)
            {
                yy[j] = dl1 * vals[4 * o1 + ((q[j] >> shift) & 3)];
                yy[j + 16] = dl2 * vals[4 * o2 + ((q[j + 16] >> shift) & 3)];
            }
        }
    }
}

/// <summary>The IQ2_K sub-block scale search B8 (exhaustive 4-level partitions of 16 sorted weights).</summary>
internal static class Iq2KSearch
{
    /// <summary>Per-sub-block scratch (stack value; no allocation).</summary>
    [InlineArray(80)]
    internal struct Scratch { private float _e0; }

    /// <summary>Returns the best scale d (0 if none) and whether it uses the shifted table.</summary>
    public static float Search(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ref Scratch scratch, SimdLevel level, out bool shifted)
    {
        Span<float> s = scratch;
        var sx = s.Slice(0, 17);
        var sww = s.Slice(20, 17);
        // sort (value, index) ascending; ties by index (pairs compare)
        Span<int> idx = stackalloc int[16];
        Span<float> val = stackalloc float[16];
        for (int j = 0; j < 16; j++)
        {
            float v = x[j];
            int k = j;
            while (k > 0 && val[k - 1] > v) { val[k] = val[k - 1]; idx[k] = idx[k - 1]; k--; }
            val[k] = v; idx[k] = j;
        }
        sx[0] = 0; sww[0] = 0;
        for (int j = 0; j < 16; j++)
        {
            int jj = idx[j];
            sww[j + 1] = sww[j] + w[jj];
            sx[j + 1] = sx[j] + w[jj] * x[jj];
        }
        return SearchScalar(sx, sww, out shifted);
    }

    private static float SearchScalar(ReadOnlySpan<float> sx, ReadOnlySpan<float> sw, out bool shifted)
    {
        var v = IqkCommon.Iq2nlValues;
        float best = 0, d = 0;
        shifted = false;
        for (int i1 = 0; i1 < 16; i1++)
        {
            float a = sx[i1] - sx[0], wa = sw[i1] - sw[0];
            for (int i2 = i1; i2 < 16; i2++)
            {
                float b = sx[i2] - sx[i1], wb = sw[i2] - sw[i1];
                for (int i3 = i2; i3 < 16; i3++)
                {
                    float c = sx[i3] - sx[i2], wc = sw[i3] - sw[i2];
                    float e = sx[16] - sx[i3], we = sw[16] - sw[i3];
                    for (int t = 0; t < 4; t++)
                    {
                        int o = (t & 1) * 4;
                        float v0, v1, v2, v3;
                        if (t < 2) { v0 = v[o]; v1 = v[o + 1]; v2 = v[o + 2]; v3 = v[o + 3]; }
                        else { v0 = v[o + 3]; v1 = v[o + 2]; v2 = v[o + 1]; v3 = v[o]; }
                        float num = a * v0 + b * v1 + c * v2 + e * v3;
                        float den = wa * v0 * v0 + wb * v1 * v1 + wc * v2 * v2 + we * v3 * v3;
                        if (den > 0 && num * num > best * den)
                        {
                            d = num / den; best = d * num; shifted = (t & 1) != 0;
                        }
                    }
                }
            }
        }
        return d;
    }
}
