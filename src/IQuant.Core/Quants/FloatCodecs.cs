using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using IQuant.Core.Types;

namespace IQuant.Core.Quants;

/// <summary>
/// Bulk float conversions with ggml's x86 semantics, vectorized (Vector512 / Vector256 / scalar by
/// <see cref="SimdPolicy.Current"/>; all paths bit-identical).
/// <list type="bullet">
/// <item>fp16 → f32: exact; NaNs keep sign and payload and get the quiet bit (as F16C <c>vcvtph2ps</c> and .NET's
/// <c>(float)Half</c>).</item>
/// <item>f32 → fp16: round to nearest even, overflow to ±Inf (as F16C <c>vcvtps2ph</c>, which <c>ggml_fp32_to_fp16_row</c>
/// uses on x86); NaN → quiet NaN with sign and the top 10 payload bits kept.</item>
/// <item>bf16 → f32: <c>bits &lt;&lt; 16</c>.</item>
/// <item>f32 → bf16: <c>ggml_compute_fp32_to_bf16</c> (what <c>ggml_quantize_chunk</c> uses): NaN → <c>(bits &gt;&gt; 16) | 64</c>,
/// otherwise round to nearest even <c>(bits + 0x7FFF + ((bits &gt;&gt; 16) &amp; 1)) &gt;&gt; 16</c> (subnormals kept, overflow to Inf).</item>
/// </list>
/// </summary>
[SkipLocalsInit]
public static unsafe class FloatConversions
{
    /// <summary>fp16 bits → f32 (exact; NaN quieted).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HalfToSingle(ushort h)
    {
        uint em = h & 0x7FFFu;
        uint sign = (uint)(h & 0x8000) << 16;
        uint o = em << 13;
        uint exp = o & 0x0F800000u;
        if (exp == 0x0F800000u) o = em == 0x7C00 ? 0x7F800000u : (o | 0x7FC00000u);
        else if (exp == 0) return BitConverter.UInt32BitsToSingle(sign | BitConverter.SingleToUInt32Bits(
            BitConverter.UInt32BitsToSingle(o + 0x38800000u) - BitConverter.UInt32BitsToSingle(0x38800000u)));
        else o += 0x38000000u;
        return BitConverter.UInt32BitsToSingle(sign | o);
    }

    /// <summary>f32 → fp16 bits, round to nearest even (F16C semantics, NaN payload kept and quieted).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort SingleToHalf(float f)
    {
        uint b = BitConverter.SingleToUInt32Bits(f);
        uint sign = (b >> 16) & 0x8000u;
        uint a = b & 0x7FFFFFFFu;
        uint h;
        if (a > 0x7F800000u) h = 0x7E00u | ((a >> 13) & 0x3FFu);
        else if (a >= 0x477FF000u) h = 0x7C00u;
        else if (a >= 0x38800000u) h = ((a - 0x38000000u) + 0xFFFu + ((a >> 13) & 1u)) >> 13;
        else h = BitConverter.SingleToUInt32Bits(BitConverter.UInt32BitsToSingle(a) + 0.5f) - 0x3F000000u;
        return (ushort)(sign | h);
    }

    /// <summary>bf16 bits → f32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BFloat16ToSingle(ushort h) => BitConverter.UInt32BitsToSingle((uint)h << 16);

    /// <summary>f32 → bf16 bits as ggml_compute_fp32_to_bf16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort SingleToBFloat16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (ushort)((u >> 16) | 64);
        return (ushort)((u + (0x7FFFu + ((u >> 16) & 1u))) >> 16);
    }

    /// <summary>fp16 → f32 for a whole span.</summary>
    public static void HalfToSingle(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("Destination too small.", nameof(dst));
        var level = SimdPolicy.Current;
        fixed (ushort* ps = src) fixed (float* pd = dst)
        {
            int n = src.Length, i = 0;
            if (level == SimdLevel.Avx512)
                for (; i + 16 <= n; i += 16)
                    Vector512.Store(HalfToSingle512(Avx512F.ConvertToVector512UInt32(Vector256.Load(ps + i))), pd + i);
            else if (level == SimdLevel.Avx2)
                for (; i + 8 <= n; i += 8)
                    Vector256.Store(HalfToSingle256(Avx2.ConvertToVector256Int32(Vector128.Load(ps + i)).AsUInt32()), pd + i);
            for (; i < n; i++) pd[i] = HalfToSingle(ps[i]);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> HalfToSingle512(Vector512<uint> h)
    {
        var em = h & Vector512.Create(0x7FFFu);
        var sign = Vector512.ShiftLeft(h & Vector512.Create(0x8000u), 16);
        var o = Vector512.ShiftLeft(em, 13);
        var exp = o & Vector512.Create(0x0F800000u);
        var normal = o + Vector512.Create(0x38000000u);
        var sub = (Vector512.Create(0x38800000u) + o).AsSingle() - Vector512.Create(0x38800000u).AsSingle();
        var special = Vector512.ConditionalSelect(Vector512.Equals(em, Vector512.Create(0x7C00u)), Vector512.Create(0x7F800000u), o | Vector512.Create(0x7FC00000u));
        var r = Vector512.ConditionalSelect(Vector512.Equals(exp, Vector512<uint>.Zero), sub.AsUInt32(), normal);
        r = Vector512.ConditionalSelect(Vector512.Equals(exp, Vector512.Create(0x0F800000u)), special, r);
        return (r | sign).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> HalfToSingle256(Vector256<uint> h)
    {
        var em = h & Vector256.Create(0x7FFFu);
        var sign = Vector256.ShiftLeft(h & Vector256.Create(0x8000u), 16);
        var o = Vector256.ShiftLeft(em, 13);
        var exp = o & Vector256.Create(0x0F800000u);
        var normal = o + Vector256.Create(0x38000000u);
        var sub = (Vector256.Create(0x38800000u) + o).AsSingle() - Vector256.Create(0x38800000u).AsSingle();
        var special = Vector256.ConditionalSelect(Vector256.Equals(em, Vector256.Create(0x7C00u)), Vector256.Create(0x7F800000u), o | Vector256.Create(0x7FC00000u));
        var r = Vector256.ConditionalSelect(Vector256.Equals(exp, Vector256<uint>.Zero), sub.AsUInt32(), normal);
        r = Vector256.ConditionalSelect(Vector256.Equals(exp, Vector256.Create(0x0F800000u)), special, r);
        return (r | sign).AsSingle();
    }

    /// <summary>f32 → fp16 for a whole span.</summary>
    public static void SingleToHalf(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("Destination too small.", nameof(dst));
        var level = SimdPolicy.Current;
        fixed (float* ps = src) fixed (ushort* pd = dst)
        {
            int n = src.Length, i = 0;
            if (level == SimdLevel.Avx512)
                for (; i + 16 <= n; i += 16)
                    Vector256.Store(Avx512F.ConvertToVector256UInt16(SingleToHalf512(Vector512.Load(ps + i).AsUInt32())), pd + i);
            else if (level == SimdLevel.Avx2)
                for (; i + 8 <= n; i += 8)
                {
                    var r = SingleToHalf256(Vector256.Load(ps + i).AsUInt32()).AsInt32();
                    var p = Avx2.PackUnsignedSaturate(r, r); // [r0..3 r0..3 | r4..7 r4..7] as u16
                    var q = Avx2.Permute4x64(p.AsUInt64(), 0b1000).AsUInt16();
                    Vector128.Store(q.GetLower(), pd + i);
                }
            for (; i < n; i++) pd[i] = SingleToHalf(ps[i]);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> SingleToHalf512(Vector512<uint> b)
    {
        var sign = Vector512.ShiftRightLogical(b, 16) & Vector512.Create(0x8000u);
        var a = b & Vector512.Create(0x7FFFFFFFu);
        var nan = Vector512.Create(0x7E00u) | (Vector512.ShiftRightLogical(a, 13) & Vector512.Create(0x3FFu));
        var normal = Vector512.ShiftRightLogical(a - Vector512.Create(0x38000000u) + Vector512.Create(0xFFFu) + (Vector512.ShiftRightLogical(a, 13) & Vector512<uint>.One), 13);
        var sub = (a.AsSingle() + Vector512.Create(0.5f)).AsUInt32() - Vector512.Create(0x3F000000u);
        var r = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(a, Vector512.Create(0x38800000u)), normal, sub);
        r = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(a, Vector512.Create(0x477FF000u)), Vector512.Create(0x7C00u), r);
        r = Vector512.ConditionalSelect(Vector512.GreaterThan(a, Vector512.Create(0x7F800000u)), nan, r);
        return r | sign;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> SingleToHalf256(Vector256<uint> b)
    {
        var sign = Vector256.ShiftRightLogical(b, 16) & Vector256.Create(0x8000u);
        var a = b & Vector256.Create(0x7FFFFFFFu);
        var nan = Vector256.Create(0x7E00u) | (Vector256.ShiftRightLogical(a, 13) & Vector256.Create(0x3FFu));
        var normal = Vector256.ShiftRightLogical(a - Vector256.Create(0x38000000u) + Vector256.Create(0xFFFu) + (Vector256.ShiftRightLogical(a, 13) & Vector256<uint>.One), 13);
        var sub = (a.AsSingle() + Vector256.Create(0.5f)).AsUInt32() - Vector256.Create(0x3F000000u);
        var r = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(a, Vector256.Create(0x38800000u)), normal, sub);
        r = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(a, Vector256.Create(0x477FF000u)), Vector256.Create(0x7C00u), r);
        r = Vector256.ConditionalSelect(Vector256.GreaterThan(a, Vector256.Create(0x7F800000u)), nan, r);
        return r | sign;
    }

    /// <summary>bf16 → f32 for a whole span.</summary>
    public static void BFloat16ToSingle(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("Destination too small.", nameof(dst));
        var level = SimdPolicy.Current;
        fixed (ushort* ps = src) fixed (float* pd = dst)
        {
            int n = src.Length, i = 0;
            if (level == SimdLevel.Avx512)
                for (; i + 16 <= n; i += 16)
                    Vector512.Store(Vector512.ShiftLeft(Avx512F.ConvertToVector512UInt32(Vector256.Load(ps + i)), 16).AsSingle(), pd + i);
            else if (level == SimdLevel.Avx2)
                for (; i + 8 <= n; i += 8)
                    Vector256.Store(Vector256.ShiftLeft(Avx2.ConvertToVector256Int32(Vector128.Load(ps + i)), 16).AsSingle(), pd + i);
            for (; i < n; i++) pd[i] = BFloat16ToSingle(ps[i]);
        }
    }

    /// <summary>f32 → bf16 for a whole span.</summary>
    public static void SingleToBFloat16(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException("Destination too small.", nameof(dst));
        var level = SimdPolicy.Current;
        fixed (float* ps = src) fixed (ushort* pd = dst)
        {
            int n = src.Length, i = 0;
            if (level == SimdLevel.Avx512)
                for (; i + 16 <= n; i += 16)
                {
                    var u = Vector512.Load(ps + i).AsUInt32();
                    var nan = Vector512.GreaterThan(u & Vector512.Create(0x7FFFFFFFu), Vector512.Create(0x7F800000u));
                    var rne = Vector512.ShiftRightLogical(u + (Vector512.Create(0x7FFFu) + (Vector512.ShiftRightLogical(u, 16) & Vector512<uint>.One)), 16);
                    var r = Vector512.ConditionalSelect(nan, Vector512.ShiftRightLogical(u, 16) | Vector512.Create(64u), rne);
                    Vector256.Store(Avx512F.ConvertToVector256UInt16(r), pd + i);
                }
            else if (level == SimdLevel.Avx2)
                for (; i + 8 <= n; i += 8)
                {
                    var u = Vector256.Load(ps + i).AsUInt32();
                    var nan = Vector256.GreaterThan(u & Vector256.Create(0x7FFFFFFFu), Vector256.Create(0x7F800000u));
                    var rne = Vector256.ShiftRightLogical(u + (Vector256.Create(0x7FFFu) + (Vector256.ShiftRightLogical(u, 16) & Vector256<uint>.One)), 16);
                    var r = Vector256.ConditionalSelect(nan, Vector256.ShiftRightLogical(u, 16) | Vector256.Create(64u), rne).AsInt32();
                    var p = Avx2.PackUnsignedSaturate(r, r);
                    Vector128.Store(Avx2.Permute4x64(p.AsUInt64(), 0b1000).AsUInt16().GetLower(), pd + i);
                }
            for (; i < n; i++) pd[i] = SingleToBFloat16(ps[i]);
        }
    }
}

/// <summary>F32 (4 bytes / weight): a plain copy both ways.</summary>
public sealed class F32Codec : QuantCodec
{
    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.F32;

    /// <inheritdoc/>
    public override void QuantizeRow(ReadOnlySpan<float> src, Span<byte> dst, ReadOnlySpan<float> imatrix) =>
        src.CopyTo(MemoryMarshal.Cast<byte, float>(dst));

    /// <inheritdoc/>
    public override void DequantizeRow(ReadOnlySpan<byte> src, Span<float> dst) =>
        MemoryMarshal.Cast<byte, float>(src)[..dst.Length].CopyTo(dst);
}

/// <summary>F16 (IEEE binary16): round to nearest even as ggml_fp32_to_fp16_row on x86 (see <see cref="FloatConversions"/>).</summary>
public sealed class F16Codec : QuantCodec
{
    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.F16;

    /// <inheritdoc/>
    public override void QuantizeRow(ReadOnlySpan<float> src, Span<byte> dst, ReadOnlySpan<float> imatrix) =>
        FloatConversions.SingleToHalf(src, MemoryMarshal.Cast<byte, ushort>(dst));

    /// <inheritdoc/>
    public override void DequantizeRow(ReadOnlySpan<byte> src, Span<float> dst) =>
        FloatConversions.HalfToSingle(MemoryMarshal.Cast<byte, ushort>(src)[..dst.Length], dst);
}

/// <summary>BF16 (bfloat16): ggml's reference rounding (see <see cref="FloatConversions"/>).</summary>
public sealed class Bf16Codec : QuantCodec
{
    /// <inheritdoc/>
    public override GgmlType Type => GgmlType.BF16;

    /// <inheritdoc/>
    public override void QuantizeRow(ReadOnlySpan<float> src, Span<byte> dst, ReadOnlySpan<float> imatrix) =>
        FloatConversions.SingleToBFloat16(src, MemoryMarshal.Cast<byte, ushort>(dst));

    /// <inheritdoc/>
    public override void DequantizeRow(ReadOnlySpan<byte> src, Span<float> dst) =>
        FloatConversions.BFloat16ToSingle(MemoryMarshal.Cast<byte, ushort>(src)[..dst.Length], dst);
}
