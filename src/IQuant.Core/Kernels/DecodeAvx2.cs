using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using IQuant.Core.Quants;

namespace IQuant.Core.Kernels;

/// <summary>
/// AVX2 super-block decoders: the same output as <see cref="DecodeScalar"/>, byte for byte. Table look-ups are
/// <c>pshufb</c> on 16-entry tables (per 128-bit lane, so the two 16-weight halves of a 32-byte vector can use
/// different shift flags); 32/64-entry tables use 2/4 look-ups and a blend on the high index bits.
/// </summary>
internal static unsafe class DecodeAvx2
{
    // All table vectors live in one aligned native block (static lifetime).
    private static readonly sbyte* s_t = BuildTables();
    private const int Iq4ks = 0;        // 2 ymm: normal, shifted (both lanes)
    private const int Iq2ks = 64;       // 2 ymm
    private const int Iq3ks = 128;      // 2 ymm (8 entries)
    private const int Iq2k = 192;       // 4 ymm: lane0 shift = bit0, lane1 shift = bit1
    private const int Iq3k = 320;       // 4 ymm
    private const int Iq4k = 448;       // 4 ymm
    private const int Iq5lo = 576;      // normal entries 0..15, both lanes
    private const int Iq5hi = 608;      // normal entries 16..31
    private const int Add2 = 640;       // 4 ymm: [2*b0 x16 | 2*b1 x16]
    private const int Iq5kslo = 768;    // 4 ymm: lo normal, hi normal, lo shifted, hi shifted
    private const int Iq6 = 896;        // 4 ymm: normal entries 0..15, 16..31, 32..47, 48..63
    private const int Add1 = 1024;      // 4 ymm: [b0 x16 | b1 x16]
    private const int Size = 1152;

    private static sbyte* BuildTables()
    {
        var t = (sbyte*)NativeMemory.AlignedAlloc(Size, 64);
        void Fill(int off, ReadOnlySpan<sbyte> lane0, ReadOnlySpan<sbyte> lane1)
        {
            for (int i = 0; i < 16; i++) { t[off + i] = i < lane0.Length ? lane0[i] : (sbyte)0; t[off + 16 + i] = i < lane1.Length ? lane1[i] : (sbyte)0; }
        }
        var q4 = Tables.Iq4k; var q2 = Tables.Iq2nl; var q3 = Tables.Iq3nl; var q5 = Tables.Iq5nl; var q6 = Tables.Iq6nl;
        Fill(Iq4ks, q4[..16], q4[..16]); Fill(Iq4ks + 32, q4[16..], q4[16..]);
        Fill(Iq2ks, q2[..4], q2[..4]); Fill(Iq2ks + 32, q2[4..], q2[4..]);
        Fill(Iq3ks, q3[..8], q3[..8]); Fill(Iq3ks + 32, q3[8..], q3[8..]);
        for (int c = 0; c < 4; c++)
        {
            int b0 = c & 1, b1 = c >> 1;
            Fill(Iq2k + 32 * c, q2.Slice(4 * b0, 4), q2.Slice(4 * b1, 4));
            Fill(Iq3k + 32 * c, q3.Slice(8 * b0, 8), q3.Slice(8 * b1, 8));
            Fill(Iq4k + 32 * c, q4.Slice(16 * b0, 16), q4.Slice(16 * b1, 16));
            for (int i = 0; i < 16; i++)
            {
                t[Add2 + 32 * c + i] = (sbyte)(2 * b0); t[Add2 + 32 * c + 16 + i] = (sbyte)(2 * b1);
                t[Add1 + 32 * c + i] = (sbyte)b0; t[Add1 + 32 * c + 16 + i] = (sbyte)b1;
            }
        }
        Fill(Iq5lo, q5[..16], q5[..16]); Fill(Iq5hi, q5[16..32], q5[16..32]);
        Fill(Iq5kslo, q5[..16], q5[..16]); Fill(Iq5kslo + 32, q5[16..32], q5[16..32]);
        Fill(Iq5kslo + 64, q5[32..48], q5[32..48]); Fill(Iq5kslo + 96, q5[48..64], q5[48..64]);
        for (int k = 0; k < 4; k++) Fill(Iq6 + 32 * k, q6.Slice(16 * k, 16), q6.Slice(16 * k, 16));
        return t;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> T(int off) => Avx.LoadAlignedVector256(s_t + off);

    private static readonly Vector256<uint> s_nibbleShift = Vector256.Create(0u, 0, 0, 0, 4, 4, 4, 4);

    /// <summary>16 bytes → 32 nibbles: lane 0 = low nibbles, lane 1 = high nibbles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Nibbles16(byte* p) =>
        Avx2.And(Avx2.ShiftRightLogicalVariable(Avx2.BroadcastVector128ToVector256(p).AsUInt32(), s_nibbleShift).AsSByte(), Vector256.Create((sbyte)15));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float F16(byte* p) => Fp16.ToFloat(*(ushort*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Ls32(Decoded* o, int ib, int ls) => *(int*)(o->Ls + 2 * ib) = (ls & 0xFFFF) | (ls << 16);

    public static void Iq4Ks(byte* row, int b, Decoded* o)
    {
        byte* x = row + 4 + 136 * b;
        o->D = *(float*)row;
        for (int ib = 0; ib < 8; ib++)
        {
            int s = x[ib];
            Ls32(o, ib, (s & 254) - 127);
            Avx.Store(o->V + 32 * ib, Avx2.Shuffle(T(Iq4ks + 32 * (s & 1)), Nibbles16(x + 8 + 16 * ib)));
        }
    }

    public static void Iq4Kss(byte* row, int b, Decoded* o)
    {
        byte* x = row + 4 + 128 * b;
        o->D = *(float*)row;
        byte* tmp = stackalloc byte[16];
        for (int ib = 0; ib < 8; ib++)
        {
            var w = Sse2.LoadVector128((ushort*)x + 8 * ib);
            int s = (int)Bmi2.ParallelBitExtract((uint)Sse2.MoveMask(Sse2.ShiftLeftLogical(w, 15).AsByte()), 0xAAAAu);
            var v = Sse2.And(w, Vector128.Create((ushort)0xFFFE));
            v = Sse2.Xor(v, Sse2.ShiftRightLogical(v, 1));
            Sse2.Store(tmp, v.AsByte());
            Ls32(o, ib, (s & 254) - 127);
            Avx.Store(o->V + 32 * ib, Avx2.Shuffle(T(Iq4ks + 32 * (s & 1)), Nibbles16(tmp)));
        }
    }

    public static void Iq2Ks(byte* row, int b, Decoded* o)
    {
        byte* x = row + 2 + 70 * b;
        o->D = F16(row);
        int extra = *(ushort*)x;
        uint sc = *(uint*)(x + 2);
        var m3 = Vector256.Create((byte)3);
        for (int h = 0; h < 2; h++)
        {
            var q = Avx.LoadVector256((ushort*)(x + 6 + 32 * h));
            for (int s = 0; s < 4; s++)
            {
                int ib = 4 * h + s;
                Ls32(o, ib, ((int)((sc >> 4 * ib) & 15) | (((extra >> (8 + ib)) & 1) << 4)) - 16);
                var idx = Avx2.And(Avx2.ShiftRightLogical(q, (byte)(2 * s)).AsByte(), m3);
                Avx.Store(o->V + 32 * ib, Avx2.Shuffle(T(Iq2ks + 32 * ((extra >> ib) & 1)), idx.AsSByte()));
            }
        }
    }

    public static void Iq3Ks(byte* row, int b, Decoded* o)
    {
        byte* x = row + 2 + 102 * b;
        o->D = F16(row);
        int extra = *(ushort*)x;
        uint sc = *(uint*)(x + 2);
        var m3 = Vector256.Create((byte)3);
        var m1 = Vector256.Create((byte)1);
        var qh = Avx.LoadVector256((ushort*)(x + 70));
        for (int h = 0; h < 2; h++)
        {
            var q = Avx.LoadVector256((ushort*)(x + 6 + 32 * h));
            for (int s = 0; s < 4; s++)
            {
                int ib = 4 * h + s;
                int nib = (int)(sc >> (8 * (ib % 4) + 4 * (ib / 4))) & 15;
                Ls32(o, ib, (nib | (((extra >> ib) & 1) << 4)) - 16);
                var lo = Avx2.And(Avx2.ShiftRightLogical(q, (byte)(2 * s)).AsByte(), m3);
                var hi = Avx2.ShiftLeftLogical(Avx2.And(Avx2.ShiftRightLogical(qh, (byte)ib).AsByte(), m1).AsUInt16(), 2).AsByte();
                Avx.Store(o->V + 32 * ib, Avx2.Shuffle(T(Iq3ks + 32 * ((extra >> (8 + ib)) & 1)), Avx2.Or(lo, hi).AsSByte()));
            }
        }
    }

    public static void Iq2K(byte* row, int b, Decoded* o)
    {
        byte* x = row + 76 * b;
        o->D = F16(x);
        int extra = *(ushort*)(x + 2);
        ulong sc = *(ulong*)(x + 4);
        for (int ib = 0; ib < 16; ib++) o->Ls[ib] = (short)((int)((sc >> 4 * ib) & 15) - 8);
        var m3 = Vector256.Create((byte)3);
        for (int h = 0; h < 2; h++)
        {
            var q = Avx.LoadVector256((ushort*)(x + 12 + 32 * h));
            for (int g = 0; g < 4; g++)
            {
                int ib32 = 4 * h + g;
                var idx = Avx2.And(Avx2.ShiftRightLogical(q, (byte)(2 * g)).AsByte(), m3);
                Avx.Store(o->V + 32 * ib32, Avx2.Shuffle(T(Iq2k + 32 * ((extra >> 2 * ib32) & 3)), idx.AsSByte()));
            }
        }
    }

    public static void Iq3K(byte* row, int b, Decoded* o)
    {
        byte* x = row + 110 * b;
        o->D = F16(x);
        int extra = *(ushort*)(x + 2);
        int signs = *(ushort*)(x + 4);
        ulong sc = *(ulong*)(x + 6);
        for (int ib = 0; ib < 16; ib++)
        {
            int m = 2 * (int)((sc >> 4 * ib) & 15) + 1;
            o->Ls[ib] = (short)(((signs >> ib) & 1) != 0 ? -m : m);
        }
        var m3 = Vector256.Create((byte)3);
        var m1 = Vector256.Create((byte)1);
        var qh = Avx.LoadVector256((ushort*)(x + 78));
        for (int h = 0; h < 2; h++)
        {
            var q = Avx.LoadVector256((ushort*)(x + 14 + 32 * h));
            for (int g = 0; g < 4; g++)
            {
                int ib32 = 4 * h + g;
                var lo = Avx2.And(Avx2.ShiftRightLogical(q, (byte)(2 * g)).AsByte(), m3);
                var hi = Avx2.ShiftLeftLogical(Avx2.And(Avx2.ShiftRightLogical(qh, (byte)ib32).AsByte(), m1).AsUInt16(), 2).AsByte();
                Avx.Store(o->V + 32 * ib32, Avx2.Shuffle(T(Iq3k + 32 * ((extra >> 2 * ib32) & 3)), Avx2.Or(lo, hi).AsSByte()));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Scales6(byte* x, Decoded* o)
    {
        // ls = (low4 | ((H >> 2ib) & 3) << 4) - 32 for 16 sub-blocks; low4 from x+8 (8 bytes), H = LE u32 at x+4.
        uint h = *(uint*)(x + 4);
        ulong l = *(ulong*)(x + 8);
        for (int ib = 0; ib < 16; ib++) o->Ls[ib] = (short)((int)(((l >> 4 * ib) & 15) | (((h >> 2 * ib) & 3) << 4)) - 32);
    }

    public static void Iq4K(byte* row, int b, Decoded* o)
    {
        byte* x = row + 144 * b;
        o->D = F16(x);
        int extra = *(ushort*)(x + 2);
        Scales6(x, o);
        for (int g = 0; g < 8; g++)
            Avx.Store(o->V + 32 * g, Avx2.Shuffle(T(Iq4k + 32 * ((extra >> 2 * g) & 3)), Nibbles16(x + 16 + 16 * g)));
    }

    public static void Iq5K(byte* row, int b, Decoded* o)
    {
        byte* x = row + 176 * b;
        o->D = F16(x);
        int extra = *(ushort*)(x + 2);
        Scales6(x, o);
        var m15 = Vector256.Create((byte)15);
        var qh = Avx.LoadVector256((ushort*)(x + 144));
        var tlo = T(Iq5lo); var thi = T(Iq5hi);
        for (int p = 0; p < 4; p++)
        {
            var q = Avx.LoadVector256((ushort*)(x + 16 + 32 * p));
            for (int k = 0; k < 2; k++)
            {
                int ib32 = 2 * p + k;
                var idx = Avx2.And(Avx2.ShiftRightLogical(q, (byte)(4 * k)).AsByte(), m15).AsSByte();
                var sel = Avx2.ShiftLeftLogical(qh, (byte)(7 - ib32)).AsSByte();
                var v = Avx2.BlendVariable(Avx2.Shuffle(tlo, idx), Avx2.Shuffle(thi, idx), sel);
                Avx.Store(o->V + 32 * ib32, Avx2.Add(v, T(Add2 + 32 * ((extra >> 2 * ib32) & 3))));
            }
        }
    }

    public static void Iq5Ks(byte* row, int b, Decoded* o)
    {
        byte* x = row + 4 + 168 * b;
        o->D = *(float*)row;
        var m15 = Vector256.Create((byte)15);
        var qh = Avx.LoadVector256((ushort*)(x + 136));
        for (int p = 0; p < 4; p++)
        {
            var q = Avx.LoadVector256((ushort*)(x + 8 + 32 * p));
            for (int k = 0; k < 2; k++)
            {
                int ib = 2 * p + k;
                int s = x[ib];
                Ls32(o, ib, (s & 254) - 127);
                int t = Iq5kslo + 64 * (s & 1);
                var idx = Avx2.And(Avx2.ShiftRightLogical(q, (byte)(4 * k)).AsByte(), m15).AsSByte();
                var sel = Avx2.ShiftLeftLogical(qh, (byte)(7 - ib)).AsSByte();
                Avx.Store(o->V + 32 * ib, Avx2.BlendVariable(Avx2.Shuffle(T(t), idx), Avx2.Shuffle(T(t + 32), idx), sel));
            }
        }
    }

    public static void Iq6K(byte* row, int b, Decoded* o)
    {
        byte* x = row + 212 * b;
        o->D = F16(x);
        int extra = *(ushort*)(x + 2);
        Avx.Store(o->Ls, Avx2.ConvertToVector256Int16((sbyte*)(x + 4)));
        var m15 = Vector256.Create((byte)15);
        var t0 = T(Iq6); var t1 = T(Iq6 + 32); var t2 = T(Iq6 + 64); var t3 = T(Iq6 + 96);
        for (int p = 0; p < 4; p++)
        {
            var q = Avx.LoadVector256((ushort*)(x + 20 + 32 * p));
            for (int k = 0; k < 2; k++)
            {
                int ib32 = 2 * p + k;
                var qh = Avx.LoadVector256((ushort*)(x + 148 + 32 * (ib32 / 4)));
                int sh = 2 * (ib32 % 4);
                var idx = Avx2.And(Avx2.ShiftRightLogical(q, (byte)(4 * k)).AsByte(), m15).AsSByte();
                var s0 = Avx2.ShiftLeftLogical(qh, (byte)(7 - sh)).AsSByte();   // hi bit 0 -> MSB
                var s1 = Avx2.ShiftLeftLogical(qh, (byte)(6 - sh)).AsSByte();   // hi bit 1 -> MSB
                var r01 = Avx2.BlendVariable(Avx2.Shuffle(t0, idx), Avx2.Shuffle(t1, idx), s0);
                var r23 = Avx2.BlendVariable(Avx2.Shuffle(t2, idx), Avx2.Shuffle(t3, idx), s0);
                var v = Avx2.BlendVariable(r01, r23, s1);
                Avx.Store(o->V + 32 * ib32, Avx2.Add(v, T(Add1 + 32 * ((extra >> 2 * ib32) & 3))));
            }
        }
    }

    public static void Iq2Kl(byte* row, int b, Decoded* o)
    {
        byte* x = row + 2 + 86 * b;
        o->D = F16(row);
        int sh = *(ushort*)x;
        uint sl = *(uint*)(x + 2);
        var m15 = Vector128.Create((byte)15);
        var f = (sbyte*)s_pairs;
        var f0 = Sse2.LoadVector128(f); var f1 = Sse2.LoadVector128(f + 16);
        var s0 = Sse2.LoadVector128(f + 32); var s1 = Sse2.LoadVector128(f + 48);
        var qh = Sse2.LoadVector128((ushort*)(x + 70));
        for (int ib = 0; ib < 8; ib++)
        {
            int nib = (int)(sl >> (8 * (ib % 4) + 4 * (ib / 4))) & 15;
            Ls32(o, ib, (nib | (((sh >> 2 * ib) & 3) << 4)) - 32);
            var q = Sse2.LoadVector128((ushort*)(x + 6 + 16 * (ib / 2)));
            var idx = Sse2.And(Sse2.ShiftRightLogical(q, (byte)(4 * (ib % 2))).AsByte(), m15).AsSByte();
            var sel = Sse2.ShiftLeftLogical(qh, (byte)(7 - ib)).AsSByte();
            var first = Sse41.BlendVariable(Ssse3.Shuffle(f0, idx), Ssse3.Shuffle(f1, idx), sel);
            var second = Sse41.BlendVariable(Ssse3.Shuffle(s0, idx), Ssse3.Shuffle(s1, idx), sel);
            Sse2.Store(o->V + 32 * ib, Sse2.UnpackLow(first, second));
            Sse2.Store(o->V + 32 * ib + 16, Sse2.UnpackHigh(first, second));
        }
    }

    /// <summary>IQ2_KL pair table split: 32 first values, then 32 second values.</summary>
    private static readonly byte* s_pairs = BuildPairs();

    private static byte* BuildPairs()
    {
        var p = (byte*)NativeMemory.AlignedAlloc(64, 64);
        var t = Tables.Iq2klPairs;
        for (int i = 0; i < 32; i++) { p[i] = (byte)(t[i] & 0xFF); p[32 + i] = (byte)(t[i] >> 8); }
        return p;
    }

    public static void Q2K(byte* row, int b, Decoded* o)
    {
        byte* x = row + 84 * b;
        o->D = F16(x + 80);
        o->DMin = F16(x + 82);
        var sc = Sse2.LoadVector128(x);
        Avx.Store(o->Ls, Avx2.ConvertToVector256Int16(Sse2.And(sc, Vector128.Create((byte)15))));
        Avx.Store(o->M, Avx2.ConvertToVector256Int16(Sse2.ShiftRightLogical(sc.AsUInt16(), 4).AsByte() & Vector128.Create((byte)15)));
        var m3 = Vector256.Create((byte)3);
        for (int n = 0; n < 2; n++)
        {
            var q = Avx.LoadVector256((ushort*)(x + 16 + 32 * n));
            for (int j = 0; j < 4; j++)
                Avx.Store((byte*)o->V + 128 * n + 32 * j, Avx2.And(Avx2.ShiftRightLogical(q, (byte)(2 * j)).AsByte(), m3));
        }
    }

    public static void Q3K(byte* row, int b, Decoded* o)
    {
        byte* x = row + 110 * b;
        o->D = F16(x + 108);
        uint a0 = *(uint*)(x + 96), a1 = *(uint*)(x + 100), a2 = *(uint*)(x + 104);
        var s = Vector128.Create(
            (a0 & 0x0f0f0f0f) | ((a2 & 0x03030303) << 4),
            (a1 & 0x0f0f0f0f) | (((a2 >> 2) & 0x03030303) << 4),
            ((a0 >> 4) & 0x0f0f0f0f) | (((a2 >> 4) & 0x03030303) << 4),
            ((a1 >> 4) & 0x0f0f0f0f) | (((a2 >> 6) & 0x03030303) << 4));
        Avx.Store(o->Ls, Avx2.Subtract(Avx2.ConvertToVector256Int16(s.AsByte()), Vector256.Create((short)32)));
        var m3 = Vector256.Create((byte)3);
        var m4 = Vector256.Create((byte)4);
        var m1 = Vector256.Create((byte)1);
        var hm = Avx.LoadVector256((ushort*)x);
        for (int n = 0; n < 2; n++)
        {
            var q = Avx.LoadVector256((ushort*)(x + 32 + 32 * n));
            for (int j = 0; j < 4; j++)
            {
                var lo = Avx2.And(Avx2.ShiftRightLogical(q, (byte)(2 * j)).AsByte(), m3);
                var hb = Avx2.ShiftLeftLogical(Avx2.And(Avx2.ShiftRightLogical(hm, (byte)(4 * n + j)).AsByte(), m1).AsUInt16(), 2).AsByte();
                Avx.Store((byte*)o->V + 128 * n + 32 * j, Avx2.Subtract(Avx2.Or(lo, hb), m4));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScalesK4(byte* s, Decoded* o)
    {
        for (int j = 0; j < 8; j++)
        {
            int sc, m;
            if (j < 4) { sc = s[j] & 63; m = s[j + 4] & 63; }
            else { sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4); m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4); }
            Ls32(o, j, sc);
            *(int*)(o->M + 2 * j) = m | (m << 16);
        }
    }

    public static void Q4K(byte* row, int b, Decoded* o)
    {
        byte* x = row + 144 * b;
        o->D = F16(x);
        o->DMin = F16(x + 2);
        ScalesK4(x + 4, o);
        var m15 = Vector256.Create((byte)15);
        for (int c = 0; c < 4; c++)
        {
            var q = Avx.LoadVector256((ushort*)(x + 16 + 32 * c));
            Avx.Store((byte*)o->V + 64 * c, Avx2.And(q.AsByte(), m15));
            Avx.Store((byte*)o->V + 64 * c + 32, Avx2.And(Avx2.ShiftRightLogical(q, 4).AsByte(), m15));
        }
    }

    public static void Q5K(byte* row, int b, Decoded* o)
    {
        byte* x = row + 176 * b;
        o->D = F16(x);
        o->DMin = F16(x + 2);
        ScalesK4(x + 4, o);
        var m15 = Vector256.Create((byte)15);
        var m1 = Vector256.Create((byte)1);
        var qh = Avx.LoadVector256((ushort*)(x + 16));
        for (int c = 0; c < 4; c++)
        {
            var q = Avx.LoadVector256((ushort*)(x + 48 + 32 * c));
            var h0 = Avx2.ShiftLeftLogical(Avx2.And(Avx2.ShiftRightLogical(qh, (byte)(2 * c)).AsByte(), m1).AsUInt16(), 4).AsByte();
            var h1 = Avx2.ShiftLeftLogical(Avx2.And(Avx2.ShiftRightLogical(qh, (byte)(2 * c + 1)).AsByte(), m1).AsUInt16(), 4).AsByte();
            Avx.Store((byte*)o->V + 64 * c, Avx2.Or(Avx2.And(q.AsByte(), m15), h0));
            Avx.Store((byte*)o->V + 64 * c + 32, Avx2.Or(Avx2.And(Avx2.ShiftRightLogical(q, 4).AsByte(), m15), h1));
        }
    }

    public static void Q6K(byte* row, int b, Decoded* o)
    {
        byte* x = row + 210 * b;
        o->D = F16(x + 208);
        Avx.Store(o->Ls, Avx2.ConvertToVector256Int16((sbyte*)(x + 192)));
        var m15 = Vector256.Create((byte)15);
        var m48 = Vector256.Create((byte)48);
        var m32 = Vector256.Create((byte)32);
        for (int n = 0; n < 2; n++)
        {
            var ql0 = Avx.LoadVector256((ushort*)(x + 64 * n));
            var ql1 = Avx.LoadVector256((ushort*)(x + 64 * n + 32));
            var qh = Avx.LoadVector256((ushort*)(x + 128 + 32 * n));
            byte* y = (byte*)o->V + 128 * n;
            Avx.Store(y, Avx2.Subtract(Avx2.Or(Avx2.And(ql0.AsByte(), m15), Avx2.And(Avx2.ShiftLeftLogical(qh, 4).AsByte(), m48)), m32));
            Avx.Store(y + 32, Avx2.Subtract(Avx2.Or(Avx2.And(ql1.AsByte(), m15), Avx2.And(Avx2.ShiftLeftLogical(qh, 2).AsByte(), m48)), m32));
            Avx.Store(y + 64, Avx2.Subtract(Avx2.Or(Avx2.And(Avx2.ShiftRightLogical(ql0, 4).AsByte(), m15), Avx2.And(qh.AsByte(), m48)), m32));
            Avx.Store(y + 96, Avx2.Subtract(Avx2.Or(Avx2.And(Avx2.ShiftRightLogical(ql1, 4).AsByte(), m15), Avx2.And(Avx2.ShiftRightLogical(qh, 2).AsByte(), m48)), m32));
        }
    }
}
