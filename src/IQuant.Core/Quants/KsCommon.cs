using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace IQuant.Core.Quants;

/// <summary>
/// Value and index tables of the row-scaled KS family (spec §3.2, §4.1 B5). Normal table first, the shifted
/// table (all entries + constant) right after it.
/// </summary>
internal static class KsTables
{
    /// <summary>iq2nl: 4 normal + 4 shifted (+5).</summary>
    public static ReadOnlySpan<sbyte> Iq2nl => [-31, -13, 1, 17, -26, -8, 6, 22];

    /// <summary>iq3nl: 8 normal + 8 shifted (+4).</summary>
    public static ReadOnlySpan<sbyte> Iq3nl => [-63, -40, -23, -10, 1, 13, 28, 47, -59, -36, -19, -6, 5, 17, 32, 51];

    /// <summary>iq4k: 16 normal + 16 shifted (+4).</summary>
    public static ReadOnlySpan<sbyte> Iq4k =>
    [
        -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
        -123, -100, -79, -61, -45, -31, -18, -6, 5, 17, 29, 42, 57, 73, 93, 117,
    ];

    /// <summary>iq5nl: 32 normal + 32 shifted (+2).</summary>
    public static ReadOnlySpan<sbyte> Iq5nl =>
    [
        -126, -114, -103, -92, -83, -74, -65, -57, -50, -43, -36, -30, -24, -18, -12, -6,
        -1, 5, 11, 17, 23, 29, 36, 43, 51, 59, 68, 77, 87, 97, 109, 121,
        -124, -112, -101, -90, -81, -72, -63, -55, -48, -41, -34, -28, -22, -16, -10, -4,
        1, 7, 13, 19, 25, 31, 38, 45, 53, 61, 70, 79, 89, 99, 111, 123,
    ];

    /// <summary>iq3nl_index (111 entries).</summary>
    public static ReadOnlySpan<byte> Iq3nlIndex =>
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 9, 9, 2, 2, 2, 2, 2, 2,
        2, 2, 2, 2, 2, 2, 2, 10, 10, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 11, 11, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 12, 5, 5, 5, 5, 5,
        5, 5, 5, 5, 5, 5, 5, 13, 13, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 14, 14, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    ];

    /// <summary>iq4nl_index (241 entries).</summary>
    public static ReadOnlySpan<byte> Iq4nlIndex =>
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 16, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 17, 17, 2, 2,
        2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 18, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 19, 4, 4, 4, 4,
        4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 20, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 21, 21, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 22,
        7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 23, 23, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 24, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 25, 10,
        10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 26, 26, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 27, 27, 12, 12, 12,
        12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 28, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13,
        29, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 30, 15, 15, 15, 15, 15, 15,
        15, 15, 15, 15, 15, 15,
    ];

    /// <summary>iq5nl_index (248 entries; the reference bounds it at 247).</summary>
    public static ReadOnlySpan<byte> Iq5nlIndex =>
    [
        0, 0, 0, 0, 0, 0, 32, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 33, 33, 2, 2, 2, 2, 2, 2, 2, 2, 2, 34, 34, 3, 3, 3, 3, 3, 3, 3,
        3, 35, 35, 4, 4, 4, 4, 4, 4, 4, 36, 36, 5, 5, 5, 5, 5, 5, 5, 37, 37, 6, 6, 6, 6, 6, 6, 6, 38, 7, 7, 7, 7, 7, 7, 39,
        39, 8, 8, 8, 8, 8, 40, 40, 9, 9, 9, 9, 9, 41, 41, 10, 10, 10, 10, 10, 42, 11, 11, 11, 11, 11, 43, 12, 12, 12, 12,
        12, 44, 13, 13, 13, 13, 13, 45, 14, 14, 14, 14, 14, 46, 15, 15, 15, 15, 47, 47, 16, 16, 16, 16, 48, 17, 17, 17, 17,
        17, 49, 18, 18, 18, 18, 18, 50, 19, 19, 19, 19, 19, 51, 20, 20, 20, 20, 20, 52, 21, 21, 21, 21, 21, 53, 53, 22, 22,
        22, 22, 22, 54, 54, 23, 23, 23, 23, 23, 23, 55, 24, 24, 24, 24, 24, 24, 24, 56, 25, 25, 25, 25, 25, 25, 25, 57, 57,
        26, 26, 26, 26, 26, 26, 26, 58, 58, 27, 27, 27, 27, 27, 27, 27, 27, 59, 28, 28, 28, 28, 28, 28, 28, 28, 28, 60, 29,
        29, 29, 29, 29, 29, 29, 29, 29, 29, 61, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 62, 31, 31, 31, 31, 31, 31,
    ];
}

/// <summary>The three non-uniform table families searched with the B5 index functions.</summary>
internal enum KsFamily
{
    /// <summary>iq3nl, 8 values, bi3.</summary>
    Iq3 = 0,
    /// <summary>iq4k, 16 values, bi4.</summary>
    Iq4 = 1,
    /// <summary>iq5nl, 32 values, bi5.</summary>
    Iq5 = 2,
}

/// <summary>
/// A table family with its exact decision thresholds: <c>Thr[k]</c> is the smallest float <c>a</c> for which the
/// reference B5 function returns an index above k, so for |a| &lt; 2^31 the reference's best index equals the
/// number of thresholds <c>&lt;= a</c> (checked against the table-driven B5 functions in the tests).
/// </summary>
internal sealed class KsTable
{
    /// <summary>Number of values (8, 16 or 32).</summary>
    public readonly int N;
    /// <summary>Bound of the index table (111/241/247).</summary>
    public readonly int NIdx;
    /// <summary>Normal values as float.</summary>
    public readonly float[] Normal;
    /// <summary>Shifted values as float.</summary>
    public readonly float[] Shifted;
    /// <summary>Normal values (int8).</summary>
    public readonly sbyte[] NormalI;
    /// <summary>Shifted values (int8).</summary>
    public readonly sbyte[] ShiftedI;
    /// <summary>Index table of B5.</summary>
    public readonly byte[] Index;
    /// <summary>Decision thresholds of the normal table (N entries; the last is +inf, unused).</summary>
    public readonly float[] NormalThr;
    /// <summary>Decision thresholds of the shifted table.</summary>
    public readonly float[] ShiftedThr;

    private KsTable(ReadOnlySpan<sbyte> values, ReadOnlySpan<byte> index, int nIdx)
    {
        N = values.Length / 2;
        NIdx = nIdx;
        NormalI = values[..N].ToArray();
        ShiftedI = values[N..].ToArray();
        Normal = Array.ConvertAll(NormalI, v => (float)v);
        Shifted = Array.ConvertAll(ShiftedI, v => (float)v);
        Index = index.ToArray();
        NormalThr = Thresholds(NormalI);
        ShiftedThr = Thresholds(ShiftedI);
    }

    /// <summary>iq3nl.</summary>
    public static readonly KsTable Iq3 = new(KsTables.Iq3nl, KsTables.Iq3nlIndex, 111);
    /// <summary>iq4k.</summary>
    public static readonly KsTable Iq4 = new(KsTables.Iq4k, KsTables.Iq4nlIndex, 241);
    /// <summary>iq5nl.</summary>
    public static readonly KsTable Iq5 = new(KsTables.Iq5nl, KsTables.Iq5nlIndex, 247);

    /// <summary>The values of one half.</summary>
    public float[] Values(bool shifted) => shifted ? Shifted : Normal;

    /// <summary>The int8 values of one half.</summary>
    public sbyte[] ValuesI(bool shifted) => shifted ? ShiftedI : NormalI;

    /// <summary>The thresholds of one half.</summary>
    public float[] Thr(bool shifted) => shifted ? ShiftedThr : NormalThr;

    /// <summary>B5 best index, exactly as the reference computes it (table driven).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Bi(sbyte[] t, float a)
    {
        int ix = KsMath.CTrunc(a) - t[0];
        if (ix < 0) return 0;
        if (ix >= NIdx) return N - 1;
        int c = Index[ix];
        if (c < N) return c;
        int k = c - N;
        return (a - t[k]) < (t[k + 1] - a) ? k : k + 1;
    }

    private float[] Thresholds(sbyte[] t)
    {
        // The table-driven B5 result is a non-decreasing step function of a (checked exhaustively over all floats
        // in [-300, 300] offline, and densely in the tests); Thr[k] is the smallest float with Bi(a) > k. Note
        // this is not always the midpoint comparison: the definite INDEX codes win near some midpoints.
        var thr = new float[t.Length];
        for (int k = 0; k + 1 < t.Length; k++)
        {
            int lo = Key(-1000f), hi = Key(1000f); // Bi(lo) <= k < Bi(hi)
            while ((long)hi - lo > 1)
            {
                int mid = (int)(((long)lo + hi) >> 1);
                if (Bi(t, FromKey(mid)) > k) hi = mid; else lo = mid;
            }
            thr[k] = FromKey(hi);
        }
        thr[^1] = float.PositiveInfinity;
        return thr;
    }

    private static int Key(float a)
    {
        int b = BitConverter.SingleToInt32Bits(a);
        return b >= 0 ? b : -(b & 0x7FFFFFFF);
    }

    private static float FromKey(int k) => k >= 0 ? BitConverter.Int32BitsToSingle(k) : -BitConverter.Int32BitsToSingle(-k);
}

/// <summary>Small numeric helpers with the reference's exact semantics.</summary>
internal static class KsMath
{
    /// <summary>C's <c>(int)a</c> on x86 (cvttss2si): out-of-range and NaN give INT_MIN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int CTrunc(float a) => a >= -2147483648f && a < 2147483648f ? (int)a : int.MinValue;

    /// <summary>nearest_int: round half to even (valid for |v| ≤ 4194303).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int NearestInt(float v) => (int)MathF.Round(v);

    /// <summary>B5 bi2 for a 4-entry iq2nl table (normal or shifted half).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Bi2(ReadOnlySpan<sbyte> t, float a)
    {
        int k = a < t[1] ? 0 : a > t[2] ? 2 : 1;
        return (a - t[k]) < (t[k + 1] - a) ? k : k + 1;
    }

    /// <summary>Writes an f32 little-endian.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteF32(Span<byte> dst, float v) => System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(dst, v);

    /// <summary>Reads an f32 little-endian.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ReadF32(ReadOnlySpan<byte> src) => System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(src);

    /// <summary>Writes a u16 little-endian.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteU16(Span<byte> dst, ushort v) => System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(dst, v);

    /// <summary>Reads a u16 little-endian.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ReadU16(ReadOnlySpan<byte> src) => System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(src);
}

/// <summary>How σ² is formed from the super-block sum of squares S (spec §4.1 B2).</summary>
internal enum KsSigma
{
    /// <summary>(1.5f*S)/256 (IQ2_KS).</summary>
    OnePointFive,
    /// <summary>S*(2f/256) (IQ3_KS, IQ4_KS, IQ5_KS, IQ4_KSS).</summary>
    Two,
    /// <summary>S*f32(2.25/256) (IQ2_KL).</summary>
    TwoPointTwoFive,
}

/// <summary>The weight used without an imatrix (spec §4.1 B3).</summary>
internal enum KsNoImatrixWeight
{
    /// <summary>(0.25f*σ²) + x*x (IQ2_KS).</summary>
    QuarterSigmaPlusSquare,
    /// <summary>x*x.</summary>
    Square,
    /// <summary>|x| (IQ2_KL).</summary>
    Abs,
}

/// <summary>Per-thread scratch buffers of the KS quantizers, grown to the longest row seen.</summary>
internal sealed class KsScratch
{
    [ThreadStatic] private static KsScratch? t_instance;

    /// <summary>The calling thread's scratch, large enough for a row of <paramref name="n"/> values.</summary>
    public static KsScratch Get(int n)
    {
        var s = t_instance ??= new KsScratch();
        s.Ensure(n);
        return s;
    }

    /// <summary>Pre-processed importance weights (B1), n.</summary>
    public float[] Qw = [];
    /// <summary>Per-element weights w (B3), n.</summary>
    public float[] W = [];
    /// <summary>Per-sub-block float scales, n/32.</summary>
    public float[] Scales = [];
    /// <summary>Per-sub-block sum of weights, n/32.</summary>
    public float[] Sw = [];
    /// <summary>Per-sub-block signed max, n/32.</summary>
    public float[] Max = [];
    /// <summary>Per-sub-block |max|, n/32.</summary>
    public float[] Amax = [];
    /// <summary>Per-sub-block integer results (L), n/32.</summary>
    public int[] L = [];
    /// <summary>Per-sub-block shift flags, n/32.</summary>
    public bool[] Shifted = [];
    /// <summary>Per-element indices, n.</summary>
    public byte[] Idx = [];

    private void Ensure(int n)
    {
        if (W.Length >= n) return;
        int ns = n / 32 + 1;
        Qw = new float[n]; W = new float[n]; Idx = new byte[n];
        Scales = new float[ns]; Sw = new float[ns]; Max = new float[ns]; Amax = new float[ns]; L = new int[ns];
        Shifted = new bool[ns];
    }
}

/// <summary>Scalar building blocks of spec §4.1 for the KS family (block size 32).</summary>
internal static class KsBlocks
{
    /// <summary>
    /// B1: copies the imatrix into <paramref name="qw"/> and replaces every 32-column chunk whose sums are all
    /// tiny by 1e-9f.
    /// </summary>
    public static void PrepareImatrix(ReadOnlySpan<float> x, ReadOnlySpan<float> imatrix, Span<float> qw)
    {
        const float eps = 1e-9f;
        float eps2 = eps * eps;
        float thr = 32 * eps2;
        for (int c = 0; c < x.Length; c += 32)
        {
            float sw2 = 0, sx2 = 0, swx = 0;
            for (int j = c; j < c + 32; j++)
            {
                float q = imatrix[j], v = x[j];
                sw2 = sw2 + q * q;
                sx2 = sx2 + v * v;
                swx = swx + q * MathF.Abs(v);
            }
            bool keep = sw2 > thr && sx2 > thr && swx > thr;
            for (int j = c; j < c + 32; j++) qw[j] = keep ? imatrix[j] : eps;
        }
    }

    /// <summary>B2: σ² of one 256-value super-block.</summary>
    public static float Sigma2(ReadOnlySpan<float> xb, KsSigma kind)
    {
        float s = 0;
        for (int j = 0; j < 256; j++) s = s + xb[j] * xb[j];
        return kind switch
        {
            KsSigma.OnePointFive => (1.5f * s) / 256,
            KsSigma.Two => s * (2f / 256),
            _ => s * (2.25f / 256),
        };
    }

    /// <summary>B3 for one super-block: fills <paramref name="w"/> (256 values).</summary>
    public static void Weights(ReadOnlySpan<float> xb, ReadOnlySpan<float> qwb, Span<float> w, float sigma2, KsNoImatrixWeight kind)
    {
        if (!qwb.IsEmpty)
        {
            KsVec.WeightsImatrix(xb, qwb, w, sigma2);
            return;
        }
        switch (kind)
        {
            case KsNoImatrixWeight.QuarterSigmaPlusSquare:
                KsVec.WeightsQuarter(xb, w, 0.25f * sigma2);
                break;
            case KsNoImatrixWeight.Square:
                KsVec.WeightsSquare(xb, w);
                break;
            default:
                for (int j = 0; j < 256; j++) w[j] = MathF.Abs(xb[j]);
                break;
        }
    }

    /// <summary>B4: the first element with the largest |x| (signed) and its magnitude.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BlockMax(ReadOnlySpan<float> x, out float max, out float amax)
    {
        float am = 0, m = 0;
        for (int j = 0; j < x.Length; j++)
        {
            float a = MathF.Abs(x[j]);
            if (a > am) { am = a; m = x[j]; }
        }
        max = m; amax = am;
    }

    /// <summary>
    /// Computes σ², the weights W and per-sub-block max/amax for a whole row (and, when <paramref name="sw"/> is
    /// not empty, the sequential per-sub-block weight sums).
    /// </summary>
    public static void PrepareRow(ReadOnlySpan<float> x, ReadOnlySpan<float> qw, KsSigma sigma, KsNoImatrixWeight noIm,
        Span<float> w, Span<float> max, Span<float> amax, Span<float> sw)
    {
        int nblk = x.Length / 256;
        Span<float> s2 = stackalloc float[4];
        for (int ibl = 0; ibl < nblk; ibl += 4)
        {
            int nb = Math.Min(4, nblk - ibl);
            SumSquares4(x.Slice(256 * ibl, 256 * nb), nb, s2);
            for (int b = 0; b < nb; b++)
            {
                int o = 256 * (ibl + b);
                float sg = sigma switch
                {
                    KsSigma.OnePointFive => (1.5f * s2[b]) / 256,
                    KsSigma.Two => s2[b] * (2f / 256),
                    _ => s2[b] * (2.25f / 256),
                };
                Weights(x.Slice(o, 256), qw.IsEmpty ? default : qw.Slice(o, 256), w.Slice(o, 256), sg, noIm);
            }
        }
        int nsub = x.Length / 32;
        for (int i = 0; i < nsub; i++) BlockMax32(x.Slice(32 * i, 32), out max[i], out amax[i]);
        if (!sw.IsEmpty) SumBlocks32(w, sw);
    }

    /// <summary>S = Σ x² (sequential, in order) of up to 4 consecutive super-blocks, interleaved for ILP.</summary>
    private static void SumSquares4(ReadOnlySpan<float> x, int nb, Span<float> s)
    {
        if (nb == 4)
        {
            float a = 0, b = 0, c = 0, d = 0;
            for (int j = 0; j < 256; j++)
            {
                float xa = x[j], xb = x[256 + j], xc = x[512 + j], xd = x[768 + j];
                a = a + xa * xa; b = b + xb * xb; c = c + xc * xc; d = d + xd * xd;
            }
            s[0] = a; s[1] = b; s[2] = c; s[3] = d;
            return;
        }
        for (int k = 0; k < nb; k++) s[k] = Sigma2Raw(x.Slice(256 * k, 256));
    }

    private static float Sigma2Raw(ReadOnlySpan<float> xb)
    {
        float s = 0;
        for (int j = 0; j < 256; j++) s = s + xb[j] * xb[j];
        return s;
    }

    /// <summary>sw[i] = Σ w over sub-block i, sequentially, four sub-blocks interleaved for ILP.</summary>
    private static void SumBlocks32(ReadOnlySpan<float> w, Span<float> sw)
    {
        int nsub = w.Length / 32, i = 0;
        for (; i + 4 <= nsub; i += 4)
        {
            var ws = w.Slice(32 * i, 128);
            float a = 0, b = 0, c = 0, d = 0;
            for (int j = 0; j < 32; j++) { a = a + ws[j]; b = b + ws[32 + j]; c = c + ws[64 + j]; d = d + ws[96 + j]; }
            sw[i] = a; sw[i + 1] = b; sw[i + 2] = c; sw[i + 3] = d;
        }
        for (; i < nsub; i++)
        {
            float a = 0;
            for (int j = 0; j < 32; j++) a = a + w[32 * i + j];
            sw[i] = a;
        }
    }

    /// <summary>B4 for 32 values: max |x|, then the first element attaining it (same result as the strict-&gt; scan).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BlockMax32(ReadOnlySpan<float> x, out float max, out float amax)
    {
        if (!Vector256.IsHardwareAccelerated) { BlockMax(x, out max, out amax); return; }
        ref float r = ref MemoryMarshal.GetReference(x);
        var a0 = Vector256.Abs(Vector256.LoadUnsafe(ref r, 0));
        var a1 = Vector256.Abs(Vector256.LoadUnsafe(ref r, 8));
        var a2 = Vector256.Abs(Vector256.LoadUnsafe(ref r, 16));
        var a3 = Vector256.Abs(Vector256.LoadUnsafe(ref r, 24));
        var m = Vector256.MaxNative(Vector256.MaxNative(a0, a1),
            Vector256.MaxNative(a2, a3));
        float am = MathF.Max(MathF.Max(MathF.Max(m[0], m[1]), MathF.Max(m[2], m[3])), MathF.Max(MathF.Max(m[4], m[5]), MathF.Max(m[6], m[7])));
        amax = am;
        if (am == 0) { max = 0; return; }
        var v = Vector256.Create(am);
        uint bits = Vector256.Equals(a0, v).ExtractMostSignificantBits()
            | Vector256.Equals(a1, v).ExtractMostSignificantBits() << 8
            | Vector256.Equals(a2, v).ExtractMostSignificantBits() << 16
            | Vector256.Equals(a3, v).ExtractMostSignificantBits() << 24;
        max = Unsafe.Add(ref r, System.Numerics.BitOperations.TrailingZeroCount(bits));
    }

    /// <summary>
    /// B6 ScanScale for a 32-value sub-block (STEP = 1), scalar reference. Caller has checked amax ≥ 1e-16f.
    /// </summary>
    public static float ScanScale(KsTable tab, ReadOnlySpan<float> x, ReadOnlySpan<float> w, float max, int ntry, bool guard,
        out bool shifted)
    {
        var T = tab.NormalI; var S = tab.ShiftedI;
        float d = -max / T[0];
        float id = 1 / d;
        Acc(tab, T, x, w, id, out float sp, out float qp, out float sm, out float qm);
        float best;
        if (guard)
        {
            best = 0;
            if (qp > 0) { d = sp / qp; best = d * sp; }
        }
        else { d = sp / qp; best = d * sp; }
        if (qm > 0 && sm * sm > best * qm) { d = sm / qm; best = d * sm; }
        shifted = false;
        for (int itry = -ntry; itry <= ntry; itry++)
        {
            for (int h = 0; h < 2; h++)
            {
                var t = h == 0 ? T : S;
                id = (itry + t[0]) / max;
                Acc(tab, t, x, w, id, out sp, out qp, out sm, out qm);
                if (qp > 0 && sp * sp > best * qp) { d = sp / qp; best = d * sp; shifted = h == 1; }
                if (qm > 0 && sm * sm > best * qm) { d = sm / qm; best = d * sm; shifted = h == 1; }
            }
        }
        return d;
    }

    private static void Acc(KsTable tab, sbyte[] t, ReadOnlySpan<float> x, ReadOnlySpan<float> w, float id,
        out float sp, out float qp, out float sm, out float qm)
    {
        sp = qp = sm = qm = 0;
        for (int j = 0; j < x.Length; j++)
        {
            float a = id * x[j];
            float q = t[tab.Bi(t, a)];
            float wq = w[j] * q;
            sp = sp + wq * x[j];
            qp = qp + wq * q;
            q = t[tab.Bi(t, -a)];
            wq = w[j] * q;
            sm = sm + wq * x[j];
            qm = qm + wq * q;
        }
    }

    /// <summary>
    /// B7 make_qx_quants (ik variant): integer scales in [-nmax, nmax-1] for the float scales <paramref name="s"/>,
    /// written to <paramref name="L"/> as l + nmax. Returns the float scale (0 when all inputs are 0).
    /// </summary>
    public static float MakeQxQuants(int nmax, ReadOnlySpan<float> s, ReadOnlySpan<float> sw, Span<int> L)
    {
        int n = s.Length;
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++)
        {
            float a = MathF.Abs(s[i]);
            if (a > amax) { amax = a; max = s[i]; }
        }
        if (amax == 0)
        {
            L[..n].Clear();
            return 0;
        }
        float iscale = -nmax / max;
        float slx = 0, sl2 = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Clamp(KsMath.NearestInt(iscale * s[i]), -nmax, nmax - 1);
            L[i] = l + nmax;
            slx = slx + (sw[i] * s[i]) * l;
            sl2 = sl2 + (sw[i] * l) * l;
        }
        float scale = sl2 != 0 ? slx / sl2 : 0;
        float best = scale * slx;
        for (int @is = -9; @is <= 9; @is++)
        {
            if (@is == 0) continue;
            iscale = -(nmax + 0.1f * @is) / max;
            slx = 0; sl2 = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Clamp(KsMath.NearestInt(iscale * s[i]), -nmax, nmax - 1);
                slx = slx + (sw[i] * s[i]) * l;
                sl2 = sl2 + (sw[i] * l) * l;
            }
            if (sl2 > 0 && slx * slx > best * sl2)
            {
                for (int i = 0; i < n; i++)
                    L[i] = Math.Clamp(KsMath.NearestInt(iscale * s[i]), -nmax, nmax - 1) + nmax;
                scale = slx / sl2;
                best = scale * slx;
            }
        }
        return scale;
    }
}
