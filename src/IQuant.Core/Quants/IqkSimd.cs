using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace IQuant.Core.Quants;

/// <summary>Compile-time description of a value family for the generic SIMD kernels.</summary>
internal interface IIqkKind
{
    /// <summary>Entries per table.</summary>
    static abstract int N { get; }
    /// <summary>log2(N).</summary>
    static abstract int Log2N { get; }
    /// <summary>bi6 semantics (f32 subtraction of T[0] before truncation).</summary>
    static abstract bool SubThenTrunc { get; }
}

/// <summary>iq3nl (8 values).</summary>
internal struct IqkKind3 : IIqkKind { public static int N => 8; public static int Log2N => 3; public static bool SubThenTrunc => false; }
/// <summary>iq4k (16 values).</summary>
internal struct IqkKind4 : IIqkKind { public static int N => 16; public static int Log2N => 4; public static bool SubThenTrunc => false; }
/// <summary>iq5nl (32 values).</summary>
internal struct IqkKind5 : IIqkKind { public static int N => 32; public static int Log2N => 5; public static bool SubThenTrunc => false; }
/// <summary>iq6nl (64 f32 values).</summary>
internal struct IqkKind6 : IIqkKind { public static int N => 64; public static int Log2N => 6; public static bool SubThenTrunc => true; }

/// <summary>
/// SIMD kernels of the IQ*_K quantizers. The nearest-index function B5 is evaluated exactly as the reference does
/// (truncate, table lookup, one f32 comparison), only for many lanes at once:
/// <list type="bullet">
/// <item>AVX-512 (VBMI): the truncated positions <c>ix+1</c> of 64 lanes are packed to bytes (unsigned saturation
/// gives the "≥ N_IDX" clamp) and looked up in the 256-entry code table with two <c>vpermi2b</c>; the code gives
/// the candidate indices k, k' (k' = k+1 only for "compare" codes), whose values come from <c>vpermps</c>.</item>
/// <item>AVX2: the same positions index 256-entry tables of the two candidate values with gathers.</item>
/// </list>
/// The value picked is <c>(a - T[k]) &lt; (T[k'] - a) ? T[k] : T[k']</c>, which is the reference's result in every
/// case (for definite codes k' = k). Sums are accumulated per lane in the reference's element order.
/// </summary>
internal static unsafe class IqkSimd
{
    /// <summary>True when the AVX-512 kernels may run.</summary>
    public static bool Avx512Ok(SimdLevel level) => level == SimdLevel.Avx512 && Avx512Vbmi.IsSupported && Avx512BW.IsSupported;

    /// <summary>True when the AVX2 kernels may run.</summary>
    public static bool Avx2Ok(SimdLevel level) => level >= SimdLevel.Avx2 && Avx2.IsSupported;

    // ------------------------------------------------------------------ B6 candidate sums

    /// <summary>Per-candidate sums of B6 (layout: sp, qp, sm, qm blocks of <see cref="IqkScan.MaxCandidates"/>).</summary>
    public static void CandidateSums(SimdLevel level, IqkGrid g, ReadOnlySpan<float> x, ReadOnlySpan<float> w,
        Span<float> ids, uint mask, int nc, Span<float> sums)
    {
        if (level == SimdLevel.Scalar || x.Length != 16)
        {
            IqkScan.CandidateSumsScalar(g, x, w, ids, mask, nc, sums);
            return;
        }
        for (int i = nc; i < IqkScan.MaxCandidates; i++) ids[i] = 0;
        fixed (float* px = x) fixed (float* pw = w) fixed (float* pid = ids) fixed (float* ps = sums)
        {
            if (Avx512Ok(level))
            {
                switch (g.N)
                {
                    case 8: CandSums512<IqkKind3>(g, px, pw, pid, mask, nc, ps); return;
                    case 16: CandSums512<IqkKind4>(g, px, pw, pid, mask, nc, ps); return;
                    case 32: CandSums512<IqkKind5>(g, px, pw, pid, mask, nc, ps); return;
                    default: CandSums512<IqkKind6>(g, px, pw, pid, mask, nc, ps); return;
                }
            }
            if (Avx2Ok(level))
            {
                if (g.SubThenTrunc) CandSums256<IqkKind6>(g, px, pw, pid, mask, nc, ps);
                else CandSums256<IqkKind4>(g, px, pw, pid, mask, nc, ps);
                return;
            }
        }
        IqkScan.CandidateSumsScalar(g, x, w, ids, mask, nc, sums);
    }

    /// <summary>ix + 1 for the B5 table lookup, clamped below at 0 (16 lanes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Pos512<K>(Vector512<float> a, Vector512<int> off, Vector512<float> t0) where K : struct, IIqkKind
    {
        Vector512<int> ix = K.SubThenTrunc
            ? Avx512F.ConvertToVector512Int32WithTruncation(a - t0) + Vector512<int>.One
            : Vector512.Min(Avx512F.ConvertToVector512Int32WithTruncation(a), Vector512.Create(4096)) - off; // (no int overflow near 2^31)
        return Vector512.Max(ix, Vector512<int>.Zero);
    }

    /// <summary>Looks up the codes of four position vectors (64 lanes) in the 256-entry byte table.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Lookup4(Vector512<int> i0, Vector512<int> i1, Vector512<int> i2, Vector512<int> i3,
        Vector512<byte> l0, Vector512<byte> l1, Vector512<byte> l2, Vector512<byte> l3,
        out Vector512<int> c0, out Vector512<int> c1, out Vector512<int> c2, out Vector512<int> c3)
    {
        var b0 = Avx512F.ConvertToVector128ByteWithSaturation(i0.AsUInt32());
        var b1 = Avx512F.ConvertToVector128ByteWithSaturation(i1.AsUInt32());
        var b2 = Avx512F.ConvertToVector128ByteWithSaturation(i2.AsUInt32());
        var b3 = Avx512F.ConvertToVector128ByteWithSaturation(i3.AsUInt32());
        var idx = Vector512.Create(Vector256.Create(b0, b1), Vector256.Create(b2, b3));
        var r = Lookup256(idx, l0, l1, l2, l3);
        c0 = Avx512F.ConvertToVector512Int32(r.GetLower().GetLower());
        c1 = Avx512F.ConvertToVector512Int32(r.GetLower().GetUpper());
        c2 = Avx512F.ConvertToVector512Int32(r.GetUpper().GetLower());
        c3 = Avx512F.ConvertToVector512Int32(r.GetUpper().GetUpper());
    }

    /// <summary>Byte table lookup over 256 entries: two vpermi2b and a blend on bit 7.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Lookup256(Vector512<byte> idx, Vector512<byte> l0, Vector512<byte> l1, Vector512<byte> l2, Vector512<byte> l3)
    {
        var lo = Avx512Vbmi.PermuteVar64x8x2(l0, idx, l1);
        var hi = Avx512Vbmi.PermuteVar64x8x2(l2, idx, l3);
        var high = Vector512.LessThan(idx.AsSByte(), Vector512<sbyte>.Zero).AsByte();
        return Vector512.ConditionalSelect(high, hi, lo);
    }

    /// <summary>T[k] from the normal table (padded to 64 entries in t0..t3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Perm512<K>(Vector512<int> k, Vector512<float> t0, Vector512<float> t1, Vector512<float> t2, Vector512<float> t3)
        where K : struct, IIqkKind
    {
        if (K.N <= 16) return Avx512F.PermuteVar16x32(t0, k);
        if (K.N == 32) return Avx512F.PermuteVar16x32x2(t0, k, t1);
        var lo = Avx512F.PermuteVar16x32x2(t0, k, t1);
        var hi = Avx512F.PermuteVar16x32x2(t2, k, t3);
        var sel = Vector512.Equals(k & Vector512.Create(32), Vector512<int>.Zero).AsSingle();
        return Vector512.ConditionalSelect(sel, lo, hi);
    }

    /// <summary>The value B5 picks for <paramref name="a"/>, given its table code.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Pick512<K>(Vector512<int> c, Vector512<float> a, Vector512<float> shift,
        Vector512<float> t0, Vector512<float> t1, Vector512<float> t2, Vector512<float> t3) where K : struct, IIqkKind
    {
        var k = c & Vector512.Create(K.N - 1);
        var k1 = k + Vector512.ShiftRightLogical(c, K.Log2N);
        var tk = Perm512<K>(k, t0, t1, t2, t3) + shift;
        var tk1 = Perm512<K>(k1, t0, t1, t2, t3) + shift;
        return Vector512.ConditionalSelect(Vector512.LessThan(a - tk, tk1 - a), tk, tk1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Acc512(Vector512<float> q, Vector512<float> wj, Vector512<float> xj, ref Vector512<float> sx, ref Vector512<float> sq)
    {
        var t = wj * q;
        sx += t * xj;
        sq += t * q;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void CandSums512<K>(IqkGrid g, float* x, float* w, float* ids, uint mask, int nc, float* sums)
        where K : struct, IIqkKind
    {
        var l0 = Vector512.Load(g.PLut); var l1 = Vector512.Load(g.PLut + 64);
        var l2 = Vector512.Load(g.PLut + 128); var l3 = Vector512.Load(g.PLut + 192);
        var t0 = Vector512.Load(g.PNormal); var t1 = Vector512.Load(g.PNormal + 16);
        var t2 = Vector512.Load(g.PNormal + 32); var t3 = Vector512.Load(g.PNormal + 48);
        var lane = Vector512<uint>.Indices;
        var sign = Vector512.Create(-0f);
        var bitsA = (Avx512F.ShiftRightLogicalVariable(Vector512.Create(mask), lane) & Vector512<uint>.One).AsInt32();
        var bitsB = (Avx512F.ShiftRightLogicalVariable(Vector512.Create(mask >> 16), lane) & Vector512<uint>.One).AsInt32();
        var shiftA = Vector512.ConvertToSingle(bitsA) * Vector512.Create(g.Shift);
        var shiftB = Vector512.ConvertToSingle(bitsB) * Vector512.Create(g.Shift);
        // bi3..5: ix+1 = trunc(a) - (T0 + shift - 1);  bi6: ix+1 = trunc(a - (T0 + shift)) + 1
        var offA = bitsA * Vector512.Create((int)g.Shift) + Vector512.Create(g.T0 - 1);
        var offB = bitsB * Vector512.Create((int)g.Shift) + Vector512.Create(g.T0 - 1);
        var t0A = Vector512.Create(g.Normal[0]) + shiftA;
        var t0B = Vector512.Create(g.Normal[0]) + shiftB;
        var idA = Vector512.Load(ids);
        var spA = Vector512<float>.Zero; var qpA = spA; var smA = spA; var qmA = spA;
        if (nc > 16)
        {
            var idB = Vector512.Load(ids + 16);
            var spB = spA; var qpB = spA; var smB = spA; var qmB = spA;
            for (int j = 0; j < 16; j++)
            {
                var xj = Vector512.Create(x[j]);
                var wj = Vector512.Create(w[j]);
                var aA = idA * xj; var naA = aA ^ sign;
                var aB = idB * xj; var naB = aB ^ sign;
                Lookup4(Pos512<K>(aA, offA, t0A), Pos512<K>(naA, offA, t0A), Pos512<K>(aB, offB, t0B), Pos512<K>(naB, offB, t0B),
                    l0, l1, l2, l3, out var cpA, out var cmA, out var cpB, out var cmB);
                Acc512(Pick512<K>(cpA, aA, shiftA, t0, t1, t2, t3), wj, xj, ref spA, ref qpA);
                Acc512(Pick512<K>(cmA, naA, shiftA, t0, t1, t2, t3), wj, xj, ref smA, ref qmA);
                Acc512(Pick512<K>(cpB, aB, shiftB, t0, t1, t2, t3), wj, xj, ref spB, ref qpB);
                Acc512(Pick512<K>(cmB, naB, shiftB, t0, t1, t2, t3), wj, xj, ref smB, ref qmB);
            }
            spB.Store(sums + 16); qpB.Store(sums + 48); smB.Store(sums + 80); qmB.Store(sums + 112);
        }
        else
        {
            for (int j = 0; j < 16; j += 2)
            {
                var x0 = Vector512.Create(x[j]); var w0 = Vector512.Create(w[j]);
                var x1 = Vector512.Create(x[j + 1]); var w1 = Vector512.Create(w[j + 1]);
                var a0 = idA * x0; var na0 = a0 ^ sign;
                var a1 = idA * x1; var na1 = a1 ^ sign;
                Lookup4(Pos512<K>(a0, offA, t0A), Pos512<K>(na0, offA, t0A), Pos512<K>(a1, offA, t0A), Pos512<K>(na1, offA, t0A),
                    l0, l1, l2, l3, out var cp0, out var cm0, out var cp1, out var cm1);
                Acc512(Pick512<K>(cp0, a0, shiftA, t0, t1, t2, t3), w0, x0, ref spA, ref qpA);
                Acc512(Pick512<K>(cm0, na0, shiftA, t0, t1, t2, t3), w0, x0, ref smA, ref qmA);
                Acc512(Pick512<K>(cp1, a1, shiftA, t0, t1, t2, t3), w1, x1, ref spA, ref qpA);
                Acc512(Pick512<K>(cm1, na1, shiftA, t0, t1, t2, t3), w1, x1, ref smA, ref qmA);
            }
        }
        spA.Store(sums); qpA.Store(sums + 32); smA.Store(sums + 64); qmA.Store(sums + 96);
    }

    /// <summary>ix + 1 clamped to [0, 255] (8 lanes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Pos256<K>(Vector256<float> a, Vector256<int> off, Vector256<float> t0) where K : struct, IIqkKind
    {
        Vector256<int> ix = K.SubThenTrunc
            ? Avx.ConvertToVector256Int32WithTruncation(a - t0) + Vector256<int>.One
            : Vector256.Min(Avx.ConvertToVector256Int32WithTruncation(a), Vector256.Create(4096)) - off; // (no int overflow near 2^31)
        return Vector256.Min(Vector256.Max(ix, Vector256<int>.Zero), Vector256.Create(255));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Pick256(IqkGrid g, Vector256<int> pos, Vector256<float> a, Vector256<float> shift)
    {
        var tk = Avx2.GatherVector256(g.PLutTk, pos, 4) + shift;
        var tk1 = Avx2.GatherVector256(g.PLutTk1, pos, 4) + shift;
        return Vector256.ConditionalSelect(Vector256.LessThan(a - tk, tk1 - a), tk, tk1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void CandSums256<K>(IqkGrid g, float* x, float* w, float* ids, uint mask, int nc, float* sums)
        where K : struct, IIqkKind
    {
        var lane = Vector256<int>.Indices;
        var sign = Vector256.Create(-0f);
        for (int v = 0; v < nc; v += 8)
        {
            var bits = Avx2.ShiftRightLogicalVariable(Vector256.Create((int)(mask >> v)), lane.AsUInt32()) & Vector256<int>.One;
            var shift = Vector256.ConvertToSingle(bits) * Vector256.Create(g.Shift);
            var off = bits * Vector256.Create((int)g.Shift) + Vector256.Create(g.T0 - 1);
            var t0 = Vector256.Create(g.Normal[0]) + shift;
            var id = Vector256.Load(ids + v);
            var sp = Vector256<float>.Zero; var qp = sp; var sm = sp; var qm = sp;
            for (int j = 0; j < 16; j++)
            {
                var xj = Vector256.Create(x[j]);
                var wj = Vector256.Create(w[j]);
                var a = id * xj; var na = a ^ sign;
                var q = Pick256(g, Pos256<K>(a, off, t0), a, shift);
                var t = wj * q; sp += t * xj; qp += t * q;
                q = Pick256(g, Pos256<K>(na, off, t0), na, shift);
                t = wj * q; sm += t * xj; qm += t * q;
            }
            sp.Store(sums + v); qp.Store(sums + 32 + v); sm.Store(sums + 64 + v); qm.Store(sums + 96 + v);
        }
    }

    // ------------------------------------------------------------------ best indices of one sub-block

    /// <summary>idx[j] = B5 index of id·x[j] in the normal or shifted table, for all j (16 elements).</summary>
    public static void BestIndices(SimdLevel level, IqkGrid g, bool shifted, float id, ReadOnlySpan<float> x, Span<int> idx)
    {
        if (level != SimdLevel.Scalar && x.Length == 16)
        {
            fixed (float* px = x) fixed (int* pi = idx)
            {
                if (Avx512Ok(level))
                {
                    switch (g.N)
                    {
                        case 8: BestIdx512<IqkKind3>(g, shifted, id, px, pi); return;
                        case 16: BestIdx512<IqkKind4>(g, shifted, id, px, pi); return;
                        case 32: BestIdx512<IqkKind5>(g, shifted, id, px, pi); return;
                        default: BestIdx512<IqkKind6>(g, shifted, id, px, pi); return;
                    }
                }
                if (Avx2Ok(level))
                {
                    if (g.SubThenTrunc) BestIdx256<IqkKind6>(g, shifted, id, px, pi);
                    else BestIdx256<IqkKind4>(g, shifted, id, px, pi);
                    return;
                }
            }
        }
        var t = g.Table(shifted);
        for (int j = 0; j < x.Length; j++) idx[j] = g.BestIndex(t, id * x[j]);
    }

    private static void BestIdx512<K>(IqkGrid g, bool shifted, float id, float* x, int* idx) where K : struct, IIqkKind
    {
        float sh = shifted ? g.Shift : 0f;
        var shift = Vector512.Create(sh);
        var off = Vector512.Create(g.T0 + (int)sh - 1);
        var t0v = Vector512.Create(g.Normal[0] + sh);
        var a = Vector512.Create(id) * Vector512.Load(x);
        var pos = Pos512<K>(a, off, t0v);
        var b = Avx512F.ConvertToVector128ByteWithSaturation(pos.AsUInt32());
        var r = Lookup256(Vector512.Create(Vector256.Create(b, b), Vector256.Create(b, b)), Vector512.Load(g.PLut), Vector512.Load(g.PLut + 64),
            Vector512.Load(g.PLut + 128), Vector512.Load(g.PLut + 192));
        var c = Avx512F.ConvertToVector512Int32(r.GetLower().GetLower());
        var t0 = Vector512.Load(g.PNormal); var t1 = Vector512.Load(g.PNormal + 16);
        var t2 = Vector512.Load(g.PNormal + 32); var t3 = Vector512.Load(g.PNormal + 48);
        var k = c & Vector512.Create(K.N - 1);
        var k1 = k + Vector512.ShiftRightLogical(c, K.Log2N);
        var tk = Perm512<K>(k, t0, t1, t2, t3) + shift;
        var tk1 = Perm512<K>(k1, t0, t1, t2, t3) + shift;
        Vector512.ConditionalSelect(Vector512.LessThan(a - tk, tk1 - a).AsInt32(), k, k1).Store(idx);
    }

    private static void BestIdx256<K>(IqkGrid g, bool shifted, float id, float* x, int* idx) where K : struct, IIqkKind
    {
        float sh = shifted ? g.Shift : 0f;
        var shift = Vector256.Create(sh);
        var off = Vector256.Create(g.T0 + (int)sh - 1);
        var t0v = Vector256.Create(g.Normal[0] + sh);
        for (int h = 0; h < 16; h += 8)
        {
            var a = Vector256.Create(id) * Vector256.Load(x + h);
            var pos = Pos256<K>(a, off, t0v);
            var tk = Avx2.GatherVector256(g.PLutTk, pos, 4) + shift;
            var tk1 = Avx2.GatherVector256(g.PLutTk1, pos, 4) + shift;
            var k = Avx2.GatherVector256(g.PLutK, pos, 4);
            var k1 = Avx2.GatherVector256(g.PLutK1, pos, 4);
            Vector256.ConditionalSelect(Vector256.LessThan(a - tk, tk1 - a).AsInt32(), k, k1).Store(idx + h);
        }
    }
}

/// <summary>Shared pieces of the vectorized IQ*_K dequantizers (one multiply per weight: y = (d·ls) · T[idx]).</summary>
internal static unsafe class IqkDequant
{
    // Keeps the pinned tables reachable: the pointers alone do not keep an array alive.
    private static readonly List<float[]> s_keepAlive = [];

    /// <summary>Pinned f32 copy of a table (kept alive for the life of the process).</summary>
    public static float* PinnedTable(ReadOnlySpan<float> values, int padTo)
    {
        var a = GC.AllocateArray<float>(Math.Max(padTo, values.Length), pinned: true);
        values.CopyTo(a);
        lock (s_keepAlive) s_keepAlive.Add(a);
        return (float*)Unsafe.AsPointer(ref a[0]);
    }

    /// <summary>Pinned f32 copy of an int8 table.</summary>
    public static float* PinnedTable(ReadOnlySpan<sbyte> values, int padTo)
    {
        var f = new float[values.Length];
        for (int i = 0; i < f.Length; i++) f[i] = values[i];
        return PinnedTable(f, padTo);
    }

    /// <summary>16 bytes zero-extended to int32 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> Bytes16(byte* p) => Avx512F.ConvertToVector512Int32(Vector128.Load(p));

    /// <summary>8 bytes zero-extended to int32 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Bytes8(byte* p) => Avx2.ConvertToVector256Int32(p);

    /// <summary>Reads an unaligned little-endian u16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort U16(byte* p) => Unsafe.ReadUnaligned<ushort>(p);

    /// <summary>Reads an unaligned fp16 as f32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float F16(byte* p) => Fp16.ToFloat(Unsafe.ReadUnaligned<ushort>(p));

    /// <summary>Whether the vector dequantizers may run at this level (AVX-512F/BW, or AVX2).</summary>
    public static bool Use512(SimdLevel level) => level == SimdLevel.Avx512 && Avx512F.IsSupported && Avx512BW.IsSupported;

    /// <summary>Whether the AVX2 dequantizers may run.</summary>
    public static bool Use256(SimdLevel level) => level >= SimdLevel.Avx2 && Avx2.IsSupported;
}
