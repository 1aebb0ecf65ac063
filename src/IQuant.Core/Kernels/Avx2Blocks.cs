using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using IQuant.Core.Quants;

// Shift counts and table offsets derive from the sub-block index k, which is a constant after the fused kernels'
// unrolled steps are inlined, so the JIT emits immediate forms.
#pragma warning disable CA1857

namespace IQuant.Core.Kernels;

/// <summary>
/// An AVX2 view of one weight super-block (spec §3/§6): after <see cref="Begin"/>, <see cref="Values"/>(k) returns the
/// 32 signed table values (shift applied) of weights 32k..32k+31 and <see cref="Ls16"/> the 16 integer sub-block scales
/// (one per 16 weights). Implemented by structs so the generic kernels are specialised and inlined per type.
/// Must agree exactly with <see cref="DecodeScalar"/>.
/// </summary>
internal unsafe interface IAvx2Block
{
    /// <summary>True for the K-quants with a min term (Q2_K, Q4_K, Q5_K).</summary>
    bool HasMin { get; }
    /// <summary>True if the scale is constant over 32 weights (Ls16 pairs are equal).</summary>
    bool Sub32 { get; }
    /// <summary>
    /// True if <see cref="Values"/> returns the normal table and the shift is applied through the activation block sums:
    /// <c>Σ (v + c)·q = Σ v·q + c·Σq</c>, i.e. <c>isum += Σ_g Corr16[g]·bsums[g]</c> with <c>Corr16 = Ls16·c·shift</c>.
    /// </summary>
    bool HasCorr { get; }
    Vector256<short> Corr16 { get; }
    /// <summary>
    /// True if <see cref="Values"/> returns unsigned values <c>u = v + o</c> small enough for an exact
    /// <c>pmaddubsw(u, q)</c> (2·max u·127 ≤ 32767); the offset is removed through <see cref="Corr16"/> (−o·Ls16).
    /// Otherwise the values are signed and the kernels use <c>pmaddubsw(|v|, sign(q, v))</c>.
    /// </summary>
    bool Unsigned { get; }
    /// <summary>Reads the scales of super-block <paramref name="b"/> of the row starting at <paramref name="row"/>.</summary>
    void Begin(byte* row, int b);
    float D { get; }
    float DMin { get; }
    Vector256<short> Ls16 { get; }
    Vector256<short> M16 { get; }
    Vector256<sbyte> Values(int k);
    /// <summary>Weights 64·k2 .. 64·k2+63 as one zmm (same values as Values(2·k2), Values(2·k2+1)).</summary>
    Vector512<sbyte> Values512(int k2);
}

/// <summary>Shared tables and bit helpers of the AVX2 blocks.</summary>
internal static unsafe class Avx2Util
{
    public static readonly sbyte* Tab = BuildTables();
    public const int Iq4ks = 0;        // iq4k normal table, both lanes
    public const int Iq2ks = 32;       // iq2nl normal + 32 (4 entries, unsigned)
    public const int Iq3ks = 64;       // iq3nl normal + 64 (8 entries, unsigned)
    public const int Iq5lo = 96;       // iq5nl normal entries 0..15, both lanes
    public const int Iq5hi = 128;      // iq5nl normal entries 16..31
    public const int Iq6 = 160;        // 4 ymm: iq6nl entries 0..15, 16..31, 32..47, 48..63 (both lanes)
    public const int Iq6Hi = 288;      // iq6nl entries 32..63 as one 32-byte table (for vpermi2b)
    public const int Kl = 320;         // IQ2_KL: 32 first values, then 32 second values (each + 64, unsigned)
    public const int Iq6Lo = 384;      // iq6nl entries 0..31 as one 32-byte table
    private const int Size = 416;

    private static sbyte* BuildTables()
    {
        var t = (sbyte*)NativeMemory.AlignedAlloc(Size, 64);
        NativeMemory.Clear(t, Size);
        void Fill(int off, ReadOnlySpan<sbyte> lane)
        {
            for (int i = 0; i < 16; i++) t[off + i] = t[off + 16 + i] = i < lane.Length ? lane[i] : (sbyte)0;
        }
        var q4 = Tables.Iq4k; var q2 = Tables.Iq2nl; var q3 = Tables.Iq3nl; var q5 = Tables.Iq5nl; var q6 = Tables.Iq6nl;
        Fill(Iq4ks, q4[..16]);
        Span<sbyte> u = stackalloc sbyte[8];
        for (int i = 0; i < 4; i++) u[i] = (sbyte)(q2[i] + 32);
        Fill(Iq2ks, u[..4]);
        for (int i = 0; i < 8; i++) u[i] = (sbyte)(q3[i] + 64);
        Fill(Iq3ks, u[..8]);
        Fill(Iq5lo, q5[..16]); Fill(Iq5hi, q5[16..32]);
        for (int k = 0; k < 4; k++) Fill(Iq6 + 32 * k, q6.Slice(16 * k, 16));
        for (int i = 0; i < 32; i++) { t[Iq6Lo + i] = q6[i]; t[Iq6Hi + i] = q6[32 + i]; }
        var kl = Tables.Iq2klPairs;
        for (int i = 0; i < 32; i++) { t[Kl + i] = (sbyte)((sbyte)(kl[i] & 0xFF) + 64); t[Kl + 32 + i] = (sbyte)((sbyte)(kl[i] >> 8) + 64); }
        return t;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> T(int off) => Avx.LoadAlignedVector256(Tab + off);

    /// <summary>A 32-byte table broadcast to both halves of a zmm.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<sbyte> T512(int off) => Avx512F.BroadcastVector256ToVector512((long*)(Tab + off)).AsSByte();

    private static readonly Vector512<long> s_lanes2 = Vector512.Create(0L, 1, 0, 1, 2, 3, 2, 3);
    private static readonly Vector512<ulong> s_shift2 = Vector512.Create(0UL, 0, 4, 4, 0, 0, 4, 4);

    /// <summary>32 bytes (two 16-byte groups A, B) → 64 nibbles: [A low | A high | B low | B high] (128-bit lanes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<sbyte> Nibbles32(byte* p)
    {
        var v = Avx512F.PermuteVar8x64(Vector512.Create(Avx.LoadVector256((long*)p), Vector256<long>.Zero), s_lanes2);
        return Avx512F.And(Avx512F.ShiftRightLogicalVariable(v.AsUInt64(), s_shift2).AsSByte(), Vector512.Create((sbyte)15));
    }

    /// <summary>16 bytes → 32 nibbles: lane 0 = low nibbles, lane 1 = high nibbles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Nibbles16(byte* p) =>
        Avx2.And(Avx2.ShiftRightLogicalVariable(Avx2.BroadcastVector128ToVector256(p).AsUInt32(), Vector256.Create(0u, 0, 0, 0, 4, 4, 4, 4)).AsSByte(),
            Vector256.Create((sbyte)15));

    /// <summary>Bytes b0..b7 (low half of <paramref name="v"/>) → int16 [b0 b0 b1 b1 … b7 b7] (zero-extended).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> Dup8(Vector128<byte> v) => Avx2.ConvertToVector256Int16(Sse2.UnpackLow(v, v));

    /// <summary>The 8 nibbles of a u32, low nibble of byte 0 first.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Nibbles8(uint u) => Vector128.CreateScalar(Bmi2.X64.ParallelBitDeposit(u, 0x0F0F0F0F0F0F0F0FUL)).AsByte();

    /// <summary>The 16 nibbles of a u64, low nibble of byte 0 first.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Nibbles16(ulong u) =>
        Vector128.Create(Bmi2.X64.ParallelBitDeposit(u & 0xFFFFFFFF, 0x0F0F0F0F0F0F0F0FUL), Bmi2.X64.ParallelBitDeposit(u >> 32, 0x0F0F0F0F0F0F0F0FUL)).AsByte();

    /// <summary>Bits 0..15 of <paramref name="bits"/> as int16 0/1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> Bits16(uint bits) =>
        Avx2.ConvertToVector256Int16(Vector128.Create(Bmi2.X64.ParallelBitDeposit(bits & 0xFF, 0x0101010101010101UL),
            Bmi2.X64.ParallelBitDeposit((bits >> 8) & 0xFF, 0x0101010101010101UL)).AsByte());

    /// <summary><c>ls · (c · flag − o)</c> per 16-group (flags 0/1 as int16; o = unsigned table offset).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> Corr(Vector256<short> ls, Vector256<short> flags, short c, short o = 0) =>
        Avx2.MultiplyLow(ls, Avx2.Subtract(Avx2.MultiplyLow(flags, Vector256.Create(c)), Vector256.Create(o)));

    /// <summary>Bits 0..7 of <paramref name="bits"/> as bytes 0/1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Bits8(uint bits) => Vector128.CreateScalar(Bmi2.X64.ParallelBitDeposit(bits, 0x0101010101010101UL)).AsByte();

    /// <summary>Eight 2-bit fields of a u16 as bytes 0..3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Pairs8(uint bits) => Vector128.CreateScalar(Bmi2.X64.ParallelBitDeposit(bits, 0x0303030303030303UL)).AsByte();

    /// <summary>Sixteen 2-bit fields of a u32 as bytes 0..3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Pairs16(uint bits) =>
        Vector128.Create(Bmi2.X64.ParallelBitDeposit(bits & 0xFFFF, 0x0303030303030303UL), Bmi2.X64.ParallelBitDeposit(bits >> 16, 0x0303030303030303UL)).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float F16(byte* p) => Fp16Fast.ToFloat(*(ushort*)p);

    /// <summary>((v >> s) &amp; 1) &lt;&lt; t on bytes (s, t ≤ 7).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Bit(Vector256<ushort> v, int s, byte t) =>
        Avx2.ShiftLeftLogical(Avx2.And(Avx2.ShiftRightLogical(v, (byte)s).AsByte(), Vector256.Create((byte)1)).AsUInt16(), t).AsByte();
}

/// <summary>Scalar fp16 → f32 with a branch-light fast path for normal numbers.</summary>
internal static class Fp16Fast
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort h)
    {
        uint e = h & 0x7C00u;
        if (e - 0x400u < 0x7800u)
            return BitConverter.UInt32BitsToSingle(((uint)(h & 0x8000) << 16) | (((uint)(h & 0x7FFF) << 13) + 0x38000000u));
        return Fp16.ToFloat(h);
    }
}

// ------------------------------------------------------------------------------------------------------------------
// Block views. "Plain" members: HasMin/Sub32/HasCorr are constants so the JIT folds them away per type.

internal unsafe struct Iq4KsBlock : IAvx2Block
{
    private byte* _x;
    public bool HasMin => false;
    public bool Sub32 => true;
    public bool HasCorr => true;
    public bool Unsigned => false;
    public float D { get; private set; }
    public float DMin => 0;
    public Vector256<short> Ls16 { get; private set; }
    public Vector256<short> M16 => default;
    public Vector256<short> Corr16 { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Begin(byte* row, int b)
    {
        _x = row + 4 + 136 * b;
        D = *(float*)row;
        var s = Avx2Util.Dup8(Vector128.CreateScalar(*(ulong*)_x).AsByte());
        Ls16 = Avx2.Subtract(Avx2.And(s, Vector256.Create((short)254)), Vector256.Create((short)127));
        Corr16 = Avx2Util.Corr(Ls16, Avx2.And(s, Vector256.Create((short)1)), 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<sbyte> Values(int k) => Avx2.Shuffle(Avx2Util.T(Avx2Util.Iq4ks), Avx2Util.Nibbles16(_x + 8 + 16 * k));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<sbyte> Values512(int k2) => Avx512BW.Shuffle(Avx2Util.T512(Avx2Util.Iq4ks), Avx2Util.Nibbles32(_x + 8 + 32 * k2));
}

internal unsafe struct Iq4XsBlock : IAvx2Block
{
    private byte* _x;
    public bool HasMin => false;
    public bool Sub32 => true;
    public bool HasCorr => false;
    public bool Unsigned => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<sbyte> Values512(int k2) => Vector512.Create(Values(2 * k2), Values(2 * k2 + 1));
    public float D { get; private set; }
    public float DMin => 0;
    public Vector256<short> Ls16 { get; private set; }
    public Vector256<short> M16 => default;
    public Vector256<short> Corr16 => default;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Begin(byte* row, int b)
    {
        _x = row + 136 * b;
        D = Avx2Util.F16(_x);
        var nib = Avx2Util.Nibbles8(*(uint*)(_x + 4));
        var hi = Sse2.ShiftLeftLogical(Avx2Util.Pairs8(*(ushort*)(_x + 2)).AsUInt16(), 4).AsByte();
        Ls16 = Avx2.Subtract(Avx2Util.Dup8(Sse2.Or(nib, hi)), Vector256.Create((short)32));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<sbyte> Values(int k) => Avx2.Shuffle(Avx2Util.T(Avx2Util.Iq4ks), Avx2Util.Nibbles16(_x + 8 + 16 * k));
}

internal unsafe struct Iq4KssBlock : IAvx2Block
{
    private byte* _x;
    public bool HasMin => false;
    public bool Sub32 => true;
    public bool HasCorr => true;
    public bool Unsigned => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<sbyte> Values512(int k2) => Vector512.Create(Values(2 * k2), Values(2 * k2 + 1));
    public float D { get; private set; }
    public float DMin => 0;
    public Vector256<short> Ls16 { get; private set; }
    public Vector256<short> M16 => default;
    public Vector256<short> Corr16 { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Begin(byte* row, int b)
    {
        _x = row + 4 + 128 * b;
        D = *(float*)row;
        ulong s = 0;
        for (int h = 0; h < 4; h++)
        {
            var w = Avx.LoadVector256((ushort*)(_x + 32 * h));
            uint m = (uint)Avx2.MoveMask(Avx2.ShiftLeftLogical(w, 15).AsByte());
            s |= (ulong)Bmi2.ParallelBitExtract(m, 0xAAAAAAAAu) << (16 * h);
        }
        var d = Avx2Util.Dup8(Vector128.CreateScalar(s).AsByte());
        Ls16 = Avx2.Subtract(Avx2.And(d, Vector256.Create((short)254)), Vector256.Create((short)127));
        Corr16 = Avx2Util.Corr(Ls16, Avx2.And(d, Vector256.Create((short)1)), 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<sbyte> Values(int k)
    {
        var w = Sse2.LoadVector128((ushort*)(_x + 16 * k));
        var v = Sse2.And(w, Vector128.Create((ushort)0xFFFE));
        v = Sse2.Xor(v, Sse2.ShiftRightLogical(v, 1));
        var idx = Avx2.And(Avx2.ShiftRightLogicalVariable(Vector256.Create(v.AsUInt32(), v.AsUInt32()), Vector256.Create(0u, 0, 0, 0, 4, 4, 4, 4)).AsSByte(),
            Vector256.Create((sbyte)15));
        return Avx2.Shuffle(Avx2Util.T(Avx2Util.Iq4ks), idx);
    }
}

internal unsafe struct Iq2KsBlock : IAvx2Block
{
    private byte* _x;
    public bool HasMin => false;
    public bool Sub32 => true;
    public bool HasCorr => true;
    public bool Unsigned => true;
    public float D { get; private set; }
    public float DMin => 0;
    public Vector256<short> Ls16 { get; private set; }
    public Vector256<short> M16 => default;
    public Vector256<short> Corr16 { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Begin(byte* row, int b)
    {
        _x = row + 2 + 70 * b;
        D = Avx2Util.F16(row);
        uint extra = *(ushort*)_x;
        var nib = Avx2Util.Nibbles8(*(uint*)(_x + 2));
        var hi = Sse2.ShiftLeftLogical(Avx2Util.Bits8(extra >> 8).AsUInt16(), 4).AsByte();
        Ls16 = Avx2.Subtract(Avx2Util.Dup8(Sse2.Or(nib, hi)), Vector256.Create((short)16));
        Corr16 = Avx2Util.Corr(Ls16, Avx2Util.Dup8(Avx2Util.Bits8(extra & 0xFF)), 5, 32);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<sbyte> Values(int k)
    {
        var q = Avx.LoadVector256((ushort*)(_x + 6 + 32 * (k >> 2)));
        var idx = Avx2.And(Avx2.ShiftRightLogical(q, (byte)(2 * (k & 3))).AsByte(), Vector256.Create((byte)3));
        return Avx2.Shuffle(Avx2Util.T(Avx2Util.Iq2ks), idx.AsSByte());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<sbyte> Values512(int k2)
    {
        // Sub-blocks 2·k2 and 2·k2+1 share the 32 bytes of half k2/2; shift by 2·(2k2 % 4) and 2·(2k2 % 4) + 2.
        var q = Avx512F.BroadcastVector256ToVector512((ulong*)(_x + 6 + 32 * (k2 >> 1))).AsUInt16();
        int s = 4 * (k2 & 1);
        var idx = Avx512BW.And(Avx512BW.ShiftRightLogicalVariable(q, Vector512.Create(Vector256.Create((ushort)s), Vector256.Create((ushort)(s + 2)))).AsByte(),
            Vector512.Create((byte)3));
        return Avx512BW.Shuffle(Avx2Util.T512(Avx2Util.Iq2ks), idx.AsSByte());
    }
}

internal unsafe struct Iq3KsBlock : IAvx2Block
{
    private byte* _x;
    public bool HasMin => false;
    public bool Sub32 => true;
    public bool HasCorr => true;
    public bool Unsigned => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<sbyte> Values512(int k2) => Vector512.Create(Values(2 * k2), Values(2 * k2 + 1));
    public float D { get; private set; }
    public float DMin => 0;
    public Vector256<short> Ls16 { get; private set; }
    public Vector256<short> M16 => default;
    public Vector256<short> Corr16 { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Begin(byte* row, int b)
    {
        _x = row + 2 + 102 * b;
        D = Avx2Util.F16(row);
        uint extra = *(ushort*)_x;
        uint sc = *(uint*)(_x + 2);
        var nib = Vector128.CreateScalar((ulong)(sc & 0x0F0F0F0F) | ((ulong)((sc >> 4) & 0x0F0F0F0F) << 32)).AsByte();
        var hi = Sse2.ShiftLeftLogical(Avx2Util.Bits8(extra & 0xFF).AsUInt16(), 4).AsByte();
        Ls16 = Avx2.Subtract(Avx2Util.Dup8(Sse2.Or(nib, hi)), Vector256.Create((short)16));
        Corr16 = Avx2Util.Corr(Ls16, Avx2Util.Dup8(Avx2Util.Bits8(extra >> 8)), 4, 64);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<sbyte> Values(int k)
    {
        var q = Avx.LoadVector256((ushort*)(_x + 6 + 32 * (k >> 2)));
        var lo = Avx2.And(Avx2.ShiftRightLogical(q, (byte)(2 * (k & 3))).AsByte(), Vector256.Create((byte)3));
        var hi = Avx2Util.Bit(Avx.LoadVector256((ushort*)(_x + 70)), k, 2);
        return Avx2.Shuffle(Avx2Util.T(Avx2Util.Iq3ks), Avx2.Or(lo, hi).AsSByte());
    }
}

internal unsafe struct Iq2KBlock : IAvx2Block
{
    private byte* _x;
    public bool HasMin => false;
    public bool Sub32 => false;
    public bool HasCorr => true;
    public bool Unsigned => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<sbyte> Values512(int k2) => Vector512.Create(Values(2 * k2), Values(2 * k2 + 1));
    public float D { get; private set; }
    public float DMin => 0;
    public Vector256<short> Ls16 { get; private set; }
    public Vector256<short> M16 => default;
    public Vector256<short> Corr16 { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Begin(byte* row, int b)
    {
        _x = row + 76 * b;
        D = Avx2Util.F16(_x);
        Ls16 = Avx2.Subtract(Avx2.ConvertToVector256Int16(Avx2Util.Nibbles16(*(ulong*)(_x + 4))), Vector256.Create((short)8));
        Corr16 = Avx2Util.Corr(Ls16, Avx2Util.Bits16(*(ushort*)(_x + 2)), 5, 32);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<sbyte> Values(int k)
    {
        var q = Avx.LoadVector256((ushort*)(_x + 12 + 32 * (k >> 2)));
        var idx = Avx2.And(Avx2.ShiftRightLogical(q, (byte)(2 * (k & 3))).AsByte(), Vector256.Create((byte)3));
        return Avx2.Shuffle(Avx2Util.T(Avx2Util.Iq2ks), idx.AsSByte());
    }
}

internal unsafe struct Iq3KBlock : IAvx2Block
{
    private byte* _x;
    public bool HasMin => false;
    public bool Sub32 => false;
    public bool HasCorr => true;
    public bool Unsigned => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<sbyte> Values512(int k2) => Vector512.Create(Values(2 * k2), Values(2 * k2 + 1));
    public float D { get; private set; }
    public float DMin => 0;
    public Vector256<short> Ls16 { get; private set; }
    public Vector256<short> M16 => default;
    public Vector256<short> Corr16 { get; private set; }

    private static readonly Vector256<short> s_bits = Vector256.Create((short)1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, -32768);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Begin(byte* row, int b)
    {
        _x = row + 110 * b;
        D = Avx2Util.F16(_x);
        var m = Avx2.ConvertToVector256Int16(Avx2Util.Nibbles16(*(ulong*)(_x + 6)));
        var ls = Avx2.Add(Avx2.Add(m, m), Vector256.Create((short)1));
        var bits = s_bits;
        var neg = Avx2.CompareEqual(Avx2.And(Vector256.Create(*(short*)(_x + 4)), bits), bits);
        Ls16 = Avx2.Subtract(Avx2.Xor(ls, neg), neg);
        Corr16 = Avx2Util.Corr(Ls16, Avx2Util.Bits16(*(ushort*)(_x + 2)), 4, 64);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<sbyte> Values(int k)
    {
        var q = Avx.LoadVector256((ushort*)(_x + 14 + 32 * (k >> 2)));
        var lo = Avx2.And(Avx2.ShiftRightLogical(q, (byte)(2 * (k & 3))).AsByte(), Vector256.Create((byte)3));
        var hi = Avx2Util.Bit(Avx.LoadVector256((ushort*)(_x + 78)), k, 2);
        return Avx2.Shuffle(Avx2Util.T(Avx2Util.Iq3ks), Avx2.Or(lo, hi).AsSByte());
    }
}

/// <summary>Shared 6-bit scale unpacking of IQ4_K/IQ5_K: low nibbles at x+8 (8 bytes), high pairs in the u32 at x+4.</summary>
internal static unsafe class Scales6
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> Get(byte* x)
    {
        var lo = Avx2Util.Nibbles16(*(ulong*)(x + 8));
        var hi = Sse2.ShiftLeftLogical(Avx2Util.Pairs16(*(uint*)(x + 4)).AsUInt16(), 4).AsByte();
        return Avx2.Subtract(Avx2.ConvertToVector256Int16(Sse2.Or(lo, hi)), Vector256.Create((short)32));
    }
}

internal unsafe struct Iq4KBlock : IAvx2Block
{
    private byte* _x;
    public bool HasMin => false;
    public bool Sub32 => false;
    public bool HasCorr => true;
    public bool Unsigned => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<sbyte> Values512(int k2) => Vector512.Create(Values(2 * k2), Values(2 * k2 + 1));
    public float D { get; private set; }
    public float DMin => 0;
    public Vector256<short> Ls16 { get; private set; }
    public Vector256<short> M16 => default;
    public Vector256<short> Corr16 { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Begin(byte* row, int b)
    {
        _x = row + 144 * b;
        D = Avx2Util.F16(_x);
        Ls16 = Scales6.Get(_x);
        Corr16 = Avx2Util.Corr(Ls16, Avx2Util.Bits16(*(ushort*)(_x + 2)), 4);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<sbyte> Values(int k) => Avx2.Shuffle(Avx2Util.T(Avx2Util.Iq4ks), Avx2Util.Nibbles16(_x + 16 + 16 * k));
}

internal unsafe struct Iq5KBlock : IAvx2Block
{
    private byte* _x;
    public bool HasMin => false;
    public bool Sub32 => false;
    public bool HasCorr => true;
    public bool Unsigned => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<sbyte> Values512(int k2) => Vector512.Create(Values(2 * k2), Values(2 * k2 + 1));
    public float D { get; private set; }
    public float DMin => 0;
    public Vector256<short> Ls16 { get; private set; }
    public Vector256<short> M16 => default;
    public Vector256<short> Corr16 { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Begin(byte* row, int b)
    {
        _x = row + 176 * b;
        D = Avx2Util.F16(_x);
        Ls16 = Scales6.Get(_x);
        Corr16 = Avx2Util.Corr(Ls16, Avx2Util.Bits16(*(ushort*)(_x + 2)), 2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<sbyte> Values(int k)
    {
        var q = Avx.LoadVector256((ushort*)(_x + 16 + 32 * (k >> 1)));
        var idx = Avx2.And(Avx2.ShiftRightLogical(q, (byte)(4 * (k & 1))).AsByte(), Vector256.Create((byte)15)).AsSByte();
        var sel = Avx2.ShiftLeftLogical(Avx.LoadVector256((ushort*)(_x + 144)), (byte)(7 - k)).AsSByte();
        return Avx2.BlendVariable(Avx2.Shuffle(Avx2Util.T(Avx2Util.Iq5lo), idx), Avx2.Shuffle(Avx2Util.T(Avx2Util.Iq5hi), idx), sel);
    }
}

internal unsafe struct Iq5KsBlock : IAvx2Block
{
    private byte* _x;
    public bool HasMin => false;
    public bool Sub32 => true;
    public bool HasCorr => true;
    public bool Unsigned => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<sbyte> Values512(int k2) => Vector512.Create(Values(2 * k2), Values(2 * k2 + 1));
    public float D { get; private set; }
    public float DMin => 0;
    public Vector256<short> Ls16 { get; private set; }
    public Vector256<short> M16 => default;
    public Vector256<short> Corr16 { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Begin(byte* row, int b)
    {
        _x = row + 4 + 168 * b;
        D = *(float*)row;
        var s = Avx2Util.Dup8(Vector128.CreateScalar(*(ulong*)_x).AsByte());
        Ls16 = Avx2.Subtract(Avx2.And(s, Vector256.Create((short)254)), Vector256.Create((short)127));
        Corr16 = Avx2Util.Corr(Ls16, Avx2.And(s, Vector256.Create((short)1)), 2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<sbyte> Values(int k)
    {
        var q = Avx.LoadVector256((ushort*)(_x + 8 + 32 * (k >> 1)));
        var idx = Avx2.And(Avx2.ShiftRightLogical(q, (byte)(4 * (k & 1))).AsByte(), Vector256.Create((byte)15)).AsSByte();
        var sel = Avx2.ShiftLeftLogical(Avx.LoadVector256((ushort*)(_x + 136)), (byte)(7 - k)).AsSByte();
        return Avx2.BlendVariable(Avx2.Shuffle(Avx2Util.T(Avx2Util.Iq5lo), idx), Avx2.Shuffle(Avx2Util.T(Avx2Util.Iq5hi), idx), sel);
    }
}

internal unsafe struct Iq6KBlock : IAvx2Block
{
    private byte* _x;
    public bool HasMin => false;
    public bool Sub32 => false;
    public bool HasCorr => true;
    public bool Unsigned => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<sbyte> Values512(int k2) => Vector512.Create(Values(2 * k2), Values(2 * k2 + 1));
    public float D { get; private set; }
    public float DMin => 0;
    public Vector256<short> Ls16 { get; private set; }
    public Vector256<short> M16 => default;
    public Vector256<short> Corr16 { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Begin(byte* row, int b)
    {
        _x = row + 212 * b;
        D = Avx2Util.F16(_x);
        Ls16 = Avx2.ConvertToVector256Int16((sbyte*)(_x + 4));
        Corr16 = Avx2.MultiplyLow(Ls16, Avx2Util.Bits16(*(ushort*)(_x + 2)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<sbyte> Values(int k)
    {
        var q = Avx.LoadVector256((ushort*)(_x + 20 + 32 * (k >> 1)));
        var qh = Avx.LoadVector256((ushort*)(_x + 148 + 32 * (k >> 2)));
        int sh = 2 * (k & 3);
        var idx = Avx2.And(Avx2.ShiftRightLogical(q, (byte)(4 * (k & 1))).AsByte(), Vector256.Create((byte)15)).AsSByte();
        var s0 = Avx2.ShiftLeftLogical(qh, (byte)(7 - sh)).AsSByte();
        var s1 = Avx2.ShiftLeftLogical(qh, (byte)(6 - sh)).AsSByte();
        var r01 = Avx2.BlendVariable(Avx2.Shuffle(Avx2Util.T(Avx2Util.Iq6), idx), Avx2.Shuffle(Avx2Util.T(Avx2Util.Iq6 + 32), idx), s0);
        var r23 = Avx2.BlendVariable(Avx2.Shuffle(Avx2Util.T(Avx2Util.Iq6 + 64), idx), Avx2.Shuffle(Avx2Util.T(Avx2Util.Iq6 + 96), idx), s0);
        return Avx2.BlendVariable(r01, r23, s1);
    }
}

/// <summary>IQ6_K with one AVX-512 VBMI two-table byte permute (vpermi2b, 64 entries) per 32 weights.</summary>
internal unsafe struct Iq6KVbmiBlock : IAvx2Block
{
    private Iq6KBlock _b;
    private byte* _x;
    public bool HasMin => false;
    public bool Sub32 => false;
    public bool HasCorr => true;
    public bool Unsigned => false;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<sbyte> Values512(int k2) => Vector512.Create(Values(2 * k2), Values(2 * k2 + 1));
    public float D => _b.D;
    public float DMin => 0;
    public Vector256<short> Ls16 => _b.Ls16;
    public Vector256<short> M16 => default;
    public Vector256<short> Corr16 => _b.Corr16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Begin(byte* row, int b) { _b.Begin(row, b); _x = row + 212 * b; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<sbyte> Values(int k)
    {
        var q = Avx.LoadVector256((ushort*)(_x + 20 + 32 * (k >> 1)));
        var qh = Avx.LoadVector256((ushort*)(_x + 148 + 32 * (k >> 2)));
        int sh = 2 * (k & 3);
        var lo = Avx2.And(Avx2.ShiftRightLogical(q, (byte)(4 * (k & 1))).AsByte(), Vector256.Create((byte)15));
        // hi2 -> bits 4..5: (qh << (4 - sh)) or (qh >> (sh - 4)), masked with 0x30.
        var hs = sh <= 4 ? Avx2.ShiftLeftLogical(qh, (byte)(4 - sh)) : Avx2.ShiftRightLogical(qh, (byte)(sh - 4));
        var idx = Avx2.Or(lo, Avx2.And(hs.AsByte(), Vector256.Create((byte)0x30)));
        return Avx512Vbmi.VL.PermuteVar32x8x2(Avx2Util.T(Avx2Util.Iq6Lo), idx.AsSByte(), Avx2Util.T(Avx2Util.Iq6Hi));
    }
}

internal unsafe struct Iq2KlBlock : IAvx2Block
{
    private byte* _x;
    public bool HasMin => false;
    public bool Sub32 => true;
    public bool HasCorr => true;
    public bool Unsigned => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<sbyte> Values512(int k2) => Vector512.Create(Values(2 * k2), Values(2 * k2 + 1));
    public float D { get; private set; }
    public float DMin => 0;
    public Vector256<short> Ls16 { get; private set; }
    public Vector256<short> M16 => default;
    public Vector256<short> Corr16 { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Begin(byte* row, int b)
    {
        _x = row + 2 + 86 * b;
        D = Avx2Util.F16(row);
        uint sc = *(uint*)(_x + 2);
        var nib = Vector128.CreateScalar((ulong)(sc & 0x0F0F0F0F) | ((ulong)((sc >> 4) & 0x0F0F0F0F) << 32)).AsByte();
        var hi = Sse2.ShiftLeftLogical(Avx2Util.Pairs8(*(ushort*)_x).AsUInt16(), 4).AsByte();
        Ls16 = Avx2.Subtract(Avx2Util.Dup8(Sse2.Or(nib, hi)), Vector256.Create((short)32));
        Corr16 = Avx2.MultiplyLow(Ls16, Vector256.Create((short)-64));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<sbyte> Values(int k)
    {
        sbyte* t = Avx2Util.Tab + Avx2Util.Kl;
        var q = Sse2.LoadVector128((ushort*)(_x + 6 + 16 * (k >> 1)));
        var idx = Sse2.And(Sse2.ShiftRightLogical(q, (byte)(4 * (k & 1))).AsByte(), Vector128.Create((byte)15)).AsSByte();
        var sel = Sse2.ShiftLeftLogical(Sse2.LoadVector128((ushort*)(_x + 70)), (byte)(7 - k)).AsSByte();
        var first = Sse41.BlendVariable(Ssse3.Shuffle(Sse2.LoadVector128(t), idx), Ssse3.Shuffle(Sse2.LoadVector128(t + 16), idx), sel);
        var second = Sse41.BlendVariable(Ssse3.Shuffle(Sse2.LoadVector128(t + 32), idx), Ssse3.Shuffle(Sse2.LoadVector128(t + 48), idx), sel);
        return Vector256.Create(Sse2.UnpackLow(first, second), Sse2.UnpackHigh(first, second));
    }
}

internal unsafe struct Q2KBlock : IAvx2Block
{
    private byte* _x;
    public bool HasMin => true;
    public bool Sub32 => false;
    public bool HasCorr => false;
    public bool Unsigned => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<sbyte> Values512(int k2) => Vector512.Create(Values(2 * k2), Values(2 * k2 + 1));
    public float D { get; private set; }
    public float DMin { get; private set; }
    public Vector256<short> Ls16 { get; private set; }
    public Vector256<short> M16 { get; private set; }
    public Vector256<short> Corr16 => default;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Begin(byte* row, int b)
    {
        _x = row + 84 * b;
        D = Avx2Util.F16(_x + 80);
        DMin = Avx2Util.F16(_x + 82);
        var sc = Sse2.LoadVector128(_x);
        Ls16 = Avx2.ConvertToVector256Int16(Sse2.And(sc, Vector128.Create((byte)15)));
        M16 = Avx2.ConvertToVector256Int16(Sse2.And(Sse2.ShiftRightLogical(sc.AsUInt16(), 4).AsByte(), Vector128.Create((byte)15)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<sbyte> Values(int k)
    {
        var q = Avx.LoadVector256((ushort*)(_x + 16 + 32 * (k >> 2)));
        return Avx2.And(Avx2.ShiftRightLogical(q, (byte)(2 * (k & 3))).AsByte(), Vector256.Create((byte)3)).AsSByte();
    }
}

internal unsafe struct Q3KBlock : IAvx2Block
{
    private byte* _x;
    public bool HasMin => false;
    public bool Sub32 => false;
    public bool HasCorr => true;
    public bool Unsigned => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<sbyte> Values512(int k2) => Vector512.Create(Values(2 * k2), Values(2 * k2 + 1));
    public float D { get; private set; }
    public float DMin => 0;
    public Vector256<short> Ls16 { get; private set; }
    public Vector256<short> M16 => default;
    public Vector256<short> Corr16 { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Begin(byte* row, int b)
    {
        _x = row + 110 * b;
        D = Avx2Util.F16(_x + 108);
        uint a0 = *(uint*)(_x + 96), a1 = *(uint*)(_x + 100), a2 = *(uint*)(_x + 104);
        var s = Vector128.Create(
            (a0 & 0x0f0f0f0f) | ((a2 & 0x03030303) << 4),
            (a1 & 0x0f0f0f0f) | (((a2 >> 2) & 0x03030303) << 4),
            ((a0 >> 4) & 0x0f0f0f0f) | (((a2 >> 4) & 0x03030303) << 4),
            ((a1 >> 4) & 0x0f0f0f0f) | (((a2 >> 6) & 0x03030303) << 4));
        Ls16 = Avx2.Subtract(Avx2.ConvertToVector256Int16(s.AsByte()), Vector256.Create((short)32));
        Corr16 = Avx2.MultiplyLow(Ls16, Vector256.Create((short)-4));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<sbyte> Values(int k)
    {
        var q = Avx.LoadVector256((ushort*)(_x + 32 + 32 * (k >> 2)));
        var lo = Avx2.And(Avx2.ShiftRightLogical(q, (byte)(2 * (k & 3))).AsByte(), Vector256.Create((byte)3));
        var hb = Avx2Util.Bit(Avx.LoadVector256((ushort*)_x), k, 2);
        return Avx2.Or(lo, hb).AsSByte();
    }
}

/// <summary>Q4_K/Q5_K 6-bit scales and mins, each repeated for the two 16-weight halves of a sub-block.</summary>
internal static unsafe class ScalesK4
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Get(byte* s, out Vector256<short> ls, out Vector256<short> m)
    {
        uint a0 = *(uint*)s, a1 = *(uint*)(s + 4), a2 = *(uint*)(s + 8);
        // scales: j<4: s[j]&63; j>=4: (s[j+4]&15) | (s[j-4]>>6)<<4.  mins: j<4: s[j+4]&63; j>=4: (s[j+4]>>4) | (s[j]>>6)<<4
        uint sc0 = a0 & 0x3f3f3f3f, sc1 = (a2 & 0x0f0f0f0f) | ((a0 >> 2) & 0x30303030);
        uint mn0 = a1 & 0x3f3f3f3f, mn1 = ((a2 >> 4) & 0x0f0f0f0f) | ((a1 >> 2) & 0x30303030);
        ls = Avx2Util.Dup8(Vector128.CreateScalar(sc0 | ((ulong)sc1 << 32)).AsByte());
        m = Avx2Util.Dup8(Vector128.CreateScalar(mn0 | ((ulong)mn1 << 32)).AsByte());
    }
}

internal unsafe struct Q4KBlock : IAvx2Block
{
    private byte* _x;
    public bool HasMin => true;
    public bool Sub32 => true;
    public bool HasCorr => false;
    public bool Unsigned => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<sbyte> Values512(int k2) => Vector512.Create(Values(2 * k2), Values(2 * k2 + 1));
    public float D { get; private set; }
    public float DMin { get; private set; }
    public Vector256<short> Ls16 { get; private set; }
    public Vector256<short> M16 { get; private set; }
    public Vector256<short> Corr16 => default;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Begin(byte* row, int b)
    {
        _x = row + 144 * b;
        D = Avx2Util.F16(_x);
        DMin = Avx2Util.F16(_x + 2);
        ScalesK4.Get(_x + 4, out var ls, out var m);
        Ls16 = ls; M16 = m;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<sbyte> Values(int k)
    {
        var q = Avx.LoadVector256((ushort*)(_x + 16 + 32 * (k >> 1)));
        return Avx2.And(Avx2.ShiftRightLogical(q, (byte)(4 * (k & 1))).AsByte(), Vector256.Create((byte)15)).AsSByte();
    }
}

internal unsafe struct Q5KBlock : IAvx2Block
{
    private byte* _x;
    public bool HasMin => true;
    public bool Sub32 => true;
    public bool HasCorr => false;
    public bool Unsigned => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<sbyte> Values512(int k2) => Vector512.Create(Values(2 * k2), Values(2 * k2 + 1));
    public float D { get; private set; }
    public float DMin { get; private set; }
    public Vector256<short> Ls16 { get; private set; }
    public Vector256<short> M16 { get; private set; }
    public Vector256<short> Corr16 => default;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Begin(byte* row, int b)
    {
        _x = row + 176 * b;
        D = Avx2Util.F16(_x);
        DMin = Avx2Util.F16(_x + 2);
        ScalesK4.Get(_x + 4, out var ls, out var m);
        Ls16 = ls; M16 = m;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<sbyte> Values(int k)
    {
        var q = Avx.LoadVector256((ushort*)(_x + 48 + 32 * (k >> 1)));
        var lo = Avx2.And(Avx2.ShiftRightLogical(q, (byte)(4 * (k & 1))).AsByte(), Vector256.Create((byte)15));
        return Avx2.Or(lo, Avx2Util.Bit(Avx.LoadVector256((ushort*)(_x + 16)), k, 4)).AsSByte();
    }
}

internal unsafe struct Q6KBlock : IAvx2Block
{
    private byte* _x;
    public bool HasMin => false;
    public bool Sub32 => false;
    public bool HasCorr => true;
    public bool Unsigned => true;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector512<sbyte> Values512(int k2) => Vector512.Create(Values(2 * k2), Values(2 * k2 + 1));
    public float D { get; private set; }
    public float DMin => 0;
    public Vector256<short> Ls16 { get; private set; }
    public Vector256<short> M16 => default;
    public Vector256<short> Corr16 { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Begin(byte* row, int b)
    {
        _x = row + 210 * b;
        D = Avx2Util.F16(_x + 208);
        Ls16 = Avx2.ConvertToVector256Int16((sbyte*)(_x + 192));
        Corr16 = Avx2.MultiplyLow(Ls16, Vector256.Create((short)-32));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<sbyte> Values(int k)
    {
        int n = k >> 2, t = k & 3;
        var ql = Avx.LoadVector256((ushort*)(_x + 64 * n + 32 * (t & 1)));
        var qh = Avx.LoadVector256((ushort*)(_x + 128 + 32 * n));
        var lo = Avx2.And(Avx2.ShiftRightLogical(ql, (byte)(4 * (t >> 1))).AsByte(), Vector256.Create((byte)15));
        var hi = Avx2.ShiftLeftLogical(Avx2.And(Avx2.ShiftRightLogical(qh, (byte)(2 * t)).AsByte(), Vector256.Create((byte)3)).AsUInt16(), 4).AsByte();
        return Avx2.Or(lo, hi).AsSByte();
    }
}
