using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using IQuant.Core.Types;

namespace IQuant.Core.Quants;

/// <summary>
/// IQ4_KSS (spec §3.12, §4.12): f32 row scale, then per 256 values 64 u16 words; each 32-value sub-block has 8
/// words carrying a 15-bit Gray-coded group of four 4-bit iq4k indices and one bit of the sub-block scale byte.
/// </summary>
public sealed class Iq4KssCodec : QuantCodec
{
    private const int BlockBytes = 128;

    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.IQ4_KSS;

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
        KsBlocks.PrepareRow(x, qw, KsSigma.Two, KsNoImatrixWeight.Square, w, s.Max, s.Amax, default);
        var tab = KsTable.Iq4;
        var scales = s.Scales.AsSpan(0, nsub);
        if (level >= SimdLevel.Avx2) Iq4KssSimd.ScanRow(x, w, s.Max, s.Amax, scales, level);
        else Iq4KssSearch.ScanRow(x, w, s.Max, s.Amax, scales, level);

        dst.Clear();
        float amax = 0;
        for (int i = 0; i < nsub; i++)
        {
            float a = MathF.Abs(scales[i]);
            if (a > amax) amax = a;
        }
        float dRow = amax / 127;
        KsMath.WriteF32(dst, dRow);
        if (dRow == 0) return;
        float id = 1 / dRow;
        var ls = s.L.AsSpan(0, nsub);
        var vsel = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(s.Idx.AsSpan(0, n / 2));
        var shv = s.Shifted.AsSpan(0, nsub);
        if (level >= SimdLevel.Avx2) Iq4KssSimd.Pass2(x, w, scales, dRow, id, ls, vsel, shv, level);
        else Pass2Scalar(x, w, scales, dRow, id, ls, vsel, shv);
        var N = tab.NormalI; var S = tab.ShiftedI;
        float sumqx = 0, sumq2 = 0;
        Span<float> xv = stackalloc float[4];
        Span<float> wv = stackalloc float[4];
        for (int i = 0; i < nsub; i++)
        {
            var xs = x.Slice(32 * i, 32);
            var ws = w.Slice(32 * i, 32);
            int l = ls[i];
            bool sh = shv[i];
            var T = sh ? S : N;
            var v = vsel.Slice(8 * i, 8);
            for (int k = 0; k < 8; k++)
            {
                Iq4KssSearch.Group(xs, ws, k, xv, wv);
                for (int j = 0; j < 4; j++)
                {
                    float q = T[(v[k] >> (4 * j)) & 15] * l;
                    float wq = wv[j] * q;
                    sumqx = sumqx + wq * xv[j];
                    sumq2 = sumq2 + wq * q;
                }
            }
            int sb = (l + 127) | (sh ? 1 : 0);
            var q16 = dst.Slice(4 + BlockBytes * (i >> 3) + 16 * (i & 7), 16);
            for (int k = 0; k < 8; k++)
                KsMath.WriteU16(q16[(2 * k)..], (ushort)((GrayInverse(v[k]) << 1) | ((sb >> k) & 1)));
        }
        if (sumq2 > 0) KsMath.WriteF32(dst, (sumqx / sumq2) * 1.01f);
    }

    /// <summary>Pass-2 choice per sub-block (scalar reference): odd scale, pruned index words, table with smaller error.</summary>
    private static void Pass2Scalar(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> scales, float dRow, float id,
        Span<int> lsOut, Span<ushort> vOut, Span<bool> shOut)
    {
        var tab = KsTable.Iq4;
        var N = tab.NormalI; var S = tab.ShiftedI;
        Span<ushort> vps = stackalloc ushort[8];
        Span<ushort> vms = stackalloc ushort[8];
        Span<float> xv = stackalloc float[4];
        Span<float> wv = stackalloc float[4];
        for (int i = 0; i < lsOut.Length; i++)
        {
            int l = KsMath.NearestInt(0.5f * (id * scales[i] + 127f));
            l = (Math.Clamp(l, 0, 127) << 1) - 127;
            float dl = dRow * l;
            float idl = 1 / dl;
            var xs = x.Slice(32 * i, 32);
            var ws = w.Slice(32 * i, 32);
            float mseP = 0, mseM = 0;
            for (int k = 0; k < 8; k++)
            {
                Iq4KssSearch.Group(xs, ws, k, xv, wv);
                int vp = 0, vm = 0;
                for (int j = 0; j < 4; j++)
                {
                    float al = idl * xv[j];
                    vp |= tab.Bi(N, al) << (4 * j);
                    vm |= tab.Bi(S, al) << (4 * j);
                }
                vp = Iq4KssSearch.Prune(vp, N, xv, wv, dl);
                vm = Iq4KssSearch.Prune(vm, S, xv, wv, dl);
                for (int j = 0; j < 4; j++)
                {
                    float q = N[(vp >> (4 * j)) & 15];
                    float e = xv[j] - dl * q;
                    mseP = mseP + (wv[j] * e) * e;
                    q = S[(vm >> (4 * j)) & 15];
                    e = xv[j] - dl * q;
                    mseM = mseM + (wv[j] * e) * e;
                }
                vps[k] = (ushort)vp; vms[k] = (ushort)vm;
            }
            bool sh = mseM < mseP;
            lsOut[i] = l;
            shOut[i] = sh;
            (sh ? vms : vps).CopyTo(vOut.Slice(8 * i, 8));
        }
    }

    /// <summary>The 15-bit code c with c XOR (c &lt;&lt; 1) == v for an even-parity 16-bit v (bit i = XOR of bits 0..i).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int GrayInverse(int v)
    {
        int c = v;
        c ^= c << 1; c ^= c << 2; c ^= c << 4; c ^= c << 8;
        return c & 0x7FFF;
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
            var q16 = src.Slice(4 + BlockBytes * (i >> 3) + 16 * (i & 7), 16);
            int sb = 0;
            for (int k = 0; k < 8; k++) sb |= (q16[2 * k] & 1) << k;
            float dl = d * ((sb & 254) - 127);
            var T = tab.Values((sb & 1) != 0);
            for (int k = 0; k < 16; k++) lut[k] = dl * T[k];
            var ys = y.Slice(32 * i, 32);
            for (int k = 0; k < 8; k++)
            {
                int v = KsMath.ReadU16(q16[(2 * k)..]) & 0xFFFE;
                v ^= v >> 1;
                ys[2 * k] = lut[v & 15];
                ys[2 * k + 16] = lut[(v >> 4) & 15];
                ys[2 * k + 1] = lut[(v >> 8) & 15];
                ys[2 * k + 17] = lut[(v >> 12) & 15];
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
        byte* b = stackalloc byte[16];
        fixed (byte* ps = src) fixed (float* py = y)
        {
            for (int i = 0; i < nsub; i++)
            {
                ushort* q16 = (ushort*)(ps + 4 + BlockBytes * (i >> 3) + 16 * (i & 7));
                // words -> scale byte (bit 0 of each word) and the 16 index bytes (v = c ^ (c << 1) of the 15-bit code)
                var wv = Vector128.Load(q16);
                int sb = (int)Vector128.ExtractMostSignificantBits(wv << 15);
                var v = wv & Vector128.Create((ushort)0xFFFE);
                v ^= v >>> 1;
                v.AsByte().Store(b);
                var dl = Vector256.Create(d * ((sb & 254) - 127));
                ref readonly var t = ref ((sb & 1) != 0 ? ref vt.S256 : ref vt.N256);
                var l0 = dl * t.V0; var l1 = dl * t.V1;
                float* ys = py + 32 * i;
                var q0 = Avx2.ConvertToVector256Int32(b);
                var q1 = Avx2.ConvertToVector256Int32(b + 8);
                KsV.Lookup16(l0, l1, q0 & m15).Store(ys);
                KsV.Lookup16(l0, l1, q1 & m15).Store(ys + 8);
                KsV.Lookup16(l0, l1, q0 >>> 4).Store(ys + 16);
                KsV.Lookup16(l0, l1, q1 >>> 4).Store(ys + 24);
            }
        }
    }
}

/// <summary>Pass 1 of IQ4_KSS (spec §4.12).</summary>
internal static class Iq4KssSearch
{
    /// <summary>Group k of a sub-block: (x[2k], x[2k+16], x[2k+1], x[2k+17]) and the matching weights.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Group(ReadOnlySpan<float> xs, ReadOnlySpan<float> ws, int k, Span<float> xv, Span<float> wv)
    {
        xv[0] = xs[2 * k]; xv[1] = xs[2 * k + 16]; xv[2] = xs[2 * k + 1]; xv[3] = xs[2 * k + 17];
        wv[0] = ws[2 * k]; wv[1] = ws[2 * k + 16]; wv[2] = ws[2 * k + 1]; wv[3] = ws[2 * k + 17];
    }

    /// <summary>Prune of §4.12: makes the popcount of the group's 16 index bits even (diff0 uses the normal table).</summary>
    public static int Prune(int v, sbyte[] tab, ReadOnlySpan<float> xv, ReadOnlySpan<float> wv, float dl)
    {
        if ((BitOperations.PopCount((uint)v) & 1) == 0) return v;
        var normal = KsTable.Iq4.NormalI;
        float best = float.MaxValue;
        int jbest = -1, bestq = 0;
        for (int j = 0; j < 4; j++)
        {
            int q = (v >> (4 * j)) & 15;
            int pc = BitOperations.PopCount((uint)q);
            float diff0 = dl * normal[q] - xv[j];
            int qmin = Math.Max(q - 2, 0), qmax = Math.Min(q + 2, 15);
            for (int qq = qmin; qq <= qmax; qq++)
            {
                if (qq == q) continue;
                if (((BitOperations.PopCount((uint)qq) - pc) & 1) == 0) continue;
                float diff1 = dl * tab[qq] - xv[j];
                float score = wv[j] * ((diff1 * diff1) - (diff0 * diff0));
                if (score < best) { best = score; jbest = j; bestq = qq; }
            }
        }
        if (jbest < 0) return v;
        return (v & ~(15 << (4 * jbest))) | (bestq << (4 * jbest));
    }

    /// <summary>Float scale of every sub-block (empty ones get 0).</summary>
    public static void ScanRow(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> max, ReadOnlySpan<float> amax,
        Span<float> scales, SimdLevel level)
    {
        var tab = KsTable.Iq4;
        Span<float> xv = stackalloc float[4];
        Span<float> wv = stackalloc float[4];
        for (int i = 0; i < scales.Length; i++)
        {
            if (amax[i] < 1e-16f) { scales[i] = 0; continue; }
            var xs = x.Slice(32 * i, 32);
            var ws = w.Slice(32 * i, 32);
            float m = max[i];
            float best = 0, d = -m / tab.NormalI[0];
            for (int itry = -7; itry <= 7; itry++)
            {
                for (int h = 0; h < 2; h++)
                {
                    var T = tab.ValuesI(h == 1);
                    float id = (itry + T[0]) / m;
                    float td = 1 / id;
                    float sp = 0, qp = 0, sm = 0, qm = 0;
                    for (int k = 0; k < 8; k++)
                    {
                        Group(xs, ws, k, xv, wv);
                        int vp = 0, vm = 0;
                        for (int j = 0; j < 4; j++)
                        {
                            float al = id * xv[j];
                            vp |= tab.Bi(T, al) << (4 * j);
                            vm |= tab.Bi(T, -al) << (4 * j);
                        }
                        vp = Prune(vp, T, xv, wv, td);
                        vm = Prune(vm, T, xv, wv, td);
                        for (int j = 0; j < 4; j++)
                        {
                            float q = T[(vp >> (4 * j)) & 15];
                            float wq = wv[j] * q;
                            sp = sp + wq * xv[j];
                            qp = qp + wq * q;
                            q = T[(vm >> (4 * j)) & 15];
                            wq = wv[j] * q;
                            sm = sm + wq * xv[j];
                            qm = qm + wq * q;
                        }
                    }
                    if (qp > 0 && sp * sp > best * qp) { d = sp / qp; best = d * sp; }
                    if (qm > 0 && sm * sm > best * qm) { d = sm / qm; best = d * sm; }
                }
            }
            scales[i] = d;
        }
    }
}
