using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using IQuant.Core.Types;

namespace IQuant.Core.Quants;

/// <summary>
/// IQ2_KS (spec §3.4): fp16 row scale, then per 256 values: extra (u16: bits 0..7 shift flags, bits 8..15 scale
/// bit 4), 4 bytes of scale nibbles, 64 bytes of 2-bit iq2nl indices. Two encoders: the default is ik's AVX2
/// "fast" path (§4.8, explicit FMAs; what x86 llama-quantize writes), variant "scalar" is the reference path
/// (§4.3, <c>--slow-iq2ks</c>, non-AVX2 builds). Both produce valid files; they differ in bytes.
/// </summary>
public sealed class Iq2KsCodec : QuantCodec
{
    private const int BlockBytes = 70;
    private readonly bool _scalarPath;

    /// <summary>Creates the default (AVX2-path) encoder, or the scalar reference encoder.</summary>
    public Iq2KsCodec(bool scalarPath = false) => _scalarPath = scalarPath;

    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.IQ2_KS;

    /// <inheritdoc/>
    public override string Variant => _scalarPath ? "scalar" : "default";

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
        KsBlocks.PrepareRow(x, qw, KsSigma.OnePointFive, KsNoImatrixWeight.QuarterSigmaPlusSquare, w, s.Max, s.Amax, s.Sw);
        var scales = s.Scales.AsSpan(0, nsub);
        var shifted = s.Shifted.AsSpan(0, nsub);
        if (_scalarPath) Iq2KsSearch.PartitionRow(x, w, s.Amax, scales, shifted, level);
        else Iq2KsSearch.FastRow(x, w, s.Max, s.Amax, scales, shifted, level);

        dst.Clear();
        var blocks = dst[2..];
        for (int i = 0; i < nsub; i++)
            if (shifted[i]) blocks[BlockBytes * (i >> 3)] |= (byte)(1 << (i & 7));
        var L = s.L.AsSpan(0, nsub);
        float dRow = KsBlocks.MakeQxQuants(16, scales, s.Sw.AsSpan(0, nsub), L);
        if (dRow == 0) return;
        if (_scalarPath) Pass2Scalar(x, w, dRow, L, shifted, dst);
        else if (level >= SimdLevel.Avx2) Pass2FastV(x, w, dRow, scales, L, shifted, dst);
        else Pass2Fast(x, w, dRow, scales, L, shifted, dst);
    }

    private static void StoreScale(Span<byte> blk, int ib, int u)
    {
        blk[2 + (ib >> 1)] |= (byte)((u & 15) << (4 * (ib & 1)));
        blk[1] |= (byte)((u >> 4) << ib);
    }

    private static void Pass2Scalar(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float dRow, ReadOnlySpan<int> L,
        ReadOnlySpan<bool> shifted, Span<byte> dst)
    {
        var blocks = dst[2..];
        ReadOnlySpan<sbyte> tab = KsTables.Iq2nl;
        float sumqx = 0, sumq2 = 0;
        for (int i = 0; i < L.Length; i++)
        {
            var blk = blocks.Slice(BlockBytes * (i >> 3), BlockBytes);
            int ib = i & 7;
            int u = L[i];
            StoreScale(blk, ib, u);
            int ls = u - 16;
            float dl = dRow * ls;
            if (dl == 0) continue;
            var T = shifted[i] ? tab[4..] : tab[..4];
            float idl = 1 / dl;
            var xs = x.Slice(32 * i, 32);
            var ws = w.Slice(32 * i, 32);
            var qs = blk.Slice(6 + 32 * (ib >> 2), 32);
            int sh = 2 * (ib & 3);
            for (int j = 0; j < 32; j++)
            {
                int k = KsMath.Bi2(T, idl * xs[j]);
                qs[j] |= (byte)(k << sh);
                float q = T[k] * ls;
                float wq = ws[j] * q;
                sumqx = sumqx + wq * xs[j];
                sumq2 = sumq2 + wq * q;
            }
        }
        KsMath.WriteU16(dst, Fp16.FromFloat(1.030f * (sumq2 > 0 ? sumqx / sumq2 : dRow)));
    }

    private static void Pass2Fast(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float dRow, ReadOnlySpan<float> scales,
        Span<int> L, ReadOnlySpan<bool> shifted, Span<byte> dst)
    {
        var blocks = dst[2..];
        Span<float> A = stackalloc float[8];
        Span<float> B = stackalloc float[8];
        Span<byte> idx = stackalloc byte[32];
        Span<byte> idx2 = stackalloc byte[32];
        Span<float> V = stackalloc float[4];
        ReadOnlySpan<sbyte> tab = KsTables.Iq2nl;
        for (int i = 0; i < L.Length; i++)
        {
            var blk = blocks.Slice(BlockBytes * (i >> 3), BlockBytes);
            int ib = i & 7;
            int off = shifted[i] ? 4 : 0;
            for (int k = 0; k < 4; k++) V[k] = tab[off + k];
            var xs = x.Slice(32 * i, 32);
            var ws = w.Slice(32 * i, 32);
            int Li = L[i];
            float dl = dRow * (Li - 16);
            float e1 = Iq2KsSearch.Rmse(dl, xs, ws, V, idx);
            if (Li > 0 && dl > scales[i])
            {
                float e2 = Iq2KsSearch.Rmse(dRow * (Li - 17), xs, ws, V, idx2);
                if (e2 < e1) { Li--; idx2.CopyTo(idx); }
            }
            else if (Li < 15 && dl < scales[i])
            {
                float e2 = Iq2KsSearch.Rmse(dRow * (Li - 15), xs, ws, V, idx2);
                if (e2 < e1) { Li++; idx2.CopyTo(idx); }
            }
            float g = Li - 16;
            for (int e = 0; e < 32; e++)
            {
                float q = g * V[idx[e]];
                float t = ws[e] * q;
                A[e & 7] = MathF.FusedMultiplyAdd(t, xs[e], A[e & 7]);
                B[e & 7] = MathF.FusedMultiplyAdd(t, q, B[e & 7]);
            }
            StoreScale(blk, ib, Li);
            var qs = blk.Slice(6 + 32 * (ib >> 2), 32);
            int sh = 2 * (ib & 3);
            for (int j = 0; j < 32; j++) qs[j] |= (byte)(idx[j] << sh);
        }
        float sx = Iq2KsSearch.HSum(A), s2 = Iq2KsSearch.HSum(B);
        KsMath.WriteU16(dst, Fp16.FromFloat(s2 > 0 ? sx / s2 : dRow));
    }

    /// <summary>Pass 2 of §4.8 with Vector256 in the reference's own layout (lane l = element 8k + l).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Pass2FastV(ReadOnlySpan<float> x, ReadOnlySpan<float> w, float dRow, ReadOnlySpan<float> scales,
        Span<int> L, ReadOnlySpan<bool> shifted, Span<byte> dst)
    {
        var blocks = dst[2..];
        var A = Vector256<float>.Zero;
        var B = Vector256<float>.Zero;
        byte* idx = stackalloc byte[32];
        byte* idx2 = stackalloc byte[32];
        fixed (float* px = x, pw = w)
        {
            for (int i = 0; i < L.Length; i++)
            {
                var blk = blocks.Slice(BlockBytes * (i >> 3), BlockBytes);
                int ib = i & 7;
                bool sh = shifted[i];
                float* xs = px + 32 * i;
                float* ws = pw + 32 * i;
                int Li = L[i];
                float dl = dRow * (Li - 16);
                float e1 = Iq2KsSearch.RmseV(dl, xs, ws, sh, idx);
                if (Li > 0 && dl > scales[i])
                {
                    float e2 = Iq2KsSearch.RmseV(dRow * (Li - 17), xs, ws, sh, idx2);
                    if (e2 < e1) { Li--; *(Vector256<byte>*)idx = *(Vector256<byte>*)idx2; }
                }
                else if (Li < 15 && dl < scales[i])
                {
                    float e2 = Iq2KsSearch.RmseV(dRow * (Li - 15), xs, ws, sh, idx2);
                    if (e2 < e1) { Li++; *(Vector256<byte>*)idx = *(Vector256<byte>*)idx2; }
                }
                var g = Vector256.Create((float)(Li - 16));
                var tv = sh ? Vector256.Create(-26f, -8f, 6f, 22f, 0, 0, 0, 0) : Vector256.Create(-31f, -13f, 1f, 17f, 0, 0, 0, 0);
                for (int k = 0; k < 4; k++)
                {
                    var iv = System.Runtime.Intrinsics.X86.Avx2.ConvertToVector256Int32(idx + 8 * k);
                    var q = g * System.Runtime.Intrinsics.X86.Avx2.PermuteVar8x32(tv, iv);
                    var xv = Vector256.Load(xs + 8 * k);
                    var t = Vector256.Load(ws + 8 * k) * q;
                    A = Vector256.FusedMultiplyAdd(t, xv, A);
                    B = Vector256.FusedMultiplyAdd(t, q, B);
                }
                StoreScale(blk, ib, Li);
                var qs = blk.Slice(6 + 32 * (ib >> 2), 32);
                int shf = 2 * (ib & 3);
                var cur = Vector256.Create<byte>(qs);
                (cur | (Vector256.Load(idx) << shf)).CopyTo(qs);
            }
        }
        float sx = ((A[0] + A[4]) + (A[2] + A[6])) + ((A[1] + A[5]) + (A[3] + A[7]));
        float s2 = ((B[0] + B[4]) + (B[2] + B[6])) + ((B[1] + B[5]) + (B[3] + B[7]));
        KsMath.WriteU16(dst, Fp16.FromFloat(s2 > 0 ? sx / s2 : dRow));
    }

    /// <inheritdoc/>
    public override void DequantizeRow(ReadOnlySpan<byte> src, Span<float> y)
    {
        if (SimdPolicy.Current >= SimdLevel.Avx2) { DequantizeV(src, y); return; }
        float d = Fp16.ToFloat(KsMath.ReadU16(src));
        ReadOnlySpan<sbyte> tab = KsTables.Iq2nl;
        int nsub = y.Length / 32;
        Span<float> lut = stackalloc float[4];
        for (int i = 0; i < nsub; i++)
        {
            var blk = src.Slice(2 + BlockBytes * (i >> 3), BlockBytes);
            int ib = i & 7;
            int extra = KsMath.ReadU16(blk);
            int ls = (((blk[2 + (ib >> 1)] >> (4 * (ib & 1))) & 15) | (((extra >> (8 + ib)) & 1) << 4)) - 16;
            float dl = d * ls;
            int off = ((extra >> ib) & 1) != 0 ? 4 : 0;
            for (int k = 0; k < 4; k++) lut[k] = dl * tab[off + k];
            var qs = blk.Slice(6 + 32 * (ib >> 2), 32);
            int sh = 2 * (ib & 3);
            var ys = y.Slice(32 * i, 32);
            for (int j = 0; j < 32; j++) ys[j] = lut[(qs[j] >> sh) & 3];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DequantizeV(ReadOnlySpan<byte> src, Span<float> y)
    {
        float d = Fp16.ToFloat(KsMath.ReadU16(src));
        int nsub = y.Length / 32;
        var tn = Vector256.Create(-31f, -13f, 1f, 17f, 0, 0, 0, 0);
        var ts = Vector256.Create(-26f, -8f, 6f, 22f, 0, 0, 0, 0);
        var m3 = Vector256.Create(3);
        fixed (byte* ps = src) fixed (float* py = y)
        {
            for (int i = 0; i < nsub; i++)
            {
                byte* blk = ps + 2 + BlockBytes * (i >> 3);
                int ib = i & 7;
                int extra = blk[0] | (blk[1] << 8);
                int ls = (((blk[2 + (ib >> 1)] >> (4 * (ib & 1))) & 15) | (((extra >> (8 + ib)) & 1) << 4)) - 16;
                var lut = Vector256.Create(d * ls) * (((extra >> ib) & 1) != 0 ? ts : tn);
                byte* qs = blk + 6 + 32 * (ib >> 2);
                int sh = 2 * (ib & 3);
                float* ys = py + 32 * i;
                for (int h = 0; h < 32; h += 8)
                    System.Runtime.Intrinsics.X86.Avx2.PermuteVar8x32(lut,
                        (System.Runtime.Intrinsics.X86.Avx2.ConvertToVector256Int32(qs + h) >>> sh) & m3).Store(ys + h);
            }
        }
    }
}
