using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace IQuant.Core.Quants;

/// <summary>
/// SIMD primitives shared by the baseline dequantizers. The byte-level decoding uses 128-bit integer operations
/// (available at every non-scalar level); the float stage is 512-bit at <see cref="SimdLevel.Avx512"/> and 256-bit at
/// <see cref="SimdLevel.Avx2"/>. Every float result is <c>f32(q)·a + b</c> computed as one multiply and one add per
/// element, exactly like the scalar reference (<c>b = −0.0</c> when the reference only multiplies: adding −0 is the
/// identity in IEEE arithmetic, signed zeros included).
/// </summary>
internal static unsafe class BaselineSimd
{
    /// <summary>The additive identity used when the reference only multiplies.</summary>
    public const float NegZero = -0.0f;

    /// <summary>y[0..15] = f32(q[i])·a + b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Emit16(Vector128<sbyte> q, float a, float b, float* y, bool v512)
    {
        if (v512)
        {
            var f = Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(q));
            Vector512.Store(f * Vector512.Create(a) + Vector512.Create(b), y);
        }
        else
        {
            var va = Vector256.Create(a); var vb = Vector256.Create(b);
            var f0 = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q));
            var f1 = Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Sse2.ShiftRightLogical128BitLane(q, 8)));
            Vector256.Store(f0 * va + vb, y);
            Vector256.Store(f1 * va + vb, y + 8);
        }
    }

    /// <summary>Low nibbles of 16 bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> LowNibbles(Vector128<byte> v) => v & Vector128.Create((byte)0x0F);

    /// <summary>High nibbles of 16 bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> HighNibbles(Vector128<byte> v) =>
        Vector128.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & Vector128.Create((byte)0x0F);

    /// <summary>Bits 0..15 of <paramref name="bits"/> → 16 bytes: 0x10 where the bit is set, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> BitsTo16(uint bits)
    {
        var rep = Ssse3.Shuffle(Vector128.CreateScalarUnsafe(bits).AsByte(),
            Vector128.Create((byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
        var mask = Vector128.Create((byte)1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
        return Vector128.Equals(rep & mask, mask) & Vector128.Create((byte)0x10);
    }

    /// <summary>Loads 16 bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Load16(byte* p) => Vector128.Load(p);

    /// <summary>The IQ4_NL table as a pshufb lookup vector.</summary>
    public static Vector128<sbyte> Iq4nlTable => Vector128.Create((sbyte)-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);

    /// <summary>Table lookup of 16 nibble indices.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<sbyte> Lookup16(Vector128<sbyte> table, Vector128<byte> idx) => Ssse3.Shuffle(table, idx.AsSByte());
}
