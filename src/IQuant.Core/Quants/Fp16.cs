namespace IQuant.Core.Quants;

/// <summary>IEEE binary16 conversions with ggml's semantics (round to nearest even; NaN becomes 0x7E00).</summary>
public static class Fp16
{
    /// <summary>f32 → fp16 bits, round to nearest even.</summary>
    public static ushort FromFloat(float f)
    {
        if (float.IsNaN(f)) return 0x7E00;
        return BitConverter.HalfToUInt16Bits((Half)f);
    }

    /// <summary>fp16 bits → f32 (exact).</summary>
    public static float ToFloat(ushort h) => (float)BitConverter.UInt16BitsToHalf(h);

    /// <summary>Rounds an f32 through fp16 and back.</summary>
    public static float Round(float f) => ToFloat(FromFloat(f));
}
