using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace IQuant.Core.Quants;

/// <summary>
/// Shared building blocks of the IQ2_K..IQ6_K quantizers (spec formats.md §4.1): value tables, the exact
/// nearest-index functions (B5), imatrix pre-processing (B1), variance / weights (B2, B3), make_qx_quants (B7),
/// and the ±candidate scale search (B6) with scalar and SIMD kernels.
/// Every float operation follows the reference order (binary32, no FMA contraction).
/// </summary>
internal static class IqkCommon
{
    /// <summary>Super-block size.</summary>
    public const int QK = 256;

    // ---------------------------------------------------------------- value tables (§3.2)

    /// <summary>iq2nl normal (0..3) and shifted (4..7) values.</summary>
    public static ReadOnlySpan<sbyte> Iq2nlValues => [-31, -13, 1, 17, -26, -8, 6, 22];

    /// <summary>iq3nl normal (0..7) and shifted (8..15) values.</summary>
    public static ReadOnlySpan<sbyte> Iq3nlValues => [-63, -40, -23, -10, 1, 13, 28, 47, -59, -36, -19, -6, 5, 17, 32, 51];

    /// <summary>iq4k normal (0..15) and shifted (16..31) values.</summary>
    public static ReadOnlySpan<sbyte> Iq4kValues =>
    [
        -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
        -123, -100, -79, -61, -45, -31, -18, -6, 5, 17, 29, 42, 57, 73, 93, 117,
    ];

    /// <summary>iq5nl normal (0..31) and shifted (32..63) values.</summary>
    public static ReadOnlySpan<sbyte> Iq5nlValues =>
    [
        -126, -114, -103, -92, -83, -74, -65, -57, -50, -43, -36, -30, -24, -18, -12, -6,
        -1, 5, 11, 17, 23, 29, 36, 43, 51, 59, 68, 77, 87, 97, 109, 121,
        -124, -112, -101, -90, -81, -72, -63, -55, -48, -41, -34, -28, -22, -16, -10, -4,
        1, 7, 13, 19, 25, 31, 38, 45, 53, 61, 70, 79, 89, 99, 111, 123,
    ];

    /// <summary>iq6nl normal values (64); the shifted table is each + 1.</summary>
    public static ReadOnlySpan<sbyte> Iq6nlValues =>
    [
        -127, -121, -115, -109, -104, -98, -93, -88, -84, -79, -74, -70, -66, -62, -58, -54,
        -51, -47, -44, -40, -37, -34, -31, -28, -25, -22, -19, -16, -13, -11, -8, -5,
        -2, 0, 3, 6, 9, 12, 14, 17, 20, 23, 27, 30, 33, 36, 40, 44,
        47, 51, 55, 59, 63, 68, 72, 77, 82, 87, 92, 98, 103, 109, 115, 121,
    ];

    // ---------------------------------------------------------------- index tables (§4.1 B5)

    internal static ReadOnlySpan<byte> Iq3nlIndex =>
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 9,
        9, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 10, 10, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 11, 11, 4, 4, 4, 4,
        4, 4, 4, 4, 4, 4, 12, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 13, 13, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
        6, 6, 6, 6, 14, 14, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    ];

    internal static ReadOnlySpan<byte> Iq4nlIndex =>
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 16, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 17, 17, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 18, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
        3, 3, 3, 3, 3, 3, 19, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 20, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
        5, 5, 21, 21, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 22, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 23, 23, 8, 8, 8, 8,
        8, 8, 8, 8, 8, 8, 24, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 25, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 26, 26,
        11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 27, 27, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 28, 13, 13, 13,
        13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 29, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14,
        14, 14, 14, 14, 30, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
    ];

    internal static ReadOnlySpan<byte> Iq5nlIndex =>
    [
        0, 0, 0, 0, 0, 0, 32, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 33, 33, 2, 2, 2, 2, 2, 2, 2, 2, 2, 34, 34, 3, 3,
        3, 3, 3, 3, 3, 3, 35, 35, 4, 4, 4, 4, 4, 4, 4, 36, 36, 5, 5, 5, 5, 5, 5, 5, 37, 37, 6, 6, 6, 6, 6, 6,
        6, 38, 7, 7, 7, 7, 7, 7, 39, 39, 8, 8, 8, 8, 8, 40, 40, 9, 9, 9, 9, 9, 41, 41, 10, 10, 10, 10, 10, 42, 11, 11,
        11, 11, 11, 43, 12, 12, 12, 12, 12, 44, 13, 13, 13, 13, 13, 45, 14, 14, 14, 14, 14, 46, 15, 15, 15, 15, 47, 47, 16, 16, 16, 16,
        48, 17, 17, 17, 17, 17, 49, 18, 18, 18, 18, 18, 50, 19, 19, 19, 19, 19, 51, 20, 20, 20, 20, 20, 52, 21, 21, 21, 21, 21, 53, 53,
        22, 22, 22, 22, 22, 54, 54, 23, 23, 23, 23, 23, 23, 55, 24, 24, 24, 24, 24, 24, 24, 56, 25, 25, 25, 25, 25, 25, 25, 57, 57, 26,
        26, 26, 26, 26, 26, 26, 58, 58, 27, 27, 27, 27, 27, 27, 27, 27, 59, 28, 28, 28, 28, 28, 28, 28, 28, 28, 60, 29, 29, 29, 29, 29,
        29, 29, 29, 29, 29, 61, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 62, 31, 31, 31, 31, 31, 31,
    ];

    internal static ReadOnlySpan<byte> Iq6nlIndex =>
    [
        0, 0, 0, 64, 1, 1, 1, 1, 1, 65, 2, 2, 2, 2, 2, 66, 3, 3, 3, 3, 67, 67, 4, 4, 4, 4, 68, 5, 5, 5, 5, 69,
        69, 6, 6, 6, 70, 70, 7, 7, 7, 71, 8, 8, 8, 72, 72, 9, 9, 9, 73, 73, 10, 10, 10, 74, 11, 11, 11, 75, 12, 12, 12, 76,
        13, 13, 13, 77, 14, 14, 14, 78, 15, 15, 79, 79, 16, 16, 80, 17, 17, 81, 81, 18, 18, 82, 19, 19, 83, 83, 20, 84, 84, 21, 85, 85,
        22, 86, 86, 23, 87, 87, 24, 88, 88, 25, 89, 89, 26, 90, 90, 27, 91, 91, 28, 92, 29, 93, 93, 30, 94, 94, 31, 95, 95, 32, 96, 33,
        97, 97, 34, 98, 98, 35, 99, 99, 36, 100, 100, 37, 101, 38, 102, 102, 39, 103, 103, 40, 104, 104, 41, 41, 105, 42, 42, 106, 106, 43, 107, 107,
        44, 108, 108, 45, 45, 109, 46, 46, 46, 110, 47, 47, 111, 111, 48, 48, 112, 49, 49, 49, 113, 50, 50, 50, 114, 51, 51, 51, 115, 52, 52, 52,
        116, 116, 53, 53, 53, 117, 54, 54, 54, 118, 118, 55, 55, 55, 119, 119, 56, 56, 56, 120, 120, 57, 57, 57, 121, 121, 58, 58, 58, 58, 122, 59,
        59, 59, 59, 123, 123, 60, 60, 60, 60, 124, 61, 61, 61, 61, 61, 125, 62, 62, 62, 62, 62, 126, 63, 63, 63,
    ];

    // ---------------------------------------------------------------- grids

    /// <summary>iq3nl family (IQ3_K), bi3.</summary>
    public static readonly IqkGrid Iq3 = IqkGrid.FromInt8(Iq3nlValues, 8, Iq3nlIndex, 111);

    /// <summary>iq4k family (IQ4_K), bi4.</summary>
    public static readonly IqkGrid Iq4 = IqkGrid.FromInt8(Iq4kValues, 16, Iq4nlIndex, 241);

    /// <summary>iq5nl family (IQ5_K), bi5 (bound 247 although the index table has 248 entries).</summary>
    public static readonly IqkGrid Iq5 = IqkGrid.FromInt8(Iq5nlValues, 32, Iq5nlIndex, 247);

    /// <summary>iq6nl family (IQ6_K): f32 tables T and T+1, bi6 (subtract first, then truncate).</summary>
    public static readonly IqkGrid Iq6 = IqkGrid.FromIq6();

    // ---------------------------------------------------------------- scalar helpers

    /// <summary>ik's nearest_int: round half to even through the 1.5·2^23 trick (bit-exact, also out of range).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int NearestInt(float v)
    {
        float t = v + 12582912f;
        return (BitConverter.SingleToInt32Bits(t) & 0x007FFFFF) - 0x00400000;
    }

    /// <summary>C's <c>(int)v</c> as x86 cvttss2si computes it: toward zero; NaN and out-of-range give int.MinValue.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Trunc(float v) => v >= -2147483648f && v < 2147483648f ? (int)v : int.MinValue;

    /// <summary>std::max semantics: <c>(a &lt; b) ? b : a</c> (differs from MathF.Max for NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float StdMax(float a, float b) => a < b ? b : a;

    /// <summary>The C macro MAX: <c>(a &gt; b) ? a : b</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float CMax(float a, float b) => a > b ? a : b;

    /// <summary>B2: S = Σ x² over the super-block, sequentially.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumSquares(ReadOnlySpan<float> x)
    {
        float s = 0;
        for (int j = 0; j < x.Length; j++) s += x[j] * x[j];
        return s;
    }

    /// <summary>B4: (amax, max) with the first strictly larger |x| winning.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BlockMax(ReadOnlySpan<float> x, out float max)
    {
        float amax = 0; max = 0;
        for (int j = 0; j < x.Length; j++)
        {
            float ax = MathF.Abs(x[j]);
            if (ax > amax) { amax = ax; max = x[j]; }
        }
        return amax;
    }

    /// <summary>
    /// B3 weights of one sub-block. With an imatrix: <c>qw*sqrt(σ² + x²)</c>; without:
    /// <c>(quarterSigma ? 0.25f*σ² : 0) + x²</c> (pass quarterSigma = false for the plain x² types).
    /// </summary>
    public static void Weights(ReadOnlySpan<float> x, ReadOnlySpan<float> qw, float sigma2, bool quarterSigma, Span<float> w, SimdLevel level = SimdLevel.Scalar)
    {
        // Element-wise (no reduction), so the vector form gives the same floats as the scalar loop.
        int j = 0;
        if (Vector256.IsHardwareAccelerated && level != SimdLevel.Scalar)
        {
            ref float rx = ref MemoryMarshal.GetReference(x);
            ref float rw = ref MemoryMarshal.GetReference(w);
            var s2 = Vector256.Create(sigma2);
            var s4 = Vector256.Create(0.25f * sigma2);
            for (; j + 8 <= x.Length; j += 8)
            {
                var xv = Vector256.LoadUnsafe(ref rx, (nuint)j);
                var xx = xv * xv;
                Vector256<float> r;
                if (!qw.IsEmpty) r = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(qw), (nuint)j) * Vector256.Sqrt(s2 + xx);
                else if (quarterSigma) r = s4 + xx;
                else r = xx;
                r.StoreUnsafe(ref rw, (nuint)j);
            }
        }
        if (!qw.IsEmpty)
        {
            for (; j < x.Length; j++) w[j] = qw[j] * MathF.Sqrt(sigma2 + x[j] * x[j]);
        }
        else if (quarterSigma)
        {
            float s = 0.25f * sigma2;
            for (; j < x.Length; j++) w[j] = s + x[j] * x[j];
        }
        else
        {
            for (; j < x.Length; j++) w[j] = x[j] * x[j];
        }
    }

    [ThreadStatic] private static float[]? t_rowWeights;

    /// <summary>
    /// B1 (QHelper::row_weights): copies the imatrix into a per-thread buffer and replaces every QB-column chunk
    /// whose Σw², Σx² or Σw|x| is not above QB·ε² by 1e-9f. Returns an empty span when there is no imatrix.
    /// The returned span is valid until the next call on the same thread.
    /// </summary>
    public static ReadOnlySpan<float> PrepareRowWeights(ReadOnlySpan<float> x, ReadOnlySpan<float> imatrix, int qb)
    {
        if (imatrix.IsEmpty) return default;
        int n = x.Length;
        var buf = t_rowWeights;
        if (buf is null || buf.Length < n) t_rowWeights = buf = new float[Math.Max(n, 4096)];
        const float eps = 1e-9f;
        const float eps2 = eps * eps;
        float thr = qb * eps2;
        for (int ib = 0; ib < n / qb; ib++)
        {
            var wi = imatrix.Slice(ib * qb, qb);
            var xb = x.Slice(ib * qb, qb);
            var wb = buf.AsSpan(ib * qb, qb);
            float sw2 = 0, sx2 = 0, swx = 0;
            for (int j = 0; j < qb; j++)
            {
                float v = wi[j];
                wb[j] = v;
                sw2 += v * v;
                sx2 += xb[j] * xb[j];
                swx += v * MathF.Abs(xb[j]);
            }
            if (sw2 > thr && sx2 > thr && swx > thr) continue;
            wb.Fill(eps);
        }
        return buf.AsSpan(0, n);
    }

    /// <summary>B7 make_qx_quants (ik variant), returning only the scale (the L output is unused by IQ2_K).</summary>
    public static float MakeQxQuants(int nmax, ReadOnlySpan<float> s, ReadOnlySpan<float> qw)
    {
        int n = s.Length;
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++)
        {
            float ax = MathF.Abs(s[i]);
            if (ax > amax) { amax = ax; max = s[i]; }
        }
        if (amax == 0) return 0;
        float iscale = (float)(-nmax) / max;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Clamp(NearestInt(iscale * s[i]), -nmax, nmax - 1);
            sumlx += qw[i] * s[i] * l;
            suml2 += qw[i] * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0f;
        float best = scale * sumlx;
        for (int itry = -9; itry <= 9; itry++)
        {
            if (itry == 0) continue;
            iscale = -(nmax + 0.1f * itry) / max;
            sumlx = suml2 = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Clamp(NearestInt(iscale * s[i]), -nmax, nmax - 1);
                sumlx += qw[i] * s[i] * l;
                suml2 += qw[i] * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2)
            {
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    /// <summary>bi2: nearest of a 4-entry iq2nl table (t0..t3 ascending), ties to the larger index.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int BestIndex2(float t0, float t1, float t2, float t3, float a)
    {
        if (a < t1) return (a - t0) < (t1 - a) ? 0 : 1;
        if (a > t2) return (a - t2) < (t3 - a) ? 2 : 3;
        return (a - t1) < (t2 - a) ? 1 : 2;
    }

    /// <summary>Reads a little-endian u16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort U16(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt16LittleEndian(b.Slice(o));

    /// <summary>Writes a little-endian u16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void U16(Span<byte> b, int o, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(b.Slice(o), v);
}

/// <summary>
/// One non-uniform value family with its normal and shifted tables and the exact nearest-index function B5
/// (bi3/bi4/bi5: truncate then subtract T[0] as integers; bi6: subtract T[0] in f32, then truncate).
/// Also holds the lookup tables of the SIMD kernels (<see cref="IqkSimd"/>), in pinned memory.
/// </summary>
internal sealed unsafe class IqkGrid
{
    /// <summary>Entries per table (8, 16, 32, 64).</summary>
    public readonly int N;
    /// <summary>log2(N).</summary>
    public readonly int Log2N;
    /// <summary>Shifted table = normal + Shift (exact small integers).</summary>
    public readonly float Shift;
    /// <summary>Normal table as f32, padded with copies of the last entry to 64 entries (pinned).</summary>
    public readonly float[] Normal;
    /// <summary>Shifted table as f32, padded likewise (pinned).</summary>
    public readonly float[] Shifted;
    /// <summary>The B5 index table.</summary>
    public readonly byte[] Index;
    /// <summary>Bound: ix ≥ NIdx returns N-1.</summary>
    public readonly int NIdx;
    /// <summary>True for bi6 (f32 subtraction before truncation).</summary>
    public readonly bool SubThenTrunc;
    /// <summary>T[0] of the normal table as an integer (bi3..bi5).</summary>
    public readonly int T0;
    /// <summary>
    /// Index codes by <c>ix + 1</c> clamped to [0, 255] (pinned): entry 0 = index 0 (ix &lt; 0), entries 1..NIdx =
    /// Index, the rest N-1. Codes ≥ N mean "k = code - N or k + 1, compare".
    /// </summary>
    public readonly byte[] Lut;
    /// <summary>First candidate index k of a code, by ix+1 (pinned int32, for gathers).</summary>
    public readonly int[] LutK;
    /// <summary>Second candidate k + (code ≥ N), by ix+1 (pinned int32).</summary>
    public readonly int[] LutK1;
    /// <summary>Normal value of LutK, by ix+1 (pinned f32).</summary>
    public readonly float[] LutTk;
    /// <summary>Normal value of LutK1, by ix+1 (pinned f32).</summary>
    public readonly float[] LutTk1;

    /// <summary>Pointer to <see cref="Normal"/>.</summary>
    public readonly float* PNormal;
    /// <summary>Pointer to <see cref="Lut"/>.</summary>
    public readonly byte* PLut;
    /// <summary>Pointer to <see cref="LutK"/>.</summary>
    public readonly int* PLutK;
    /// <summary>Pointer to <see cref="LutK1"/>.</summary>
    public readonly int* PLutK1;
    /// <summary>Pointer to <see cref="LutTk"/>.</summary>
    public readonly float* PLutTk;
    /// <summary>Pointer to <see cref="LutTk1"/>.</summary>
    public readonly float* PLutTk1;

    private static T[] Pinned<T>(int n) where T : unmanaged => GC.AllocateArray<T>(n, pinned: true);

    private IqkGrid(float[] normal, float shift, int n, ReadOnlySpan<byte> index, int nIdx, bool subThenTrunc)
    {
        N = n; Log2N = System.Numerics.BitOperations.Log2((uint)n);
        Shift = shift;
        Normal = Pinned<float>(64);
        Shifted = Pinned<float>(64);
        for (int i = 0; i < 64; i++)
        {
            Normal[i] = normal[Math.Min(i, n - 1)];
            Shifted[i] = normal[Math.Min(i, n - 1)] + shift;
        }
        T0 = (int)Normal[0];
        Index = index.ToArray();
        NIdx = nIdx;
        SubThenTrunc = subThenTrunc;
        Lut = Pinned<byte>(256);
        LutK = Pinned<int>(256); LutK1 = Pinned<int>(256);
        LutTk = Pinned<float>(256); LutTk1 = Pinned<float>(256);
        for (int i = 0; i < 256; i++)
        {
            int c = i == 0 ? 0 : i - 1 < nIdx ? Index[i - 1] : n - 1;
            Lut[i] = (byte)c;
            int k = c & (n - 1);
            int k1 = k + (c >> Log2N);
            LutK[i] = k; LutK1[i] = k1;
            LutTk[i] = Normal[k]; LutTk1[i] = Normal[k1];
        }
        PNormal = (float*)Unsafe.AsPointer(ref Normal[0]);
        PLut = (byte*)Unsafe.AsPointer(ref Lut[0]);
        PLutK = (int*)Unsafe.AsPointer(ref LutK[0]);
        PLutK1 = (int*)Unsafe.AsPointer(ref LutK1[0]);
        PLutTk = (float*)Unsafe.AsPointer(ref LutTk[0]);
        PLutTk1 = (float*)Unsafe.AsPointer(ref LutTk1[0]);
    }

    internal static IqkGrid FromInt8(ReadOnlySpan<sbyte> both, int n, ReadOnlySpan<byte> index, int nIdx)
    {
        var normal = new float[n];
        for (int i = 0; i < n; i++) normal[i] = both[i];
        float shift = both[n] - both[0];
        return new IqkGrid(normal, shift, n, index, nIdx, false);
    }

    internal static IqkGrid FromIq6()
    {
        var normal = new float[64];
        for (int i = 0; i < 64; i++) normal[i] = IqkCommon.Iq6nlValues[i];
        return new IqkGrid(normal, 1f, 64, IqkCommon.Iq6nlIndex, 249, true);
    }

    /// <summary>The table (normal or shifted) as a span of N values.</summary>
    public ReadOnlySpan<float> Table(bool shifted) => (shifted ? Shifted : Normal).AsSpan(0, N);

    /// <summary>B5 nearest index of <paramref name="a"/> in <paramref name="t"/> (one of <see cref="Table"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int BestIndex(ReadOnlySpan<float> t, float a)
    {
        int ix = SubThenTrunc ? IqkCommon.Trunc(a - t[0]) : IqkCommon.Trunc(a) - (int)t[0];
        if (ix < 0) return 0;
        if (ix >= NIdx) return N - 1;
        int c = Index[ix];
        if (c < N) return c;
        int k = c - N;
        return (a - t[k]) < (t[k + 1] - a) ? k : k + 1;
    }
}
