using System.Runtime.CompilerServices;
using IQuant.Core.Quants;

namespace IQuant.Core.Kernels;

/// <summary>
/// Scalar super-block decoders (spec §3 and §6): the reference the vector decoders must reproduce exactly.
/// Each takes the row start (row meta included) and the super-block index.
/// </summary>
internal static unsafe class DecodeScalar
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float F16(byte* p) => Fp16.ToFloat(*(ushort*)p);

    private static void Ls32(Decoded* o, int ib, int ls) { o->Ls[2 * ib] = (short)ls; o->Ls[2 * ib + 1] = (short)ls; }

    public static void Iq4Ks(byte* row, int b, Decoded* o)
    {
        byte* x = row + 4 + 136 * b;
        o->D = *(float*)row;
        var t = Tables.Iq4k;
        for (int ib = 0; ib < 8; ib++)
        {
            int s = x[ib];
            Ls32(o, ib, (s & 254) - 127);
            int sh = 16 * (s & 1);
            byte* q = x + 8 + 16 * ib;
            for (int k = 0; k < 16; k++)
            {
                o->V[32 * ib + k] = t[sh + (q[k] & 15)];
                o->V[32 * ib + 16 + k] = t[sh + (q[k] >> 4)];
            }
        }
    }

    public static void Iq4Xs(byte* row, int b, Decoded* o)
    {
        byte* x = row + 136 * b;
        o->D = F16(x);
        int sh = *(ushort*)(x + 2);
        var t = Tables.Iq4k;
        for (int ib = 0; ib < 8; ib++)
        {
            Ls32(o, ib, (((x[4 + ib / 2] >> 4 * (ib % 2)) & 15) | (((sh >> 2 * ib) & 3) << 4)) - 32);
            byte* q = x + 8 + 16 * ib;
            for (int k = 0; k < 16; k++)
            {
                o->V[32 * ib + k] = t[q[k] & 15];
                o->V[32 * ib + 16 + k] = t[q[k] >> 4];
            }
        }
    }

    public static void Iq2Ks(byte* row, int b, Decoded* o)
    {
        byte* x = row + 2 + 70 * b;
        o->D = F16(row);
        int extra = *(ushort*)x;
        var t = Tables.Iq2nl;
        for (int ib = 0; ib < 8; ib++)
        {
            int ls = (((x[2 + ib / 2] >> 4 * (ib % 2)) & 15) | (((extra >> (8 + ib)) & 1) << 4)) - 16;
            Ls32(o, ib, ls);
            int sh = 4 * ((extra >> ib) & 1);
            byte* q = x + 6 + 32 * (ib / 4);
            for (int j = 0; j < 32; j++) o->V[32 * ib + j] = t[sh + ((q[j] >> 2 * (ib % 4)) & 3)];
        }
    }

    public static void Iq3Ks(byte* row, int b, Decoded* o)
    {
        byte* x = row + 2 + 102 * b;
        o->D = F16(row);
        int extra = *(ushort*)x;
        var t = Tables.Iq3nl;
        for (int ib = 0; ib < 8; ib++)
        {
            int ls = (((x[2 + ib % 4] >> 4 * (ib / 4)) & 15) | (((extra >> ib) & 1) << 4)) - 16;
            Ls32(o, ib, ls);
            int sh = 8 * ((extra >> (8 + ib)) & 1);
            byte* q = x + 6 + 32 * (ib / 4);
            byte* qh = x + 70;
            for (int j = 0; j < 32; j++)
                o->V[32 * ib + j] = t[sh + (((q[j] >> 2 * (ib % 4)) & 3) | (((qh[j] >> ib) & 1) << 2))];
        }
    }

    public static void Iq2K(byte* row, int b, Decoded* o)
    {
        byte* x = row + 76 * b;
        o->D = F16(x);
        int extra = *(ushort*)(x + 2);
        var t = Tables.Iq2nl;
        for (int ib = 0; ib < 16; ib++)
        {
            o->Ls[ib] = (short)(((x[4 + ib / 2] >> 4 * (ib % 2)) & 15) - 8);
            int sh = 4 * ((extra >> ib) & 1);
            int ib32 = ib / 2, off = 16 * (ib % 2);
            byte* q = x + 12 + 32 * (ib32 / 4) + off;
            for (int j = 0; j < 16; j++) o->V[16 * ib + j] = t[sh + ((q[j] >> 2 * (ib32 % 4)) & 3)];
        }
    }

    public static void Iq3K(byte* row, int b, Decoded* o)
    {
        byte* x = row + 110 * b;
        o->D = F16(x);
        int extra = *(ushort*)(x + 2);
        int signs = *(ushort*)(x + 4);
        var t = Tables.Iq3nl;
        for (int ib = 0; ib < 16; ib++)
        {
            int m = (x[6 + ib / 2] >> 4 * (ib % 2)) & 15;
            o->Ls[ib] = (short)((2 * m + 1) * (((signs >> ib) & 1) != 0 ? -1 : 1));
            int sh = 8 * ((extra >> ib) & 1);
            int ib32 = ib / 2, off = 16 * (ib % 2);
            byte* q = x + 14 + 32 * (ib32 / 4) + off;
            byte* qh = x + 78 + off;
            for (int j = 0; j < 16; j++)
                o->V[16 * ib + j] = t[sh + (((q[j] >> 2 * (ib32 % 4)) & 3) | (((qh[j] >> ib32) & 1) << 2))];
        }
    }

    public static void Iq4K(byte* row, int b, Decoded* o)
    {
        byte* x = row + 144 * b;
        o->D = F16(x);
        int extra = *(ushort*)(x + 2);
        uint h = *(uint*)(x + 4);
        var t = Tables.Iq4k;
        for (int ib = 0; ib < 16; ib++)
        {
            o->Ls[ib] = (short)((((x[8 + ib / 2] >> 4 * (ib % 2)) & 15) | (int)(((h >> 2 * ib) & 3) << 4)) - 32);
            int sh = 16 * ((extra >> ib) & 1);
            byte* q = x + 16 + 16 * (ib / 2);
            int shift = 4 * (ib % 2);
            for (int j = 0; j < 16; j++) o->V[16 * ib + j] = t[sh + ((q[j] >> shift) & 15)];
        }
    }

    public static void Iq5K(byte* row, int b, Decoded* o)
    {
        byte* x = row + 176 * b;
        o->D = F16(x);
        int extra = *(ushort*)(x + 2);
        uint h = *(uint*)(x + 4);
        var t = Tables.Iq5nl;
        for (int ib = 0; ib < 16; ib++)
        {
            o->Ls[ib] = (short)((((x[8 + ib / 2] >> 4 * (ib % 2)) & 15) | (int)(((h >> 2 * ib) & 3) << 4)) - 32);
            int sh = 32 * ((extra >> ib) & 1);
            int ib32 = ib / 2, off = 16 * (ib % 2);
            byte* q = x + 16 + 32 * (ib32 / 2) + off;
            byte* qh = x + 144 + off;
            for (int j = 0; j < 16; j++)
                o->V[16 * ib + j] = t[sh + (((q[j] >> 4 * (ib32 % 2)) & 15) | (((qh[j] >> ib32) & 1) << 4))];
        }
    }

    public static void Iq5Ks(byte* row, int b, Decoded* o)
    {
        byte* x = row + 4 + 168 * b;
        o->D = *(float*)row;
        var t = Tables.Iq5nl;
        for (int ib = 0; ib < 8; ib++)
        {
            int s = x[ib];
            Ls32(o, ib, (s & 254) - 127);
            int sh = 32 * (s & 1);
            byte* q = x + 8 + 32 * (ib / 2);
            byte* qh = x + 136;
            for (int j = 0; j < 32; j++)
                o->V[32 * ib + j] = t[sh + (((q[j] >> 4 * (ib % 2)) & 15) | (((qh[j] >> ib) & 1) << 4))];
        }
    }

    public static void Iq6K(byte* row, int b, Decoded* o)
    {
        byte* x = row + 212 * b;
        o->D = F16(x);
        int extra = *(ushort*)(x + 2);
        var t = Tables.Iq6nl;
        for (int ib = 0; ib < 16; ib++)
        {
            o->Ls[ib] = ((sbyte*)(x + 4))[ib];
            int sh = (extra >> ib) & 1;
            int ib32 = ib / 2, off = 16 * (ib % 2);
            byte* q = x + 20 + 32 * (ib32 / 2) + off;
            byte* qh = x + 148 + 32 * (ib32 / 4) + off;
            for (int j = 0; j < 16; j++)
                o->V[16 * ib + j] = (sbyte)(t[((q[j] >> 4 * (ib32 % 2)) & 15) | (((qh[j] >> 2 * (ib32 % 4)) & 3) << 4)] + sh);
        }
    }

    public static void Iq4Kss(byte* row, int b, Decoded* o)
    {
        byte* x = row + 4 + 128 * b;
        o->D = *(float*)row;
        var t = Tables.Iq4k;
        ushort* w = (ushort*)x;
        byte* bytes = stackalloc byte[16];
        for (int ib = 0; ib < 8; ib++)
        {
            int s = 0;
            for (int k = 0; k < 8; k++)
            {
                int word = w[8 * ib + k];
                s |= (word & 1) << k;
                int v = word & 0xFFFE;
                v ^= v >> 1;
                bytes[2 * k] = (byte)v;
                bytes[2 * k + 1] = (byte)(v >> 8);
            }
            Ls32(o, ib, (s & 254) - 127);
            int sh = 16 * (s & 1);
            for (int i = 0; i < 16; i++)
            {
                o->V[32 * ib + i] = t[sh + (bytes[i] & 15)];
                o->V[32 * ib + 16 + i] = t[sh + (bytes[i] >> 4)];
            }
        }
    }

    public static void Iq2Kl(byte* row, int b, Decoded* o)
    {
        byte* x = row + 2 + 86 * b;
        o->D = F16(row);
        int sh = *(ushort*)x;
        var pairs = Tables.Iq2klPairs;
        for (int ib = 0; ib < 8; ib++)
        {
            Ls32(o, ib, (((x[2 + ib % 4] >> 4 * (ib / 4)) & 15) | (((sh >> 2 * ib) & 3) << 4)) - 32);
            byte* q = x + 6 + 16 * (ib / 2);
            byte* qh = x + 70;
            for (int p = 0; p < 16; p++)
            {
                int idx = ((q[p] >> 4 * (ib % 2)) & 15) | (((qh[p] >> ib) & 1) << 4);
                int pr = pairs[idx];
                o->V[32 * ib + 2 * p] = (sbyte)(pr & 0xFF);
                o->V[32 * ib + 2 * p + 1] = (sbyte)(pr >> 8);
            }
        }
    }

    public static void Q2K(byte* row, int b, Decoded* o)
    {
        byte* x = row + 84 * b;
        o->D = F16(x + 80);
        o->DMin = F16(x + 82);
        for (int g = 0; g < 16; g++) { o->Ls[g] = (short)(x[g] & 15); o->M[g] = (short)(x[g] >> 4); }
        byte* qs = x + 16;
        for (int n = 0; n < 2; n++)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 32; l++)
                    o->V[128 * n + 32 * j + l] = (sbyte)((qs[32 * n + l] >> 2 * j) & 3);
    }

    public static void Q3K(byte* row, int b, Decoded* o)
    {
        byte* x = row + 110 * b;
        o->D = F16(x + 108);
        byte* hm = x, qs = x + 32;
        uint a0 = *(uint*)(x + 96), a1 = *(uint*)(x + 100), a2 = *(uint*)(x + 104);
        uint* s = stackalloc uint[4];
        s[0] = (a0 & 0x0f0f0f0f) | ((a2 & 0x03030303) << 4);
        s[1] = (a1 & 0x0f0f0f0f) | (((a2 >> 2) & 0x03030303) << 4);
        s[2] = ((a0 >> 4) & 0x0f0f0f0f) | (((a2 >> 4) & 0x03030303) << 4);
        s[3] = ((a1 >> 4) & 0x0f0f0f0f) | (((a2 >> 6) & 0x03030303) << 4);
        byte* sc = (byte*)s;
        for (int g = 0; g < 16; g++) o->Ls[g] = (short)(sc[g] - 32);
        for (int n = 0; n < 2; n++)
            for (int j = 0; j < 4; j++)
                for (int l = 0; l < 32; l++)
                    o->V[128 * n + 32 * j + l] = (sbyte)(((qs[32 * n + l] >> 2 * j) & 3) - (((hm[l] >> (4 * n + j)) & 1) != 0 ? 0 : 4));
    }

    private static void ScaleMinK4(byte* s, int j, out int sc, out int m)
    {
        if (j < 4) { sc = s[j] & 63; m = s[j + 4] & 63; }
        else { sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4); m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4); }
    }

    public static void Q4K(byte* row, int b, Decoded* o)
    {
        byte* x = row + 144 * b;
        o->D = F16(x);
        o->DMin = F16(x + 2);
        for (int j = 0; j < 8; j++)
        {
            ScaleMinK4(x + 4, j, out int sc, out int m);
            Ls32(o, j, sc);
            o->M[2 * j] = (short)m; o->M[2 * j + 1] = (short)m;
        }
        byte* qs = x + 16;
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
            {
                o->V[64 * c + l] = (sbyte)(qs[32 * c + l] & 15);
                o->V[64 * c + 32 + l] = (sbyte)(qs[32 * c + l] >> 4);
            }
    }

    public static void Q5K(byte* row, int b, Decoded* o)
    {
        byte* x = row + 176 * b;
        o->D = F16(x);
        o->DMin = F16(x + 2);
        for (int j = 0; j < 8; j++)
        {
            ScaleMinK4(x + 4, j, out int sc, out int m);
            Ls32(o, j, sc);
            o->M[2 * j] = (short)m; o->M[2 * j + 1] = (short)m;
        }
        byte* qh = x + 16, qs = x + 48;
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
            {
                o->V[64 * c + l] = (sbyte)((qs[32 * c + l] & 15) | (((qh[l] >> 2 * c) & 1) << 4));
                o->V[64 * c + 32 + l] = (sbyte)((qs[32 * c + l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4));
            }
    }

    public static void Q6K(byte* row, int b, Decoded* o)
    {
        byte* x = row + 210 * b;
        o->D = F16(x + 208);
        for (int g = 0; g < 16; g++) o->Ls[g] = ((sbyte*)(x + 192))[g];
        for (int n = 0; n < 2; n++)
        {
            byte* ql = x + 64 * n, qh = x + 128 + 32 * n;
            sbyte* y = o->V + 128 * n;
            for (int l = 0; l < 32; l++)
            {
                y[l] = (sbyte)(((ql[l] & 15) | ((qh[l] & 3) << 4)) - 32);
                y[l + 32] = (sbyte)(((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32);
                y[l + 64] = (sbyte)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                y[l + 96] = (sbyte)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
    }
}
