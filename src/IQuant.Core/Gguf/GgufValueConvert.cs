namespace IQuant.Core.Gguf;

/// <summary>Lossless conversions between GGUF metadata values (for the tolerant getters of <see cref="GgufFile"/>).</summary>
public static class GgufValueConvert
{
    /// <summary>Converts <paramref name="value"/> to <typeparamref name="T"/> when that is exact: identity, integer ↔ integer
    /// in range, integer → f32/f64 when exactly representable, f32 → f64, f64 → f32 when exact. Arrays convert element
    /// by element when <typeparamref name="T"/> is an array type.</summary>
    public static bool TryConvert<T>(object value, out T result)
    {
        if (value is T t) { result = t; return true; }
        result = default!;
        if (value is System.Array src && typeof(T).IsArray)
        {
            var et = typeof(T).GetElementType()!;
            var dst = System.Array.CreateInstance(et, src.Length);
            for (int i = 0; i < src.Length; i++)
            {
                if (!TryConvertScalar(src.GetValue(i)!, et, out object? o)) return false;
                dst.SetValue(o, i);
            }
            result = (T)(object)dst;
            return true;
        }
        if (TryConvertScalar(value, typeof(T), out object? r)) { result = (T)r!; return true; }
        return false;
    }

    private static bool TryConvertScalar(object value, Type target, out object? result)
    {
        result = null;
        if (value.GetType() == target) { result = value; return true; }
        switch (value)
        {
            case float f:
                if (target == typeof(double)) { result = (double)f; return true; }
                return false;
            case double d:
                if (target == typeof(float) && ((double)(float)d == d || double.IsNaN(d))) { result = (float)d; return true; }
                return false;
            case bool or string or System.Array:
                return false;
        }
        Int128 x;
        switch (value)
        {
            case byte v: x = v; break;
            case sbyte v: x = v; break;
            case ushort v: x = v; break;
            case short v: x = v; break;
            case uint v: x = v; break;
            case int v: x = v; break;
            case ulong v: x = v; break;
            case long v: x = v; break;
            default: return false;
        }
        if (target == typeof(byte)) { if (x >= byte.MinValue && x <= byte.MaxValue) result = (byte)x; }
        else if (target == typeof(sbyte)) { if (x >= sbyte.MinValue && x <= sbyte.MaxValue) result = (sbyte)x; }
        else if (target == typeof(ushort)) { if (x >= ushort.MinValue && x <= ushort.MaxValue) result = (ushort)x; }
        else if (target == typeof(short)) { if (x >= short.MinValue && x <= short.MaxValue) result = (short)x; }
        else if (target == typeof(uint)) { if (x >= uint.MinValue && x <= uint.MaxValue) result = (uint)x; }
        else if (target == typeof(int)) { if (x >= int.MinValue && x <= int.MaxValue) result = (int)x; }
        else if (target == typeof(ulong)) { if (x >= ulong.MinValue && x <= ulong.MaxValue) result = (ulong)x; }
        else if (target == typeof(long)) { if (x >= long.MinValue && x <= long.MaxValue) result = (long)x; }
        else if (target == typeof(float)) { float f = (float)x; if ((Int128)f == x) result = f; }
        else if (target == typeof(double)) { double d = (double)x; if ((Int128)d == x) result = d; }
        return result is not null;
    }
}
