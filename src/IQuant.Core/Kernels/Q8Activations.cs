using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using IQuant.Core.Quants;

namespace IQuant.Core.Kernels;

/// <summary>
/// Activation quantization for the integer dot products (spec §5.2/§5.3, AVX2 semantics of ik's
/// <c>iqk_quantize_row_q8_K</c>): per block <c>amax = max|x|</c>, <c>d = amax/127</c>,
/// <c>id = amax != 0 ? 127/amax : 0</c>, <c>q = round_half_even(id*x)</c> (one f32 product), so |q| ≤ 127.
/// Every SIMD level produces identical bytes (the math is a max, one product and a rounding).
/// </summary>
public static unsafe class Q8Activations
{
    /// <summary>Bytes of one Q8_K block (ik layout): f32 d, f32 sum, 256 × i8 qs, 16 × i16 bsums.</summary>
    public const int Q8KBlockBytes = 296;

    /// <summary>Offset of qs within a Q8_K block.</summary>
    public const int Q8KQs = 8;

    /// <summary>Offset of bsums within a Q8_K block.</summary>
    public const int Q8KBsums = 264;

    /// <summary>
    /// Bytes of one internal Q8_0 activation row of <paramref name="nBlocks"/> blocks of 32: the f32 scales first
    /// (padded to a multiple of 8 with zeros), then the 32·nBlocks int8 values.
    /// </summary>
    public static long Q80RowBytes(int nBlocks) => 4L * ((nBlocks + 7) & ~7) + 32L * nBlocks;

    /// <summary>Offset of the int8 values in a Q8_0 activation row.</summary>
    public static int Q80Qs(int nBlocks) => 4 * ((nBlocks + 7) & ~7);

    /// <summary>Quantizes <c>x.Length</c> (a multiple of 256) values to Q8_K blocks in <paramref name="dst"/>.</summary>
    public static void QuantizeQ8K(ReadOnlySpan<float> x, Span<byte> dst)
    {
        if (x.Length % 256 != 0) throw new ArgumentException("Length must be a multiple of 256.", nameof(x));
        if (dst.Length < x.Length / 256 * Q8KBlockBytes) throw new ArgumentException("Destination too small.", nameof(dst));
        fixed (float* px = x) fixed (byte* pd = dst) QuantizeQ8K(px, x.Length / 256, pd, SimdPolicy.Current);
    }

    /// <summary>Quantizes <c>x.Length</c> (a multiple of 32) values to one internal Q8_0 row (see <see cref="Q80RowBytes"/>).</summary>
    public static void QuantizeQ80(ReadOnlySpan<float> x, Span<byte> dst)
    {
        if (x.Length % 32 != 0) throw new ArgumentException("Length must be a multiple of 32.", nameof(x));
        if (dst.Length < Q80RowBytes(x.Length / 32)) throw new ArgumentException("Destination too small.", nameof(dst));
        fixed (float* px = x) fixed (byte* pd = dst) QuantizeQ80(px, x.Length / 32, pd, SimdPolicy.Current);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void QuantizeQ8K(float* x, int nBlocks, byte* dst, SimdLevel level)
    {
        for (int b = 0; b < nBlocks; b++, x += 256, dst += Q8KBlockBytes)
        {
            float amax = level == SimdLevel.Scalar ? AbsMaxScalar(x, 256) : AbsMaxAvx2(x, 256);
            float d = amax / 127f;
            float id = amax != 0 ? 127f / amax : 0f;
            sbyte* q = (sbyte*)(dst + Q8KQs);
            short* bs = (short*)(dst + Q8KBsums);
            int total = 0;
            if (level == SimdLevel.Scalar)
            {
                for (int g = 0; g < 16; g++)
                {
                    int s = 0;
                    for (int j = 0; j < 16; j++)
                    {
                        int v = (int)MathF.Round(id * x[16 * g + j]);
                        q[16 * g + j] = (sbyte)v;
                        s += v;
                    }
                    bs[g] = (short)s;
                    total += s;
                }
            }
            else
            {
                var vid = Vector256.Create(id);
                for (int g = 0; g < 8; g++)
                {
                    var i0 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.Multiply(vid, Avx.LoadVector256(x + 32 * g))));
                    var i1 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.Multiply(vid, Avx.LoadVector256(x + 32 * g + 8))));
                    var i2 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.Multiply(vid, Avx.LoadVector256(x + 32 * g + 16))));
                    var i3 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.Multiply(vid, Avx.LoadVector256(x + 32 * g + 24))));
                    var p = Avx2.PackSignedSaturate(Avx2.PackSignedSaturate(i0, i1), Avx2.PackSignedSaturate(i2, i3));
                    p = Avx2.PermuteVar8x32(p.AsInt32(), Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsSByte();
                    Avx.Store(q + 32 * g, p);
                    int s0 = HSum(Avx2.Add(i0, i1)), s1 = HSum(Avx2.Add(i2, i3));
                    bs[2 * g] = (short)s0;
                    bs[2 * g + 1] = (short)s1;
                    total += s0 + s1;
                }
            }
            *(float*)dst = d;
            *(float*)(dst + 4) = d * total;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void QuantizeQ80(float* x, int nBlocks, byte* dst, SimdLevel level)
    {
        float* ds = (float*)dst;
        for (int b = nBlocks; b < ((nBlocks + 7) & ~7); b++) ds[b] = 0;
        sbyte* q = (sbyte*)(dst + Q80Qs(nBlocks));
        for (int b = 0; b < nBlocks; b++, x += 32, q += 32)
        {
            float amax = level == SimdLevel.Scalar ? AbsMaxScalar(x, 32) : AbsMaxAvx2(x, 32);
            float id = amax != 0 ? 127f / amax : 0f;
            ds[b] = amax / 127f;
            if (level == SimdLevel.Scalar)
            {
                for (int j = 0; j < 32; j++) q[j] = (sbyte)(int)MathF.Round(id * x[j]);
            }
            else
            {
                var vid = Vector256.Create(id);
                var i0 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.Multiply(vid, Avx.LoadVector256(x))));
                var i1 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.Multiply(vid, Avx.LoadVector256(x + 8))));
                var i2 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.Multiply(vid, Avx.LoadVector256(x + 16))));
                var i3 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(Avx.Multiply(vid, Avx.LoadVector256(x + 24))));
                var p = Avx2.PackSignedSaturate(Avx2.PackSignedSaturate(i0, i1), Avx2.PackSignedSaturate(i2, i3));
                p = Avx2.PermuteVar8x32(p.AsInt32(), Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsSByte();
                Avx.Store(q, p);
            }
        }
    }

    private static float AbsMaxScalar(float* x, int n)
    {
        float m = 0;
        for (int j = 0; j < n; j++) m = MathF.Max(m, MathF.Abs(x[j]));
        return m;
    }

    private static float AbsMaxAvx2(float* x, int n)
    {
        var mask = Vector256.Create(0x7FFFFFFF).AsSingle();
        var m = Vector256<float>.Zero;
        for (int j = 0; j < n; j += 8) m = Avx.Max(m, Avx.And(mask, Avx.LoadVector256(x + j)));
        var h = Sse.Max(m.GetLower(), m.GetUpper());
        h = Sse.Max(h, Sse.MoveHighToLow(h, h));
        h = Sse.Max(h, Sse.Shuffle(h, h, 1));
        return h.ToScalar();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int HSum(Vector256<int> v)
    {
        var h = Sse2.Add(v.GetLower(), v.GetUpper());
        h = Sse2.Add(h, Sse2.Shuffle(h, 0x4E));
        h = Sse2.Add(h, Sse2.Shuffle(h, 0xB1));
        return h.ToScalar();
    }
}
