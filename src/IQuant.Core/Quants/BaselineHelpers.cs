using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace IQuant.Core.Quants;

/// <summary>
/// Scalar building blocks shared by the baseline quantizers of ggml-quants.c (formats-baseline.md §0 and §2).
/// Every routine follows the spec's operation order literally: binary32 arithmetic, one rounding per operation,
/// sequential sums from +0, no FMA. These are the reference paths; SIMD kernels elsewhere must match them bit for bit.
/// </summary>
[SkipLocalsInit]
internal static unsafe class BaselineHelpers
{
    /// <summary>GROUP_MAX_EPS of ggml-quants.c.</summary>
    public const float GroupMaxEps = 1e-15f;

    /// <summary>kvalues_iq4nl (int8 table T of §0).</summary>
    public static ReadOnlySpan<sbyte> Iq4nlValues => [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

    /// <summary>The IQ4_NL table as floats (exact).</summary>
    public static readonly float[] Iq4nlFloats =
        [-127f, -104f, -83f, -65f, -49f, -35f, -22f, -10f, 1f, 13f, 25f, 38f, 53f, 69f, 89f, 113f];

    /// <summary>iq4nl_index (241 entries; codes ≥ 16 mean "between code−16 and code−15, compare"), formats.md §4.1 B5.</summary>
    public static ReadOnlySpan<byte> Iq4nlIndex =>
    [
          0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, 16, 16,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,
          1, 17, 17,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2, 18,  3,  3,  3,  3,  3,  3,  3,  3,  3,  3,
          3,  3,  3,  3,  3,  3, 19,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4,  4, 20,  5,  5,  5,  5,  5,  5,  5,  5,  5,  5,
          5,  5, 21, 21,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6,  6, 22,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7, 23, 23,  8,  8,  8,  8,
          8,  8,  8,  8,  8,  8, 24,  9,  9,  9,  9,  9,  9,  9,  9,  9,  9,  9, 25, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 26, 26,
         11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 27, 27, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 28, 13, 13, 13,
         13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 29, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14,
         14, 14, 14, 14, 30, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
    ];

    /// <summary>iq4nl_index widened to int32 (for gathers).</summary>
    public static readonly int[] Iq4nlIndexInt = BuildIndexInt();

    private static int[] BuildIndexInt()
    {
        var r = new int[256];
        for (int i = 0; i < r.Length; i++) r[i] = i < 241 ? Iq4nlIndex[i] : 15;
        return r;
    }

    /// <summary>nearest_int of ggml-quants.c, implemented literally (bit trick; NaN → 0; garbage beyond 2^22 as in C).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int NearestInt(float v) => (BitConverter.SingleToInt32Bits(v + 12582912f) & 0x7FFFFF) - 0x400000;

    /// <summary>C's <c>(int)a</c> on x86 (cvttss2si): truncation toward zero; NaN and out-of-range give int.MinValue.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int TruncX86(float a)
    {
        if (Sse.IsSupported) return Sse.ConvertToInt32WithTruncation(Vector128.CreateScalarUnsafe(a));
        return a >= -2147483648f && a < 2147483648f ? (int)a : int.MinValue;
    }

    /// <summary>roundf: round half away from zero (exact: the fraction v − trunc(v) is representable).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float RoundAway(float v)
    {
        float t = MathF.Truncate(v);
        if (MathF.Abs(v - t) >= 0.5f) t += MathF.CopySign(1f, v);
        return t;
    }

    /// <summary>MAX(lo, MIN(hi, v)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Clamp(int v, int lo, int hi) => Math.Max(lo, Math.Min(hi, v));

    /// <summary>ABSMAX of §0: amax and the signed value of the first element of largest magnitude.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float AbsMax(float* x, int n, out float max)
    {
        float amax = 0; max = 0;
        for (int i = 0; i < n; i++)
        {
            float ax = MathF.Abs(x[i]);
            if (ax > amax) { amax = ax; max = x[i]; }
        }
        return amax;
    }

    /// <summary>
    /// Stores an fp16 block scale (round to nearest even). A scale that is Inf or NaN in fp16 throws
    /// <see cref="QuantizationInputException"/>: ik_llama.cpp would write it and then reject the data
    /// (<c>ggml_validate_row_data</c>, "quantized data validation failed"), formats-baseline.md §14.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreHalf(byte* p, float v)
    {
        ushort h = FloatConversions.SingleToHalf(v);
        if ((h & 0x7C00) == 0x7C00) ThrowBadScale(v);
        Unsafe.WriteUnaligned(p, h);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowBadScale(float v) =>
        throw new QuantizationInputException("QuantizedScaleNotFinite",
            $"A block scale of {v} does not fit in fp16 (values too large, or importance weights that are all zero over a block); " +
            "ik_llama.cpp's llama-quantize rejects such data ('quantized data validation failed').");

    /// <summary>Throws the error ik_llama.cpp raises (as an abort or a validation failure) for a NaN super-block scale.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static void ThrowZeroImatrixBlock(string type) =>
        throw new QuantizationInputException("ImatrixBlockAllZero",
            $"{type}: the importance weights of a 256-column super-block are all zero (or weight only columns that quantize to 0), " +
            "which makes the super-block scale 0/0 = NaN; ik_llama.cpp aborts or rejects such data. Fix the imatrix (or quantize without it).");

    /// <summary>Reads an fp16 scale.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float LoadHalf(byte* p) => FloatConversions.HalfToSingle(Unsafe.ReadUnaligned<ushort>(p));

    // ------------------------------------------------------------------------------------------------------------
    // §2.1 QX — make_qx_quants (ik version, rmse_type 1). w = weights (x² when there is no imatrix).
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>make_qx_quants: returns the scale; <paramref name="L"/> gets levels in 0..2·nmax−1.</summary>
    public static float MakeQx(int n, int nmax, float* x, byte* L, float* w)
    {
        float amax = AbsMax(x, n, out float max);
        if (amax < GroupMaxEps)
        {
            for (int i = 0; i < n; i++) L[i] = 0;
            return 0f;
        }
        float* wx = stackalloc float[n];
        for (int i = 0; i < n; i++) wx[i] = w[i] * x[i];

        float s0 = (float)(-nmax) / max;
        float slx = 0, sl2 = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Clamp(NearestInt(s0 * x[i]), -nmax, nmax - 1);
            L[i] = (byte)(l + nmax);
            slx += wx[i] * l;
            sl2 += (w[i] * l) * l;
        }
        float scale = sl2 != 0 ? slx / sl2 : 0f;
        float best = scale * slx;
        float bslx = slx, bsl2 = sl2;
        for (int k = -9; k <= 9; k++)
        {
            float t = 0.1f * k;
            for (int side = 0; side < 2; side++)
            {
                float s = side == 0 ? (-((float)nmax + t)) / max : ((float)(nmax - 1) + t) / max;
                slx = 0; sl2 = 0;
                for (int i = 0; i < n; i++)
                {
                    int l = Clamp(NearestInt(s * x[i]), -nmax, nmax - 1);
                    slx += wx[i] * l;
                    sl2 += (w[i] * l) * l;
                }
                if (sl2 > 0 && slx * slx > best * sl2)
                {
                    for (int i = 0; i < n; i++) L[i] = (byte)(Clamp(NearestInt(s * x[i]), -nmax, nmax - 1) + nmax);
                    scale = slx / sl2; best = scale * slx; bslx = slx; bsl2 = sl2;
                }
            }
        }
        return QxGreedy(n, nmax, x, L, w, scale, best, bslx, bsl2);
    }

    /// <summary>The greedy one-level refinement that ends make_qx_quants (§2.1).</summary>
    public static float QxGreedy(int n, int nmax, float* x, byte* L, float* w, float scale, float best, float slx, float sl2)
    {
        int maxIter = n * (2 * nmax - 1);
        for (int iter = 0; iter < maxIter; iter++)
        {
            int bj = -1; float agmax = 0, gmax = 0;
            for (int j = 0; j < n; j++)
            {
                int l = L[j] - nmax;
                float g = (scale * w[j]) * (x[j] - scale * l);
                if ((g > 0 && l < nmax - 1) || (g < 0 && l > -nmax))
                {
                    float ag = MathF.Abs(g);
                    if (ag > agmax) { agmax = ag; gmax = g; bj = j; }
                }
            }
            if (bj < 0) break;
            if (!QxTryMove(nmax, x, L, w, bj, gmax, ref scale, ref best, ref slx, ref sl2)) break;
        }
        return scale;
    }

    /// <summary>One tentative greedy move of QX; false means stop.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool QxTryMove(int nmax, float* x, byte* L, float* w, int bj, float gmax,
        ref float scale, ref float best, ref float slx, ref float sl2)
    {
        int l = L[bj] - nmax;
        float nslx, nsl2;
        if (gmax > 0) { nslx = slx + w[bj] * x[bj]; nsl2 = sl2 + w[bj] * (2 * l + 1); l++; }
        else { nslx = slx - w[bj] * x[bj]; nsl2 = sl2 - w[bj] * (2 * l - 1); l--; }
        if (nsl2 > 0 && nslx * nslx > best * nsl2)
        {
            slx = nslx; sl2 = nsl2; scale = slx / sl2; best = scale * slx; L[bj] = (byte)(l + nmax);
            return true;
        }
        return false;
    }

    // ------------------------------------------------------------------------------------------------------------
    // §2.2 Q3 — make_q3_quants(16, nmax 4, do_rmse) for Q3_K without imatrix.
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>make_q3_quants with do_rmse; levels 0..7 into <paramref name="L"/>.</summary>
    public static float MakeQ3(int n, int nmax, float* x, byte* L)
    {
        float amax = AbsMax(x, n, out float max);
        if (amax < GroupMaxEps)
        {
            for (int i = 0; i < n; i++) L[i] = 0;
            return 0f;
        }
        float s = (float)(-nmax) / max;
        int* l = stackalloc int[n];
        float slx = 0, sl2 = 0;
        for (int i = 0; i < n; i++)
        {
            int q = Clamp(NearestInt(s * x[i]), -nmax, nmax - 1);
            l[i] = q;
            float w = x[i] * x[i];
            slx += (w * x[i]) * q;
            sl2 += (w * q) * q;
        }
        for (int itry = 0; itry < 5; itry++)
        {
            int changed = 0;
            for (int i = 0; i < n; i++)
            {
                float w = x[i] * x[i];
                float a = slx - (w * x[i]) * l[i];
                if (a > 0)
                {
                    float b = sl2 - (w * l[i]) * l[i];
                    int nl = Clamp(NearestInt((x[i] * b) / a), -nmax, nmax - 1);
                    if (nl != l[i])
                    {
                        a += (w * x[i]) * nl;
                        b += (w * nl) * nl;
                        if (b > 0 && (a * a) * sl2 > (slx * slx) * b)
                        {
                            l[i] = nl; slx = a; sl2 = b; changed++;
                        }
                    }
                }
            }
            if (changed == 0) break;
        }
        for (int i = 0; i < n; i++) L[i] = (byte)(l[i] + nmax);
        return slx / sl2;
    }

    // ------------------------------------------------------------------------------------------------------------
    // §2.3 KX2 — make_qkx2_quants (K-quants without imatrix).
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>make_qkx2_quants; returns the scale, <paramref name="theMin"/> = −min.</summary>
    public static float MakeQkx2(int n, int nmax, float* x, float* w, byte* L, out float theMin,
        float rmin, float rdelta, int nstep, bool useMad)
    {
        float min = x[0], max = x[0];
        float sw = w[0];
        float sx = sw * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            sw += w[i];
            sx += w[i] * x[i];
        }
        if (min > 0) min = 0;
        if (max - min < 1e-10f)
        {
            for (int i = 0; i < n; i++) L[i] = 0;
            theMin = -min;
            return 0f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float best = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Clamp(NearestInt(iscale * (x[i] - min)), 0, nmax);
            L[i] = (byte)l;
            float diff = ((scale * l) + min) - x[i];
            diff = useMad ? MathF.Abs(diff) : diff * diff;
            best += w[i] * diff;
        }
        byte* la = stackalloc byte[n];
        for (int k = 0; k <= nstep; k++)
        {
            float s = ((rmin + rdelta * k) + nmax) / (max - min);
            float sl = 0, sl2 = 0, sxl = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Clamp(NearestInt(s * (x[i] - min)), 0, nmax);
                la[i] = (byte)l;
                sl += w[i] * l;
                sl2 += (w[i] * l) * l;
                sxl += (w[i] * l) * x[i];
            }
            float D = (sw * sl2) - (sl * sl);
            if (D > 0)
            {
                float ts = ((sw * sxl) - (sx * sl)) / D;
                float tm = ((sl2 * sx) - (sl * sxl)) / D;
                if (tm > 0) { tm = 0; ts = sxl / sl2; }
                float mad = 0;
                for (int i = 0; i < n; i++)
                {
                    float diff = ((ts * la[i]) + tm) - x[i];
                    diff = useMad ? MathF.Abs(diff) : diff * diff;
                    mad += w[i] * diff;
                }
                if (mad < best)
                {
                    for (int i = 0; i < n; i++) L[i] = la[i];
                    best = mad; scale = ts; min = tm;
                }
            }
        }
        theMin = -min;
        return scale;
    }

    // ------------------------------------------------------------------------------------------------------------
    // §2.4 KX3 — make_qkx3_quants (K-quants / Q4_1 / Q5_1 with imatrix), f64 sums, use_mad = false.
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>make_qkx3_quants with use_mad = false; returns the scale, <paramref name="theMin"/> = −min.</summary>
    public static float MakeQkx3(int n, int nmax, float* x, float* w, byte* L, out float theMin,
        float rmin, float rdelta, int nstep)
    {
        float min = x[0], max = x[0];
        double SW = w[0];
        double SX = SW * x[0];
        double SX2 = (SW * x[0]) * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            double wi = w[i];
            SW += wi;
            SX += wi * x[i];
            SX2 += (wi * x[i]) * x[i];
        }
        if (min > 0) min = 0;
        if (max - min < 1e-10f)
        {
            for (int i = 0; i < n; i++) L[i] = 0;
            theMin = -min;
            return 0f;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        double bestMad = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Clamp(NearestInt(iscale * (x[i] - min)), 0, nmax);
            L[i] = (byte)l;
            double diff = (((double)scale * l) + min) - x[i];
            bestMad += (double)w[i] * (diff * diff);
        }
        byte* la = stackalloc byte[n];
        for (int k = 0; k <= nstep; k++)
        {
            float s = ((rmin + rdelta * k) + nmax) / (max - min);
            double SL = 0, SL2 = 0, SXL = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Clamp(NearestInt(s * (x[i] - min)), 0, nmax);
                la[i] = (byte)l;
                double wl = (double)w[i] * l;
                SL += wl;
                SL2 += wl * l;
                SXL += wl * x[i];
            }
            double D = (SW * SL2) - (SL * SL);
            if (D > 0)
            {
                double ts = ((SW * SXL) - (SX * SL)) / D;
                double tm = ((SL2 * SX) - (SL * SXL)) / D;
                if (tm > 0) { tm = 0; ts = SXL / SL2; }
                double mad = ((((SX2 - (2 * ts) * SXL) - (2 * tm) * SX) + ((2 * ts) * tm) * SL) + (ts * ts) * SL2) + (tm * tm) * SW;
                if (mad < bestMad)
                {
                    for (int i = 0; i < n; i++) L[i] = la[i];
                    bestMad = mad; scale = (float)ts; min = (float)tm;
                }
            }
        }
        Kx3Greedy(n, nmax, x, w, L, SW, SX, ref scale, ref min);
        theMin = -min;
        return scale;
    }

    /// <summary>The greedy refinement that ends make_qkx3_quants.</summary>
    public static void Kx3Greedy(int n, int nmax, float* x, float* w, byte* L, double SW, double SX, ref float scale, ref float min)
    {
        double SL = 0, SL2 = 0, SXL = 0;
        for (int i = 0; i < n; i++)
        {
            int l = L[i];
            double wi = w[i];
            SL += wi * l;
            SL2 += (wi * l) * l;
            SXL += (wi * l) * x[i];
        }
        double best = Kx3Score(scale, min, SL, SL2, SXL, SW, SX);
        int lastJ = -1, lastDir = 0;
        int maxIter = nmax * n;
        for (int itry = 0; itry < maxIter; itry++)
        {
            float gmax = 0; int bj = -1, dir = 0;
            for (int j = 0; j < n; j++)
            {
                float g = (x[j] - scale * L[j]) - min;
                if (g > 0 && L[j] < nmax && g > gmax) { gmax = g; bj = j; dir = 1; }
                else if (g < 0 && L[j] > 0 && -g > gmax) { gmax = -g; bj = j; dir = -1; }
            }
            if (bj < 0 || (bj == lastJ && dir == -lastDir)) break;
            double wj = w[bj];
            SL += wj * dir;
            SL2 += wj * (2 * L[bj] * dir + 1);
            SXL += (wj * x[bj]) * dir;
            double D = (SW * SL2) - (SL * SL);
            if (D <= 0) break;
            double ts = ((SW * SXL) - (SX * SL)) / D;
            double tm = ((SL2 * SX) - (SL * SXL)) / D;
            if (tm > 0) { tm = 0; ts = SXL / SL2; }
            if (ts < 0) break;
            double score = Kx3Score(ts, tm, SL, SL2, SXL, SW, SX);
            if (score <= best) break;
            best = score; scale = (float)ts; min = (float)tm; L[bj] = (byte)(L[bj] + dir);
            lastJ = bj; lastDir = dir;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static double Kx3Score(double a, double m, double SL, double SL2, double SXL, double SW, double SX) =>
        ((((2 * a) * SXL + (2 * m) * SX) - ((2 * a) * m) * SL) - (a * a) * SL2) - (m * m) * SW;

    // ------------------------------------------------------------------------------------------------------------
    // §2.5 QP — make_qp_quants (sub-block scales/mins with imatrix).
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>make_qp_quants; levels (mod 256) into <paramref name="L"/>. May return NaN (0/0) for all-zero weights.</summary>
    public static float MakeQp(int n, int nmax, float* x, byte* L, float* qw)
    {
        float max = 0;
        for (int i = 0; i < n; i++) max = max > x[i] ? max : x[i];
        if (max < 1e-16f)
        {
            for (int i = 0; i < n; i++) L[i] = 0;
            return 0f;
        }
        float iscale = nmax / max;
        for (int i = 0; i < n; i++) L[i] = (byte)NearestInt(iscale * x[i]);
        float scale = 1 / iscale;
        float bestMse = 0;
        for (int i = 0; i < n; i++)
        {
            float diff = x[i] - scale * L[i];
            bestMse += (qw[i] * diff) * diff;
        }
        for (int k = -4; k <= 4; k++)
        {
            if (k == 0) continue;
            float sk = ((0.1f * k) + nmax) / max;
            float rk = 1 / sk;
            float mse = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Min(nmax, NearestInt(sk * x[i]));
                float diff = x[i] - rk * l;
                mse += (qw[i] * diff) * diff;
            }
            if (mse < bestMse) { bestMse = mse; iscale = sk; }
        }
        float slx = 0, sl2 = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Min(nmax, NearestInt(iscale * x[i]));
            L[i] = (byte)l;
            slx += (qw[i] * x[i]) * l;
            sl2 += (qw[i] * l) * l;
        }
        for (int itry = 0; itry < 5; itry++)
        {
            int changed = 0;
            for (int i = 0; i < n; i++)
            {
                float w = qw[i];
                float a = slx - (w * x[i]) * L[i];
                float b = sl2 - (w * L[i]) * L[i];
                if (a > 0 && b > 0)
                {
                    int nl = Math.Min(nmax, NearestInt((x[i] * b) / a));
                    if (nl != L[i])
                    {
                        a += (w * x[i]) * nl;
                        b += (w * nl) * nl;
                        if ((a * a) * sl2 > (slx * slx) * b)
                        {
                            L[i] = (byte)nl; slx = a; sl2 = b; changed++;
                        }
                    }
                }
            }
            if (changed == 0) break;
        }
        return slx / sl2;
    }

    // ------------------------------------------------------------------------------------------------------------
    // §2.6 BI4 and §2.7 the IQ4 sub-block search.
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>best_index_iq4nl (§2.6).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Bi4(float a)
    {
        int ix = TruncX86(a) + 127;
        if (ix < 0) return 0;
        if (ix >= 241) return 15;
        int c = Iq4nlIndex[ix];
        if (c < 16) return c;
        int k = c - 16;
        var T = Iq4nlValues;
        return (a - T[k]) < (T[k + 1] - a) ? k : k + 1;
    }

    /// <summary>
    /// The IQ4 sub-block scale search of §2.7 (ntry 7, block 32): returns the f32 scale, 0 for an empty block
    /// (amax &lt; 1e-15), NaN if every weight is 0.
    /// </summary>
    public static float Iq4Search(float* x, float* w)
    {
        const int n = 32;
        float amax = AbsMax(x, n, out float max);
        if (amax < GroupMaxEps) return 0f;
        var T = Iq4nlValues;
        byte* lb = stackalloc byte[n];
        float* wx = stackalloc float[n];
        for (int i = 0; i < n; i++) wx[i] = w[i] * x[i];
        float d = (-max) / (float)T[0];
        float id = 1 / d;
        float sqx = 0, sq2 = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Bi4(id * x[i]);
            lb[i] = (byte)l;
            float q = T[l];
            sqx += (w[i] * q) * x[i];
            sq2 += (w[i] * q) * q;
        }
        d = sqx / sq2;
        float best = d * sqx;
        float bsqx = sqx, bsq2 = sq2;
        for (int itry = -7; itry <= 7; itry++)
        {
            for (int e = 0; e < 2; e++)
            {
                id = (float)(itry + (e == 0 ? T[0] : T[15])) / max;
                sqx = 0; sq2 = 0;
                for (int i = 0; i < n; i++)
                {
                    float q = T[Bi4(id * x[i])];
                    sqx += (w[i] * q) * x[i];
                    sq2 += (w[i] * q) * q;
                }
                if (sq2 > 0 && sqx * sqx > best * sq2)
                {
                    d = sqx / sq2; best = d * sqx; bsqx = sqx; bsq2 = sq2;
                    for (int i = 0; i < n; i++) lb[i] = (byte)Bi4(id * x[i]);
                }
            }
        }
        return Iq4Greedy(x, w, lb, d, best, bsqx, bsq2);
    }

    /// <summary>The greedy refinement of §2.7 (at most 1024 steps).</summary>
    public static float Iq4Greedy(float* x, float* w, byte* lb, float d, float best, float sqx, float sq2)
    {
        const int n = 32;
        var T = Iq4nlValues;
        for (int iter = 0; iter < 32 * n; iter++)
        {
            float minstep = float.PositiveInfinity; int bj = -1, dir = 0;
            for (int j = 0; j < n; j++)
            {
                int l = lb[j];
                float g = (d * w[j]) * (x[j] - d * T[l]);
                if (g > 0 && l < 15)
                {
                    float step = (float)(T[l + 1] - T[l]) / g;
                    if (step < minstep) { minstep = step; bj = j; dir = 1; }
                }
                else if (g < 0 && l > 0)
                {
                    float step = (float)(T[l - 1] - T[l]) / g;
                    if (step < minstep) { minstep = step; bj = j; dir = -1; }
                }
            }
            if (bj < 0) break;
            if (!Iq4TryMove(x, w, lb, bj, dir, ref d, ref best, ref sqx, ref sq2)) break;
        }
        return d;
    }

    /// <summary>One tentative greedy move of §2.7; false means stop.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Iq4TryMove(float* x, float* w, byte* lb, int bj, int dir, ref float d, ref float best, ref float sqx, ref float sq2)
    {
        var T = Iq4nlValues;
        int a = T[lb[bj]], b = T[lb[bj] + dir];
        float nsqx = sqx + (w[bj] * x[bj]) * (b - a);
        float nsq2 = sq2 + w[bj] * (b * b - a * a);
        if (nsq2 > 0 && nsqx * nsqx > best * nsq2)
        {
            sqx = nsqx; sq2 = nsq2; d = sqx / sq2; best = d * sqx; lb[bj] = (byte)(lb[bj] + dir);
            return true;
        }
        return false;
    }
}
