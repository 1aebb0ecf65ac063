using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace IQuant.Core.Kernels;

/// <summary>
/// A 32-weight block type with an fp16 scale at offset 0 (spec §6): its 32 signed integer weights, scalar (reference)
/// and AVX2. The weight is <c>d · v</c>.
/// </summary>
internal unsafe interface IBlock32
{
    static abstract int Bytes { get; }
    static abstract void Scalar(byte* blk, sbyte* dst);
    static abstract Vector256<sbyte> Values(byte* blk);
}

internal unsafe struct Q8_0Block : IBlock32
{
    public static int Bytes => 34;
    public static void Scalar(byte* blk, sbyte* dst) { for (int j = 0; j < 32; j++) dst[j] = ((sbyte*)(blk + 2))[j]; }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Values(byte* blk) => Avx.LoadVector256((sbyte*)(blk + 2));
}

internal unsafe struct Q4_0Block : IBlock32
{
    public static int Bytes => 18;
    public static void Scalar(byte* blk, sbyte* dst)
    {
        for (int j = 0; j < 16; j++) { dst[j] = (sbyte)((blk[2 + j] & 15) - 8); dst[j + 16] = (sbyte)((blk[2 + j] >> 4) - 8); }
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Values(byte* blk) => Avx2.Subtract(Avx2Util.Nibbles16(blk + 2), Vector256.Create((sbyte)8));
}

internal unsafe struct Iq4NlBlock : IBlock32
{
    public static int Bytes => 18;
    public static void Scalar(byte* blk, sbyte* dst)
    {
        var t = Tables.Iq4k;
        for (int j = 0; j < 16; j++) { dst[j] = t[blk[2 + j] & 15]; dst[j + 16] = t[blk[2 + j] >> 4]; }
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Values(byte* blk) => Avx2.Shuffle(Avx2Util.T(Avx2Util.Iq4ks), Avx2Util.Nibbles16(blk + 2));
}

internal unsafe struct Q5_0Block : IBlock32
{
    public static int Bytes => 22;
    public static void Scalar(byte* blk, sbyte* dst)
    {
        uint h = *(uint*)(blk + 2);
        byte* qs = blk + 6;
        for (int j = 0; j < 16; j++)
        {
            dst[j] = (sbyte)(((qs[j] & 15) | (int)(((h >> j) & 1) << 4)) - 16);
            dst[j + 16] = (sbyte)(((qs[j] >> 4) | (int)(((h >> (j + 16)) & 1) << 4)) - 16);
        }
    }

    private static readonly Vector256<byte> s_spread = Vector256.Create((byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    private static readonly Vector256<byte> s_bit = Vector256.Create(0x8040201008040201UL).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Values(byte* blk)
    {
        var h = Avx2.Shuffle(Vector256.Create(*(uint*)(blk + 2)).AsByte(), s_spread);
        var hb = Avx2.And(Avx2.CompareEqual(Avx2.And(h, s_bit), s_bit), Vector256.Create((byte)16));
        return Avx2.Subtract(Avx2.Or(Avx2Util.Nibbles16(blk + 6).AsByte(), hb), Vector256.Create((byte)16)).AsSByte();
    }
}

internal unsafe struct Q6_0Block : IBlock32
{
    public static int Bytes => 26;
    public static void Scalar(byte* blk, sbyte* dst)
    {
        byte* qh = blk + 2, qs = blk + 10;
        for (int j = 0; j < 16; j++)
        {
            int h = qh[j % 8] >> 4 * (j / 8);
            dst[j] = (sbyte)(((qs[j] & 15) | ((h & 3) << 4)) - 32);
            dst[j + 16] = (sbyte)(((qs[j] >> 4) | (((h >> 2) & 3) << 4)) - 32);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Values(byte* blk)
    {
        var qh = Avx2.BroadcastVector128ToVector256((ulong*)(blk + 2)).AsUInt32();   // bytes 0..7 = qh, 8..15 = qh again (only 8 bytes used)
        qh = Avx2.UnpackLow(qh.AsUInt64(), qh.AsUInt64()).AsUInt32();                  // [qh qh | qh qh]
        var hs = Avx2.ShiftRightLogicalVariable(qh, Vector256.Create(0u, 0, 4, 4, 2, 2, 6, 6));
        var hi = Avx2.ShiftLeftLogical(Avx2.And(hs.AsByte(), Vector256.Create((byte)3)).AsUInt16(), 4).AsByte();
        return Avx2.Subtract(Avx2.Or(Avx2Util.Nibbles16(blk + 10).AsByte(), hi), Vector256.Create((byte)32)).AsSByte();
    }
}
