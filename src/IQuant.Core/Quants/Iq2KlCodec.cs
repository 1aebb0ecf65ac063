using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using IQuant.Core.Types;

namespace IQuant.Core.Quants;

/// <summary>
/// IQ2_KL (spec §3.13, §4.13): fp16 row scale, then per 256 values: scales_h (u16), 4 bytes of scale nibbles,
/// 64 bytes of low pair-index nibbles and 16 bytes of 5th pair-index bits. Pairs of weights index a 32-entry grid
/// of iq3nl value pairs.
/// </summary>
public sealed class Iq2KlCodec : QuantCodec
{
    private const int BlockBytes = 86;

    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.IQ2_KL;

    /// <inheritdoc/>
    public override void QuantizeRow(ReadOnlySpan<float> x, Span<byte> dst, ReadOnlySpan<float> imatrix)
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
        KsBlocks.PrepareRow(x, qw, KsSigma.TwoPointTwoFive, KsNoImatrixWeight.Abs, w, s.Max, s.Amax, default);
        var scales = s.Scales.AsSpan(0, nsub);
        if (level >= SimdLevel.Avx2) Iq2KlSimd.ScanRow(x, w, s.Max, s.Amax, scales, level);
        else Iq2KlSearch.ScanRow(x, w, s.Max, s.Amax, scales, level);

        dst.Clear();
        float maxAbs = 0, maxScale = 0;
        for (int i = 0; i < nsub; i++)
        {
            float a = MathF.Abs(scales[i]);
            if (a > maxAbs) { maxAbs = a; maxScale = scales[i]; }
        }
        if (maxAbs == 0) return;
        float dRow = -maxScale / 32;
        float id = 1 / dRow;
        var ls = s.L.AsSpan(0, nsub);
        var kidx = s.Idx.AsSpan(0, n / 2);
        if (level >= SimdLevel.Avx2) Iq2KlSimd.Pass2(x, w, scales, dRow, id, ls, kidx, level);
        else Pass2Scalar(x, w, scales, dRow, id, ls, kidx);
        float sumqx = 0, sumq2 = 0;
        var grid = Iq2KlSearch.Grid;
        var blocks = dst[2..];
        for (int i = 0; i < nsub; i++)
        {
            var xs = x.Slice(32 * i, 32);
            var ws = w.Slice(32 * i, 32);
            int ib = i & 7;
            var blk = blocks.Slice(BlockBytes * (i >> 3), BlockBytes);
            int l = ls[i];
            int uls = l + 32;
            blk[2 + (ib & 3)] |= (byte)((uls & 15) << (4 * (ib >> 2)));
            KsMath.WriteU16(blk, (ushort)(KsMath.ReadU16(blk) | ((uls >> 4) << (2 * ib))));
            if (l == 0) continue;
            var qs = blk.Slice(6 + 16 * (ib >> 1), 16);
            var qh = blk.Slice(70, 16);
            int nsh = 4 * (ib & 1);
            for (int p = 0; p < 16; p++)
            {
                float x1 = xs[2 * p], x2 = xs[2 * p + 1], w1 = ws[2 * p], w2 = ws[2 * p + 1];
                int k = kidx[16 * i + p];
                qs[p] |= (byte)((k & 15) << nsh);
                qh[p] |= (byte)((k >> 4) << ib);
                float q1 = l * grid[2 * k], q2 = l * grid[2 * k + 1];
                sumqx = sumqx + (((w1 * q1) * x1) + ((w2 * q2) * x2));
                sumq2 = sumq2 + (((w1 * q1) * q1) + ((w2 * q2) * q2));
            }
        }
        if (sumq2 > 0) dRow = sumqx / sumq2;
        KsMath.WriteU16(dst, Fp16.FromFloat(1.025f * dRow));
    }

    /// <summary>Pass-2 choice of the integer scale (±1 search) and pair indices per sub-block, scalar reference.</summary>
    private static void Pass2Scalar(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> scales, float dRow, float id,
        Span<int> lsOut, Span<byte> kidx)
    {
        var grid = Iq2KlSearch.Grid;
        for (int i = 0; i < lsOut.Length; i++)
        {
            var xs = x.Slice(32 * i, 32);
            var ws = w.Slice(32 * i, 32);
            int ls = Math.Clamp(KsMath.NearestInt(id * scales[i]), -32, 31);
            int lsmin = Math.Max(-32, ls - 1), lsmax = Math.Min(31, ls + 1);
            float bestScore = float.MaxValue;
            int bestLs = ls;
            for (int ils = lsmin; ils <= lsmax; ils++)
            {
                float dl = dRow * ils;
                float idl = dl != 0 ? 1 / dl : 0;
                float score = 0;
                for (int p = 0; p < 16; p++)
                {
                    float x1 = xs[2 * p], x2 = xs[2 * p + 1], w1 = ws[2 * p], w2 = ws[2 * p + 1];
                    int k = Iq2KlSearch.PairIndex(idl, x1, x2, w1, w2);
                    float d1 = dl * grid[2 * k] - x1;
                    float d2 = dl * grid[2 * k + 1] - x2;
                    score = score + (((w1 * d1) * d1) + ((w2 * d2) * d2));
                }
                if (score < bestScore) { bestScore = score; bestLs = ils; }
            }
            lsOut[i] = bestLs;
            if (bestLs == 0) continue;
            float dls = dRow * bestLs;
            float idls = 1 / dls;
            for (int p = 0; p < 16; p++)
                kidx[16 * i + p] = (byte)Iq2KlSearch.PairIndex(idls, xs[2 * p], xs[2 * p + 1], ws[2 * p], ws[2 * p + 1]);
        }
    }

    /// <inheritdoc/>
    public override void DequantizeRow(ReadOnlySpan<byte> src, Span<float> y)
    {
        if (SimdPolicy.Current >= SimdLevel.Avx2) { DequantizeV(src, y); return; }
        float d = Fp16.ToFloat(KsMath.ReadU16(src));
        var grid = Iq2KlSearch.Grid;
        int nsub = y.Length / 32;
        Span<float> lut = stackalloc float[64];
        for (int i = 0; i < nsub; i++)
        {
            var blk = src.Slice(2 + BlockBytes * (i >> 3), BlockBytes);
            int ib = i & 7;
            int sh = KsMath.ReadU16(blk);
            int ls = (((blk[2 + (ib & 3)] >> (4 * (ib >> 2))) & 15) | (((sh >> (2 * ib)) & 3) << 4)) - 32;
            float dl = d * ls;
            for (int k = 0; k < 64; k++) lut[k] = dl * grid[k];
            var qs = blk.Slice(6 + 16 * (ib >> 1), 16);
            var qh = blk.Slice(70, 16);
            int nsh = 4 * (ib & 1);
            var ys = y.Slice(32 * i, 32);
            for (int p = 0; p < 16; p++)
            {
                int k = ((qs[p] >> nsh) & 15) | (((qh[p] >> ib) & 1) << 4);
                ys[2 * p] = lut[2 * k];
                ys[2 * p + 1] = lut[2 * k + 1];
            }
        }
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DequantizeV(ReadOnlySpan<byte> src, Span<float> y)
    {
        float d = Fp16.ToFloat(KsMath.ReadU16(src));
        int nsub = y.Length / 32;
        ref readonly var gf = ref KlTables.GF256;
        ref readonly var gs = ref KlTables.GS256;
        var m15 = Vector256.Create(15);
        var one = Vector256.Create(1);
        fixed (byte* ps = src) fixed (float* py = y)
        {
            for (int i = 0; i < nsub; i++)
            {
                byte* blk = ps + 2 + BlockBytes * (i >> 3);
                int ib = i & 7;
                int sh = blk[0] | (blk[1] << 8);
                int ls = (((blk[2 + (ib & 3)] >> (4 * (ib >> 2))) & 15) | (((sh >> (2 * ib)) & 3) << 4)) - 32;
                var dl = Vector256.Create(d * ls);
                var f = new KsVTab256 { V0 = dl * gf.A, V1 = dl * gf.B, V2 = dl * gf.C, V3 = dl * gf.D };
                var g = new KsVTab256 { V0 = dl * gs.A, V1 = dl * gs.B, V2 = dl * gs.C, V3 = dl * gs.D };
                byte* qs = blk + 6 + 16 * (ib >> 1);
                byte* qh = blk + 70;
                int nsh = 4 * (ib & 1);
                float* ys = py + 32 * i;
                for (int h = 0; h < 16; h += 8)
                {
                    var k = ((Avx2.ConvertToVector256Int32(qs + h) >>> nsh) & m15) | (((Avx2.ConvertToVector256Int32(qh + h) >>> ib) & one) << 4);
                    var a = KsFam5.V(k, in f);
                    var b = KsFam5.V(k, in g);
                    var lo = Avx.UnpackLow(a, b);
                    var hi = Avx.UnpackHigh(a, b);
                    Avx.Permute2x128(lo, hi, 0x20).Store(ys + 2 * h);
                    Avx.Permute2x128(lo, hi, 0x31).Store(ys + 2 * h + 8);
                }
            }
        }
    }
}

/// <summary>Grid, pair index and pass 1 of IQ2_KL (spec §4.13).</summary>
internal static class Iq2KlSearch
{
    /// <summary>K_INDEX: pair of iq3nl indices (8*l1 + l2) → grid index, or -(n+1) for neighbour list n.</summary>
    public static ReadOnlySpan<sbyte> KIndex =>
    [
        -1, -2, 0, -3, -4, 1, -5, -6, 2, -7, -8, 3, -9, 4, -10, 5,
        -11, 6, 7, -12, 8, 9, 10, -13, 11, -14, -15, -16, 12, 13, -17, 14,
        -18, -19, 15, 16, 17, 18, 19, -20, -21, 20, 21, 22, 23, 24, -22, -23,
        25, -24, 26, -25, 27, -26, 28, 29, -27, -28, 30, -29, -30, 31, -31, -32,
    ];

    /// <summary>NEIGH: 32 lists of 8 grid indices, in search order.</summary>
    public static ReadOnlySpan<byte> Neigh =>
    [
        2, 0, 6, 11, 7, 3, 8, 15, 0, 2, 3, 6, 7, 1, 8, 4, 0, 1, 3, 4, 8, 7, 9, 6, 1, 0, 3, 4, 8, 9, 7, 10,
        1, 4, 5, 10, 9, 3, 8, 0, 5, 1, 4, 10, 9, 14, 8, 3, 6, 2, 7, 0, 3, 11, 8, 15, 3, 7, 0, 6, 8, 4, 12, 9,
        3, 4, 8, 9, 1, 7, 12, 10, 4, 10, 5, 9, 1, 8, 13, 14, 11, 2, 6, 7, 20, 15, 25, 21, 8, 7, 3, 12, 9, 16, 17, 13,
        14, 5, 10, 19, 9, 13, 4, 18, 6, 15, 7, 11, 20, 21, 16, 2, 15, 7, 16, 6, 21, 12, 17, 22, 12, 16, 17, 8, 15, 7, 13, 22,
        19, 10, 13, 18, 14, 9, 12, 24, 11, 20, 25, 6, 15, 2, 21, 7, 20, 15, 21, 6, 11, 7, 16, 26, 14, 19, 29, 10, 28, 18, 13, 24,
        25, 11, 20, 21, 15, 6, 26, 30, 19, 24, 28, 18, 29, 23, 13, 17, 29, 19, 14, 28, 24, 18, 10, 13, 20, 26, 21, 25, 30, 15, 22, 16,
        27, 26, 22, 23, 21, 30, 16, 24, 27, 24, 28, 31, 23, 18, 22, 17, 25, 30, 20, 26, 21, 11, 15, 22, 30, 26, 25, 20, 21, 27, 22, 15,
        30, 27, 31, 26, 22, 23, 21, 24, 31, 27, 30, 26, 28, 23, 22, 24, 31, 28, 29, 27, 24, 23, 19, 18, 29, 28, 31, 24, 19, 27, 14, 18,
    ];

    /// <summary>grid[2k], grid[2k+1]: the value pair of grid entry k (as float).</summary>
    public static readonly float[] Grid = BuildGrid();

    private static float[] BuildGrid()
    {
        var g = new float[64];
        var v = KsTables.Iq3nl;
        for (int j = 0; j < 64; j++)
        {
            int k = KIndex[j];
            if (k >= 0) { g[2 * k] = v[j >> 3]; g[2 * k + 1] = v[j & 7]; }
        }
        return g;
    }

    /// <summary>PairIndex of §4.13.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int PairIndex(float id, float x1, float x2, float w1, float w2)
    {
        var tab = KsTable.Iq3;
        var T = tab.NormalI;
        float s1 = id * x1, s2 = id * x2;
        int c = KIndex[8 * tab.Bi(T, s1) + tab.Bi(T, s2)];
        if (c >= 0) return c;
        return Neighbour(-c - 1, s1, s2, w1, w2);
    }

    /// <summary>The best entry of neighbour list <paramref name="list"/> for the scaled pair (s1, s2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Neighbour(int list, float s1, float s2, float w1, float w2)
    {
        var grid = Grid;
        var nb = Neigh.Slice(8 * list, 8);
        float best = float.MaxValue;
        int ibest = nb[0];
        for (int t = 0; t < 8; t++)
        {
            int k = nb[t];
            float d1 = grid[2 * k] - s1;
            float d2 = grid[2 * k + 1] - s2;
            float score = ((w1 * d1) * d1) + ((w2 * d2) * d2);
            if (score < best) { best = score; ibest = k; }
        }
        return ibest;
    }

    private static void Acc2(float id, ReadOnlySpan<float> xs, ReadOnlySpan<float> ws,
        out float sp, out float qp, out float sm, out float qm)
    {
        var grid = Grid;
        sp = qp = sm = qm = 0;
        for (int p = 0; p < 16; p++)
        {
            float x1 = xs[2 * p], x2 = xs[2 * p + 1], w1 = ws[2 * p], w2 = ws[2 * p + 1];
            int k = PairIndex(id, x1, x2, w1, w2);
            float g1 = grid[2 * k], g2 = grid[2 * k + 1];
            sp = sp + (((w1 * g1) * x1) + ((w2 * g2) * x2));
            qp = qp + (((w1 * g1) * g1) + ((w2 * g2) * g2));
            k = PairIndex(-id, x1, x2, w1, w2);
            g1 = grid[2 * k]; g2 = grid[2 * k + 1];
            sm = sm + (((w1 * g1) * x1) + ((w2 * g2) * x2));
            qm = qm + (((w1 * g1) * g1) + ((w2 * g2) * g2));
        }
    }

    /// <summary>Float scale of every sub-block (empty ones get 0).</summary>
    public static void ScanRow(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> max, ReadOnlySpan<float> amax,
        Span<float> scales, SimdLevel level)
    {
        const float t0 = -63;
        for (int i = 0; i < scales.Length; i++)
        {
            if (amax[i] < 1e-16f) { scales[i] = 0; continue; }
            var xs = x.Slice(32 * i, 32);
            var ws = w.Slice(32 * i, 32);
            float m = max[i];
            float d = -m / t0;
            float id = 1 / d;
            Acc2(id, xs, ws, out float sp, out float qp, out float sm, out float qm);
            d = sp / qp;
            float best = d * sp;
            if (qm > 0 && sm * sm > best * qm) { d = sm / qm; best = d * sm; }
            for (int itry = -5; itry <= 5; itry++)
            {
                id = (itry - 63) / m;
                Acc2(id, xs, ws, out sp, out qp, out sm, out qm);
                if (qp > 0 && sp * sp > best * qp) { d = sp / qp; best = d * sp; }
                if (qm > 0 && sm * sm > best * qm) { d = sm / qm; best = d * sm; }
            }
            scales[i] = d;
        }
    }
}
