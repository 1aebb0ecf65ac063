using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using IQuant.Core.Types;
using static IQuant.Core.Quants.IqkCommon;

namespace IQuant.Core.Quants;

/// <summary>
/// IQ2_K (spec §3.3, §4.2): 76 bytes per 256 weights: fp16 d, u16 extra (shift flags), 8 bytes of 4-bit scales,
/// 64 bytes of 2-bit indices. The sub-block scale search is the exhaustive 4-level partition search B8.
/// </summary>
public sealed unsafe class Iq2KCodec : QuantCodec
{
    private const int BlockBytes = 76;

    /// <inheritdoc />
    public override GgmlType Type => GgmlType.IQ2_K;

    /// <inheritdoc />
    public override void QuantizeRow(ReadOnlySpan<float> src, Span<byte> dst, ReadOnlySpan<float> imatrix)
    {
        var level = SimdPolicy.Current;
        var qw = PrepareRowWeights(src, imatrix, 16);
        float* scratch = stackalloc float[Iq2KSearch.ScratchFloats];
        int nb = src.Length / QK;
        for (int ibl = 0; ibl < nb; ibl++)
            QuantizeBlock(src.Slice(ibl * QK, QK), qw.IsEmpty ? default : qw.Slice(ibl * QK, QK),
                dst.Slice(ibl * BlockBytes, BlockBytes), level, scratch);
    }

    private static void QuantizeBlock(ReadOnlySpan<float> x, ReadOnlySpan<float> qw, Span<byte> y, SimdLevel level, float* scratch)
    {
        y.Clear();
        float t0 = Iq2nlValues[0], t1 = Iq2nlValues[1], t2 = Iq2nlValues[2], t3 = Iq2nlValues[3];
        float s0 = Iq2nlValues[4], s1 = Iq2nlValues[5], s2 = Iq2nlValues[6], s3 = Iq2nlValues[7];

        float sigma2 = 1.5f * SumSquares(x) / QK;
        Span<float> scales = stackalloc float[16];
        Span<float> sw = stackalloc float[16];
        Span<float> w = stackalloc float[16];
        ushort extra = 0;
        float maxAbs = 0;
        for (int ib = 0; ib < 16; ib++)
        {
            var xb = x.Slice(16 * ib, 16);
            Weights(xb, qw.IsEmpty ? default : qw.Slice(16 * ib, 16), sigma2, true, w, level);
            float s = 0, amax = 0;
            for (int j = 0; j < 16; j++)
            {
                s += w[j];
                amax = StdMax(amax, MathF.Abs(xb[j]));
            }
            sw[ib] = s;
            if (amax < 1e-16f) { scales[ib] = 0; continue; }
            float d = Iq2KSearch.Search(xb, w, scratch, level, out bool shifted);
            scales[ib] = d;
            if (shifted) extra |= (ushort)(1 << ib);
            maxAbs = StdMax(maxAbs, MathF.Abs(d));
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
            Weights(xb, qw.IsEmpty ? default : qw.Slice(16 * ib, 16), sigma2, true, w, level);
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
    private static readonly float* s_tab = IqkDequant.PinnedTable(Iq2nlValues, 16);

    private static void Dequant512(byte* b, float* y)
    {
        float d = IqkDequant.F16(b);
        int extra = IqkDequant.U16(b + 2);
        var tab = Vector512.Load(s_tab);
        for (int ib = 0; ib < 16; ib++)
        {
            int ib32 = ib >> 1, h = ib & 1;
            float dl = d * (((b[4 + ib32] >> (4 * h)) & 0xf) - 8);
            var q = IqkDequant.Bytes16(b + 12 + 32 * (ib32 >> 2) + 16 * h);
            var idx = (Vector512.ShiftRightLogical(q, 2 * (ib32 & 3)) & Vector512.Create(3)) | Vector512.Create(((extra >> ib) & 1) << 2);
            (Vector512.Create(dl) * Avx512F.PermuteVar16x32(tab, idx)).Store(y + 16 * ib);
        }
    }

    private static void Dequant256(byte* b, float* y)
    {
        float d = IqkDequant.F16(b);
        int extra = IqkDequant.U16(b + 2);
        var tab = Vector256.Load(s_tab);
        for (int ib = 0; ib < 16; ib++)
        {
            int ib32 = ib >> 1, h = ib & 1;
            var dl = Vector256.Create(d * (((b[4 + ib32] >> (4 * h)) & 0xf) - 8));
            var or = Vector256.Create(((extra >> ib) & 1) << 2);
            byte* qp = b + 12 + 32 * (ib32 >> 2) + 16 * h;
            int sh = 2 * (ib32 & 3);
            for (int k = 0; k < 16; k += 8)
            {
                var idx = (Vector256.ShiftRightLogical(IqkDequant.Bytes8(qp + k), sh) & Vector256.Create(3)) | or;
                (dl * Avx2.PermuteVar8x32(tab, idx)).Store(y + 16 * ib + k);
            }
        }
    }

}

/// <summary>
/// The IQ2_K sub-block scale search B8 (exhaustive 4-level partitions of 16 sorted weights, 816 partitions × 4
/// value assignments, in the reference's (i1, i2, i3, assignment) order).
/// SIMD: for fixed i1, the (i2, i3) pairs are independent candidates; per pair the terms that do not depend on i1
/// (c·v2, e·v3, (wc·v2)·v2, (we·v3)·v3 and SX[i2], SW[i2]) are precomputed once per sub-block, then each lane
/// evaluates num/den with exactly the reference's operations and order. A vector compare against the current best
/// finds the lanes that could be accepted; only then the reference's sequential accept loop runs (scalar) over
/// that vector's candidates in order, so the result equals the scalar search bit for bit.
/// </summary>
internal static unsafe class Iq2KSearch
{
    /// <summary>Number of (i2, i3) pairs with i2 ≤ i3 &lt; 16.</summary>
    private const int NPairs = 136;
    /// <summary>Array stride in the scratch (136 rounded up so that 16-lane loads from any start stay inside).</summary>
    private const int Stride = 160;
    /// <summary>Floats of scratch a caller provides (<see cref="Search"/>).</summary>
    public const int ScratchFloats = 18 * Stride + 16 * 16 + 2 * 32;

    private static readonly int[] s_i2 = GC.AllocateArray<int>(Stride, pinned: true);
    private static readonly int[] s_i3 = GC.AllocateArray<int>(Stride, pinned: true);
    private static readonly int[] s_off = new int[17];
    private static readonly float[] s_v = new float[16]; // per assignment t: v0..v3

    static Iq2KSearch()
    {
        int p = 0;
        for (int i2 = 0; i2 < 16; i2++)
        {
            s_off[i2] = p;
            for (int i3 = i2; i3 < 16; i3++) { s_i2[p] = i2; s_i3[p] = i3; p++; }
        }
        s_off[16] = p;
        for (; p < Stride; p++) { s_i2[p] = 16; s_i3[p] = 16; }
        var v = IqkCommon.Iq2nlValues;
        for (int t = 0; t < 4; t++)
        {
            int o = (t & 1) * 4;
            for (int k = 0; k < 4; k++) s_v[4 * t + k] = t < 2 ? v[o + k] : v[o + 3 - k];
        }
    }

    /// <summary>
    /// Returns the best scale d (0 if none) and whether it uses the shifted table. <paramref name="scratch"/> points to
    /// <see cref="ScratchFloats"/> floats.
    /// </summary>
    public static float Search(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float* scratch, SimdLevel level, out bool shifted)
    {
        float* sx = scratch + 18 * Stride + 256;
        float* sw = sx + 32;
        if (IqkSimd.Avx512Ok(level) && x.Length == 16)
        {
            fixed (float* px = x) fixed (float* pw = w) SortPrefix512(px, pw, sx, sw);
        }
        else
        {
            SortPrefixScalar(x, w, sx, sw);
        }
        for (int j = 17; j < 32; j++) { sx[j] = 0; sw[j] = 0; }
        if (IqkSimd.Avx512Ok(level)) return Search512(scratch, sx, sw, out shifted);
        if (IqkSimd.Avx2Ok(level)) return Search256(scratch, sx, sw, out shifted);
        return SearchScalar(sx, sw, out shifted);
    }

    /// <summary>
    /// Sorts (x, index) pairs ascending (ties by index, as std::sort on std::pair does) and forms the prefix sums
    /// SW[k+1] = SW[k] + w, SX[k+1] = SX[k] + w·x in sorted order (sequential f32 adds).
    /// </summary>
    private static void SortPrefixScalar(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float* sx, float* sw)
    {
        int* idx = stackalloc int[16];
        float* val = stackalloc float[16];
        for (int j = 0; j < 16; j++)
        {
            float v = x[j];
            int k = j;
            while (k > 0 && val[k - 1] > v) { val[k] = val[k - 1]; idx[k] = idx[k - 1]; k--; }
            val[k] = v; idx[k] = j;
        }
        sx[0] = 0; sw[0] = 0;
        for (int j = 0; j < 16; j++)
        {
            int jj = idx[j];
            sw[j + 1] = sw[j] + w[jj];
            sx[j + 1] = sx[j] + w[jj] * x[jj];
        }
    }

    /// <summary>
    /// AVX-512 version of <see cref="SortPrefixScalar"/>: the rank of element j is the number of i with x_i &lt; x_j,
    /// or x_i == x_j and i &lt; j (the same total order), computed for all j at once; the prefix sums stay sequential.
    /// </summary>
    private static void SortPrefix512(float* x, float* w, float* sx, float* sw)
    {
        var xv = Vector512.Load(x);
        var lane = Vector512<int>.Indices;
        var rank = Vector512<int>.Zero;
        for (int i = 0; i < 16; i++)
        {
            var xi = Vector512.Create(x[i]);
            var before = Vector512.GreaterThan(xv, xi) | (Vector512.Equals(xv, xi) & Vector512.GreaterThan(lane, Vector512.Create(i)).AsSingle());
            rank -= before.AsInt32();
        }
        int* r = stackalloc int[16];
        int* idx = stackalloc int[16];
        rank.Store(r);
        for (int j = 0; j < 16; j++) idx[r[j]] = j;
        var iv = Vector512.Load(idx);
        var wv = Vector512.Load(w);
        float* ws = stackalloc float[32];
        Avx512F.PermuteVar16x32(wv, iv).Store(ws);
        Avx512F.PermuteVar16x32(wv * xv, iv).Store(ws + 16);
        float a = 0, b = 0;
        sx[0] = 0; sw[0] = 0;
        for (int k = 0; k < 16; k++)
        {
            a += ws[k]; b += ws[16 + k];
            sw[k + 1] = a; sx[k + 1] = b;
        }
    }

    private static float SearchScalar(float* sx, float* sw, out bool shifted)
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

    // scratch layout: B, WB, then for t = 0..3: C_t, E_t, WC_t, WE_t (each Stride floats), then 8×16 resolve buffer
    private static float* Arr(float* s, int k) => s + k * Stride;

    /// <summary>Interleaves four lane masks into candidate order (bit 4·lane + t).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Interleave(uint m0, uint m1, uint m2, uint m3)
    {
        if (Bmi2.X64.IsSupported)
            return Bmi2.X64.ParallelBitDeposit(m0, 0x1111111111111111UL) | Bmi2.X64.ParallelBitDeposit(m1, 0x2222222222222222UL)
                 | Bmi2.X64.ParallelBitDeposit(m2, 0x4444444444444444UL) | Bmi2.X64.ParallelBitDeposit(m3, 0x8888888888888888UL);
        ulong r = 0;
        for (int l = 0; l < 16; l++)
            r |= (ulong)(((m0 >> l) & 1) | (((m1 >> l) & 1) << 1) | (((m2 >> l) & 1) << 2) | (((m3 >> l) & 1) << 3)) << (4 * l);
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Stage512(float* buf, int t, Vector512<float> n, Vector512<float> den)
    {
        float* b = buf + 64 * t;
        var q = n / den;
        den.Store(b); (n * n).Store(b + 16); q.Store(b + 32); (q * n).Store(b + 48);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Stage256(float* buf, int t, Vector256<float> n, Vector256<float> den)
    {
        float* b = buf + 32 * t;
        var q = n / den;
        den.Store(b); (n * n).Store(b + 8); q.Store(b + 16); (q * n).Store(b + 24);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Search512(float* s, float* sx, float* sw, out bool shifted)
    {
        var sxLo = Vector512.Load(sx); var sxHi = Vector512.Load(sx + 16);
        var swLo = Vector512.Load(sw); var swHi = Vector512.Load(sw + 16);
        var sx16 = Vector512.Create(sx[16]); var sw16 = Vector512.Create(sw[16]);
        fixed (int* pi2 = s_i2) fixed (int* pi3 = s_i3) fixed (float* pv = s_v)
        {
            for (int p = 0; p < NPairs; p += 16)
            {
                var i2 = Vector512.Load(pi2 + p); var i3 = Vector512.Load(pi3 + p);
                var x2 = Avx512F.PermuteVar16x32x2(sxLo, i2, sxHi); var x3 = Avx512F.PermuteVar16x32x2(sxLo, i3, sxHi);
                var w2 = Avx512F.PermuteVar16x32x2(swLo, i2, swHi); var w3 = Avx512F.PermuteVar16x32x2(swLo, i3, swHi);
                var c = x3 - x2; var e = sx16 - x3; var wc = w3 - w2; var we = sw16 - w3;
                x2.Store(Arr(s, 0) + p); w2.Store(Arr(s, 1) + p);
                for (int t = 0; t < 4; t++)
                {
                    var v2 = Vector512.Create(pv[4 * t + 2]); var v3 = Vector512.Create(pv[4 * t + 3]);
                    (c * v2).Store(Arr(s, 2 + 4 * t) + p);
                    (e * v3).Store(Arr(s, 3 + 4 * t) + p);
                    (wc * v2 * v2).Store(Arr(s, 4 + 4 * t) + p);
                    (we * v3 * v3).Store(Arr(s, 5 + 4 * t) + p);
                }
            }
            var nan = Vector512.Create(float.NaN);
            for (int t = 0; t < 4; t++) nan.Store(Arr(s, 5 + 4 * t) + NPairs);

            float* buf = s + 18 * Stride;
            float best = 0, d = 0;
            bool sh = false;
            var v1a = Vector512.Create(pv[1]); var v1b = Vector512.Create(pv[5]);
            var v1c = Vector512.Create(pv[9]); var v1d = Vector512.Create(pv[13]);
            for (int i1 = 0; i1 < 16; i1++)
            {
                float a = sx[i1] - sx[0], wa = sw[i1] - sw[0];
                var bestV = Vector512.Create(best);
                var aV = Vector512.Create(a); var waV = Vector512.Create(wa);
                var A0 = aV * Vector512.Create(pv[0]); var A1 = aV * Vector512.Create(pv[4]);
                var A2 = aV * Vector512.Create(pv[8]); var A3 = aV * Vector512.Create(pv[12]);
                var W0 = waV * Vector512.Create(pv[0]) * Vector512.Create(pv[0]);
                var W1 = waV * Vector512.Create(pv[4]) * Vector512.Create(pv[4]);
                var W2 = waV * Vector512.Create(pv[8]) * Vector512.Create(pv[8]);
                var W3 = waV * Vector512.Create(pv[12]) * Vector512.Create(pv[12]);
                for (int p = s_off[i1]; p < NPairs; p += 16)
                {
                    var b = Vector512.Load(Arr(s, 0) + p) - aV;
                    var wb = Vector512.Load(Arr(s, 1) + p) - waV;
                    var n0 = A0 + b * v1a + Vector512.Load(Arr(s, 2) + p) + Vector512.Load(Arr(s, 3) + p);
                    var d0 = W0 + wb * v1a * v1a + Vector512.Load(Arr(s, 4) + p) + Vector512.Load(Arr(s, 5) + p);
                    var n1 = A1 + b * v1b + Vector512.Load(Arr(s, 6) + p) + Vector512.Load(Arr(s, 7) + p);
                    var d1 = W1 + wb * v1b * v1b + Vector512.Load(Arr(s, 8) + p) + Vector512.Load(Arr(s, 9) + p);
                    var n2 = A2 + b * v1c + Vector512.Load(Arr(s, 10) + p) + Vector512.Load(Arr(s, 11) + p);
                    var d2 = W2 + wb * v1c * v1c + Vector512.Load(Arr(s, 12) + p) + Vector512.Load(Arr(s, 13) + p);
                    var n3 = A3 + b * v1d + Vector512.Load(Arr(s, 14) + p) + Vector512.Load(Arr(s, 15) + p);
                    var d3 = W3 + wb * v1d * v1d + Vector512.Load(Arr(s, 16) + p) + Vector512.Load(Arr(s, 17) + p);
                    // Exact prefilter: the vector test is the reference's test (num² > best·den) against the
                    // current best; den > 0 is left to the scalar check (den ≥ 0 always, and den = 0 forces num = 0).
                    var p0 = Vector512.GreaterThan(n0 * n0, bestV * d0);
                    var p1 = Vector512.GreaterThan(n1 * n1, bestV * d1);
                    var p2 = Vector512.GreaterThan(n2 * n2, bestV * d2);
                    var p3 = Vector512.GreaterThan(n3 * n3, bestV * d3);
                    uint m0 = (uint)p0.ExtractMostSignificantBits(), m1 = (uint)p1.ExtractMostSignificantBits();
                    uint m2 = (uint)p2.ExtractMostSignificantBits(), m3 = (uint)p3.ExtractMostSignificantBits();
                    if ((m0 | m1 | m2 | m3) == 0) continue;
                    // Some candidate of this vector may beat the current best: run the reference's sequential
                    // accept loop over the flagged candidates in order (lane-major, assignment-minor). A candidate
                    // not flagged failed against the current best, and keeps failing while best does not decrease
                    // (fl(best·den) is monotone in best); if an accept lowers best (rounding), everything after it
                    // is re-tested.
                    // Buffer per assignment t: den, num², num/den, (num/den)·num — the last two are what the
                    // reference computes on accept, precomputed so that the sequential loop carries no division.
                    Stage512(buf, 0, n0, d0); Stage512(buf, 1, n1, d1); Stage512(buf, 2, n2, d2); Stage512(buf, 3, n3, d3);
                    ulong bits = Interleave(m0, m1, m2, m3);
                    while (bits != 0)
                    {
                        int pos = BitOperations.TrailingZeroCount(bits);
                        bits &= bits - 1;
                        float* e = buf + 4 * 16 * (pos & 3) + (pos >> 2);
                        float den = e[0];
                        if (den > 0 && e[16] > best * den)
                        {
                            float old = best;
                            d = e[2 * 16]; best = e[3 * 16]; sh = (pos & 1) != 0;
                            if (best < old)
                            {
                                bestV = Vector512.Create(best);
                                m0 = (uint)Vector512.GreaterThan(n0 * n0, bestV * d0).ExtractMostSignificantBits();
                                m1 = (uint)Vector512.GreaterThan(n1 * n1, bestV * d1).ExtractMostSignificantBits();
                                m2 = (uint)Vector512.GreaterThan(n2 * n2, bestV * d2).ExtractMostSignificantBits();
                                m3 = (uint)Vector512.GreaterThan(n3 * n3, bestV * d3).ExtractMostSignificantBits();
                                bits = pos == 63 ? 0 : Interleave(m0, m1, m2, m3) & (~0UL << (pos + 1));
                            }
                        }
                    }
                    bestV = Vector512.Create(best);
                }
            }
            shifted = sh;
            return d;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Search256(float* s, float* sx, float* sw, out bool shifted)
    {
        var sx16 = Vector256.Create(sx[16]); var sw16 = Vector256.Create(sw[16]);
        fixed (int* pi2 = s_i2) fixed (int* pi3 = s_i3) fixed (float* pv = s_v)
        {
            for (int p = 0; p < NPairs; p += 8)
            {
                var i2 = Vector256.Load(pi2 + p); var i3 = Vector256.Load(pi3 + p);
                var x2 = Avx2.GatherVector256(sx, i2, 4); var x3 = Avx2.GatherVector256(sx, i3, 4);
                var w2 = Avx2.GatherVector256(sw, i2, 4); var w3 = Avx2.GatherVector256(sw, i3, 4);
                var c = x3 - x2; var e = sx16 - x3; var wc = w3 - w2; var we = sw16 - w3;
                x2.Store(Arr(s, 0) + p); w2.Store(Arr(s, 1) + p);
                for (int t = 0; t < 4; t++)
                {
                    var v2 = Vector256.Create(pv[4 * t + 2]); var v3 = Vector256.Create(pv[4 * t + 3]);
                    (c * v2).Store(Arr(s, 2 + 4 * t) + p);
                    (e * v3).Store(Arr(s, 3 + 4 * t) + p);
                    (wc * v2 * v2).Store(Arr(s, 4 + 4 * t) + p);
                    (we * v3 * v3).Store(Arr(s, 5 + 4 * t) + p);
                }
            }
            var nan = Vector256.Create(float.NaN);
            for (int t = 0; t < 4; t++) nan.Store(Arr(s, 5 + 4 * t) + NPairs);

            float* buf = s + 18 * Stride;
            float best = 0, d = 0;
            bool sh = false;
            var v1a = Vector256.Create(pv[1]); var v1b = Vector256.Create(pv[5]);
            var v1c = Vector256.Create(pv[9]); var v1d = Vector256.Create(pv[13]);
            for (int i1 = 0; i1 < 16; i1++)
            {
                float a = sx[i1] - sx[0], wa = sw[i1] - sw[0];
                var bestV = Vector256.Create(best);
                var aV = Vector256.Create(a); var waV = Vector256.Create(wa);
                var A0 = aV * Vector256.Create(pv[0]); var A1 = aV * Vector256.Create(pv[4]);
                var A2 = aV * Vector256.Create(pv[8]); var A3 = aV * Vector256.Create(pv[12]);
                var W0 = waV * Vector256.Create(pv[0]) * Vector256.Create(pv[0]);
                var W1 = waV * Vector256.Create(pv[4]) * Vector256.Create(pv[4]);
                var W2 = waV * Vector256.Create(pv[8]) * Vector256.Create(pv[8]);
                var W3 = waV * Vector256.Create(pv[12]) * Vector256.Create(pv[12]);
                for (int p = s_off[i1]; p < NPairs; p += 8)
                {
                    var b = Vector256.Load(Arr(s, 0) + p) - aV;
                    var wb = Vector256.Load(Arr(s, 1) + p) - waV;
                    var n0 = A0 + b * v1a + Vector256.Load(Arr(s, 2) + p) + Vector256.Load(Arr(s, 3) + p);
                    var d0 = W0 + wb * v1a * v1a + Vector256.Load(Arr(s, 4) + p) + Vector256.Load(Arr(s, 5) + p);
                    var n1 = A1 + b * v1b + Vector256.Load(Arr(s, 6) + p) + Vector256.Load(Arr(s, 7) + p);
                    var d1 = W1 + wb * v1b * v1b + Vector256.Load(Arr(s, 8) + p) + Vector256.Load(Arr(s, 9) + p);
                    var n2 = A2 + b * v1c + Vector256.Load(Arr(s, 10) + p) + Vector256.Load(Arr(s, 11) + p);
                    var d2 = W2 + wb * v1c * v1c + Vector256.Load(Arr(s, 12) + p) + Vector256.Load(Arr(s, 13) + p);
                    var n3 = A3 + b * v1d + Vector256.Load(Arr(s, 14) + p) + Vector256.Load(Arr(s, 15) + p);
                    var d3 = W3 + wb * v1d * v1d + Vector256.Load(Arr(s, 16) + p) + Vector256.Load(Arr(s, 17) + p);
                    // Exact prefilter: the vector test is the reference's test (num² > best·den) against the
                    // current best; den > 0 is left to the scalar check (den ≥ 0 always, and den = 0 forces num = 0).
                    var p0 = Vector256.GreaterThan(n0 * n0, bestV * d0);
                    var p1 = Vector256.GreaterThan(n1 * n1, bestV * d1);
                    var p2 = Vector256.GreaterThan(n2 * n2, bestV * d2);
                    var p3 = Vector256.GreaterThan(n3 * n3, bestV * d3);
                    uint m0 = (uint)p0.ExtractMostSignificantBits(), m1 = (uint)p1.ExtractMostSignificantBits();
                    uint m2 = (uint)p2.ExtractMostSignificantBits(), m3 = (uint)p3.ExtractMostSignificantBits();
                    if ((m0 | m1 | m2 | m3) == 0) continue;
                    // Some candidate of this vector may beat the current best: run the reference's sequential
                    // accept loop over the flagged candidates in order (lane-major, assignment-minor). A candidate
                    // not flagged failed against the current best, and keeps failing while best does not decrease
                    // (fl(best·den) is monotone in best); if an accept lowers best (rounding), everything after it
                    // is re-tested.
                    // Buffer per assignment t: den, num², num/den, (num/den)·num — the last two are what the
                    // reference computes on accept, precomputed so that the sequential loop carries no division.
                    Stage256(buf, 0, n0, d0); Stage256(buf, 1, n1, d1); Stage256(buf, 2, n2, d2); Stage256(buf, 3, n3, d3);
                    ulong bits = Interleave(m0, m1, m2, m3);
                    while (bits != 0)
                    {
                        int pos = BitOperations.TrailingZeroCount(bits);
                        bits &= bits - 1;
                        float* e = buf + 4 * 8 * (pos & 3) + (pos >> 2);
                        float den = e[0];
                        if (den > 0 && e[8] > best * den)
                        {
                            float old = best;
                            d = e[2 * 8]; best = e[3 * 8]; sh = (pos & 1) != 0;
                            if (best < old)
                            {
                                bestV = Vector256.Create(best);
                                m0 = (uint)Vector256.GreaterThan(n0 * n0, bestV * d0).ExtractMostSignificantBits();
                                m1 = (uint)Vector256.GreaterThan(n1 * n1, bestV * d1).ExtractMostSignificantBits();
                                m2 = (uint)Vector256.GreaterThan(n2 * n2, bestV * d2).ExtractMostSignificantBits();
                                m3 = (uint)Vector256.GreaterThan(n3 * n3, bestV * d3).ExtractMostSignificantBits();
                                bits = pos == 63 ? 0 : Interleave(m0, m1, m2, m3) & (~0UL << (pos + 1));
                            }
                        }
                    }
                    bestV = Vector256.Create(best);
                }
            }
            shifted = sh;
            return d;
        }
    }
}
