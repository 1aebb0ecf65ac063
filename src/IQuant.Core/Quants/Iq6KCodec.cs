using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using IQuant.Core.Types;
using static IQuant.Core.Quants.IqkCommon;

namespace IQuant.Core.Quants;

/// <summary>
/// IQ6_K (spec §3.11, §4.11): 212 bytes per 256 weights: fp16 d, u16 extra, 16 int8 scales, 128 bytes low 4 index
/// bits, 64 bytes high 2 index bits. Scale search B6 over the f32 iq6nl tables (ntry 5, step 1) + refit.
/// </summary>
public sealed unsafe class Iq6KCodec : QuantCodec
{
    private const int BlockBytes = 212;

    /// <inheritdoc />
    public override GgmlType Type => GgmlType.IQ6_K;

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
        var g = Iq6;
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
        float dsb = -maxScale / 127;
        U16(y, 0, Fp16.FromFloat(dsb));
        U16(y, 2, extra);
        float id = 1 / dsb;
        float sumqx = 0, sumq2 = 0;
        var qs = y.Slice(20, 128);
        var qh = y.Slice(148, 64);
        for (int ib = 0; ib < 16; ib++)
        {
            int ls = Math.Clamp(NearestInt(id * scales[ib]), -127, 127);
            y[4 + ib] = (byte)(sbyte)ls;
            float dl = dsb * ls;
            if (dl == 0) continue;
            bool shf = (extra & (1 << ib)) != 0;
            var t = g.Table(shf);
            var xb = x.Slice(16 * ib, 16);
            Weights(xb, qw.IsEmpty ? default : qw.Slice(16 * ib, 16), sigma2, true, w, level);
            IqkSimd.BestIndices(level, g, shf, 1 / dl, xb, idx);
            int ib32 = ib / 2, off = 16 * (ib % 2);
            int qsOff = 32 * (ib32 / 2) + off, shl = 4 * (ib32 % 2);
            int qhOff = 32 * (ib32 / 4) + off, shh = 2 * (ib32 % 4);
            for (int j = 0; j < 16; j++)
            {
                int k = idx[j];
                qs[qsOff + j] |= (byte)((k & 0xf) << shl);
                qh[qhOff + j] |= (byte)((k >> 4) << shh);
                float q = t[k] * ls;
                sumqx += w[j] * q * xb[j];
                sumq2 += w[j] * q * q;
            }
        }
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

    /// <summary>
    /// The values the reference CPU dequantizer (<c>dequantize_row_iq6_k</c>) multiplies by: it does not read the
    /// integer iq6nl table but evaluates the cubic <c>A + q*(B + q*(-C + q*D)) + m</c> in f32 (spec §3.11 quirk).
    /// The reference .deq.f32 vectors were made with that function (the integer table fails them), so
    /// <see cref="DequantizeRow"/> reproduces it bit for bit: entry <c>64*m + q</c>, evaluated once here without FMA.
    /// (Inference kernels should use the integer table, as ik's matmul kernels do.)
    /// </summary>
    internal static readonly float[] PolyValues = BuildPoly();

    private static float[] BuildPoly()
    {
        const float A = -127f, B = 6.2568f, C = 0.11218f, D = 0.0011972f;
        var t = new float[128];
        for (int m = 0; m < 2; m++)
            for (int q = 0; q < 64; q++)
            {
                float qf = q;
                float inner = -C + qf * D;
                inner = B + qf * inner;
                float v = A + qf * inner;
                t[64 * m + q] = v + m;
            }
        return t;
    }

    private static void DequantizeBlock(ReadOnlySpan<byte> b, Span<float> y)
    {
        float d = Fp16.ToFloat(U16(b, 0));
        int extra = U16(b, 2);
        var vals = PolyValues;
        for (int ib = 0; ib < 16; ib++)
        {
            float dl = d * (sbyte)b[4 + ib];
            int m = (extra >> ib) & 1;
            int ib32 = ib / 2, off = 16 * (ib % 2);
            int qo = 20 + 32 * (ib32 / 2) + off, shl = 4 * (ib32 % 2);
            int ho = 148 + 32 * (ib32 / 4) + off, shh = 2 * (ib32 % 4);
            var yy = y.Slice(16 * ib, 16);
            for (int j = 0; j < 16; j++)
            {
                int k = ((b[qo + j] >> shl) & 0xf) | (((b[ho + j] >> shh) & 3) << 4);
                yy[j] = dl * vals[64 * m + k];
            }
        }
    }
    private static readonly float* s_poly = IqkDequant.PinnedTable(PolyValues, 128);

    private static void Dequant512(byte* b, float* y)
    {
        float d = IqkDequant.F16(b);
        int extra = IqkDequant.U16(b + 2);
        for (int ib = 0; ib < 16; ib++)
        {
            float dl = d * (sbyte)b[4 + ib];
            float* t = s_poly + 64 * ((extra >> ib) & 1);
            int ib32 = ib >> 1, off = 16 * (ib & 1);
            var lo = Vector512.ShiftRightLogical(IqkDequant.Bytes16(b + 20 + 32 * (ib32 >> 1) + off), 4 * (ib32 & 1)) & Vector512.Create(15);
            var hi = Vector512.ShiftRightLogical(IqkDequant.Bytes16(b + 148 + 32 * (ib32 >> 2) + off), 2 * (ib32 & 3)) & Vector512.Create(3);
            var idx = lo | Vector512.ShiftLeft(hi, 4);
            var v0 = Avx512F.PermuteVar16x32x2(Vector512.Load(t), idx, Vector512.Load(t + 16));
            var v1 = Avx512F.PermuteVar16x32x2(Vector512.Load(t + 32), idx, Vector512.Load(t + 48));
            var v = Vector512.ConditionalSelect(Vector512.Equals(idx & Vector512.Create(32), Vector512<int>.Zero).AsSingle(), v0, v1);
            (Vector512.Create(dl) * v).Store(y + 16 * ib);
        }
    }

    private static void Dequant256(byte* b, float* y)
    {
        float d = IqkDequant.F16(b);
        int extra = IqkDequant.U16(b + 2);
        for (int ib = 0; ib < 16; ib++)
        {
            var dl = Vector256.Create(d * (sbyte)b[4 + ib]);
            float* t = s_poly + 64 * ((extra >> ib) & 1);
            int ib32 = ib >> 1, off = 16 * (ib & 1);
            for (int k = 0; k < 16; k += 8)
            {
                var lo = Vector256.ShiftRightLogical(IqkDequant.Bytes8(b + 20 + 32 * (ib32 >> 1) + off + k), 4 * (ib32 & 1)) & Vector256.Create(15);
                var hi = Vector256.ShiftRightLogical(IqkDequant.Bytes8(b + 148 + 32 * (ib32 >> 2) + off + k), 2 * (ib32 & 3)) & Vector256.Create(3);
                (dl * Avx2.GatherVector256(t, lo | Vector256.ShiftLeft(hi, 4), 4)).Store(y + 16 * ib + k);
            }
        }
    }

}
