using System.Globalization;
using System.Text;

namespace IQuant.Core.Gguf;

/// <summary>
/// One GGUF key/value pair. <see cref="Value"/> is the natural CLR value (<c>byte, sbyte, ushort, short, uint, int,
/// float, bool, string, ulong, long, double</c>) or, for arrays, a typed CLR array of those (<c>string[]</c>,
/// <c>int[]</c>, <c>float[]</c>, ...). Instances are immutable; create them with the static factories.
/// </summary>
public sealed class GgufMetadataEntry
{
    /// <summary>Creates an entry, checking that <paramref name="value"/> has the CLR type that matches
    /// <paramref name="type"/> (and <paramref name="elementType"/> for arrays).</summary>
    public GgufMetadataEntry(string key, GgufValueType type, object value, GgufValueType? elementType = null)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        if (type == GgufValueType.Array)
        {
            if (elementType is not { } et)
                throw new ArgumentException("An array entry needs an element type.", nameof(elementType));
            if (et == GgufValueType.Array)
                throw new ArgumentException("GGUF does not allow arrays of arrays.", nameof(elementType));
            if (!IsDefined(et))
                throw new ArgumentOutOfRangeException(nameof(elementType), et, "Unknown GGUF value type.");
            if (value.GetType() != ClrArrayType(et))
                throw new ArgumentException($"An ARRAY of {et} needs a {ClrArrayType(et).Name} value, not {value.GetType().Name}.", nameof(value));
            if (value is string?[] sa && System.Array.IndexOf(sa, null) >= 0)
                throw new ArgumentException("String arrays must not contain null.", nameof(value));
        }
        else
        {
            if (!IsDefined(type))
                throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown GGUF value type.");
            if (elementType is not null)
                throw new ArgumentException("Only arrays have an element type.", nameof(elementType));
            if (value.GetType() != ClrType(type))
                throw new ArgumentException($"A {type} entry needs a {ClrType(type).Name} value, not {value.GetType().Name}.", nameof(value));
        }
        Key = key;
        Type = type;
        ElementType = elementType;
        Value = value;
    }

    // Reader path: no checks (the reader builds correct values).
    internal GgufMetadataEntry(string key, GgufValueType type, GgufValueType? elementType, object value, bool _)
    {
        Key = key;
        Type = type;
        ElementType = elementType;
        Value = value;
    }

    /// <summary>The key (exact, case-sensitive).</summary>
    public string Key { get; }

    /// <summary>The value type.</summary>
    public GgufValueType Type { get; }

    /// <summary>For arrays: the element type; otherwise null.</summary>
    public GgufValueType? ElementType { get; }

    /// <summary>The value: a CLR scalar, a string, or a typed array for <see cref="GgufValueType.Array"/>.</summary>
    public object Value { get; }

    /// <summary>For arrays the element count, otherwise 1.</summary>
    public long Count => Value is System.Array a ? a.LongLength : 1;

    /// <summary>Type as users read it: <c>uint32</c>, <c>string</c>, <c>array[string]</c>.</summary>
    public string TypeName => Type == GgufValueType.Array ? $"array[{Name(ElementType!.Value)}]" : Name(Type);

    /// <summary>A u8 entry.</summary>
    public static GgufMetadataEntry UInt8(string key, byte value) => new(key, GgufValueType.UInt8, value);
    /// <summary>An i8 entry.</summary>
    public static GgufMetadataEntry Int8(string key, sbyte value) => new(key, GgufValueType.Int8, value);
    /// <summary>A u16 entry.</summary>
    public static GgufMetadataEntry UInt16(string key, ushort value) => new(key, GgufValueType.UInt16, value);
    /// <summary>An i16 entry.</summary>
    public static GgufMetadataEntry Int16(string key, short value) => new(key, GgufValueType.Int16, value);
    /// <summary>A u32 entry.</summary>
    public static GgufMetadataEntry UInt32(string key, uint value) => new(key, GgufValueType.UInt32, value);
    /// <summary>An i32 entry.</summary>
    public static GgufMetadataEntry Int32(string key, int value) => new(key, GgufValueType.Int32, value);
    /// <summary>An f32 entry.</summary>
    public static GgufMetadataEntry Float32(string key, float value) => new(key, GgufValueType.Float32, value);
    /// <summary>A bool entry.</summary>
    public static GgufMetadataEntry Bool(string key, bool value) => new(key, GgufValueType.Bool, value);
    /// <summary>A string entry.</summary>
    public static GgufMetadataEntry String(string key, string value) => new(key, GgufValueType.String, value);
    /// <summary>A u64 entry.</summary>
    public static GgufMetadataEntry UInt64(string key, ulong value) => new(key, GgufValueType.UInt64, value);
    /// <summary>An i64 entry.</summary>
    public static GgufMetadataEntry Int64(string key, long value) => new(key, GgufValueType.Int64, value);
    /// <summary>An f64 entry.</summary>
    public static GgufMetadataEntry Float64(string key, double value) => new(key, GgufValueType.Float64, value);

    /// <summary>An array entry; the element type follows from <typeparamref name="T"/> (byte → UINT8, string → STRING, ...).
    /// The array is not copied.</summary>
    public static GgufMetadataEntry Array<T>(string key, T[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var et = ElementTypeOf(typeof(T))
            ?? throw new ArgumentException($"{typeof(T).Name} is not a GGUF array element type.", nameof(values));
        return new GgufMetadataEntry(key, GgufValueType.Array, values, et);
    }

    /// <summary>Same value, different key.</summary>
    public GgufMetadataEntry WithKey(string key) => new(key, Type, ElementType, Value, true);

    /// <summary>The value as text; arrays show at most <paramref name="maxElements"/> elements then "… (N total)",
    /// long strings are cut at <paramref name="maxStringLength"/> characters.</summary>
    public string FormatValue(int maxElements = 8, int maxStringLength = 200)
    {
        if (Value is System.Array a)
        {
            var sb = new StringBuilder();
            sb.Append('[');
            int n = (int)Math.Min(a.LongLength, Math.Max(0, maxElements));
            for (int i = 0; i < n; i++)
            {
                if (i > 0) sb.Append(", ");
                sb.Append(FormatScalar(a.GetValue(i)!, maxStringLength, quote: true));
            }
            if (a.LongLength > n)
                sb.Append(n > 0 ? ", " : "").Append("… (").Append(a.LongLength.ToString(CultureInfo.InvariantCulture)).Append(" total)");
            sb.Append(']');
            return sb.ToString();
        }
        return FormatScalar(Value, maxStringLength, quote: false);
    }

    /// <summary>The value as text (arrays abbreviated), see <see cref="FormatValue"/>.</summary>
    public override string ToString() => FormatValue();

    private static string FormatScalar(object v, int maxLen, bool quote)
    {
        string s = v switch
        {
            string str => str.Length > maxLen ? str[..maxLen] + "…" : str,
            bool b => b ? "true" : "false",
            float f => f.ToString("R", CultureInfo.InvariantCulture),
            double d => d.ToString("R", CultureInfo.InvariantCulture),
            IFormattable fm => fm.ToString(null, CultureInfo.InvariantCulture),
            _ => v.ToString() ?? "",
        };
        return quote && v is string ? "\"" + s + "\"" : s;
    }

    internal static bool IsDefined(GgufValueType t) => (uint)t <= (uint)GgufValueType.Float64;

    /// <summary>Lower-case GGUF name of a value type (uint8 … float64).</summary>
    public static string Name(GgufValueType t) => t switch
    {
        GgufValueType.UInt8 => "uint8", GgufValueType.Int8 => "int8", GgufValueType.UInt16 => "uint16",
        GgufValueType.Int16 => "int16", GgufValueType.UInt32 => "uint32", GgufValueType.Int32 => "int32",
        GgufValueType.Float32 => "float32", GgufValueType.Bool => "bool", GgufValueType.String => "string",
        GgufValueType.Array => "array", GgufValueType.UInt64 => "uint64", GgufValueType.Int64 => "int64",
        GgufValueType.Float64 => "float64", _ => ((int)t).ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>The CLR type of a scalar value of type <paramref name="t"/>.</summary>
    public static Type ClrType(GgufValueType t) => t switch
    {
        GgufValueType.UInt8 => typeof(byte), GgufValueType.Int8 => typeof(sbyte), GgufValueType.UInt16 => typeof(ushort),
        GgufValueType.Int16 => typeof(short), GgufValueType.UInt32 => typeof(uint), GgufValueType.Int32 => typeof(int),
        GgufValueType.Float32 => typeof(float), GgufValueType.Bool => typeof(bool), GgufValueType.String => typeof(string),
        GgufValueType.UInt64 => typeof(ulong), GgufValueType.Int64 => typeof(long), GgufValueType.Float64 => typeof(double),
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "No scalar CLR type."),
    };

    /// <summary>The CLR array type of an array with elements of type <paramref name="t"/>.</summary>
    public static Type ClrArrayType(GgufValueType t) => ClrType(t).MakeArrayType();

    /// <summary>The GGUF element type for a CLR element type, or null.</summary>
    public static GgufValueType? ElementTypeOf(Type t) =>
        t == typeof(byte) ? GgufValueType.UInt8 : t == typeof(sbyte) ? GgufValueType.Int8 :
        t == typeof(ushort) ? GgufValueType.UInt16 : t == typeof(short) ? GgufValueType.Int16 :
        t == typeof(uint) ? GgufValueType.UInt32 : t == typeof(int) ? GgufValueType.Int32 :
        t == typeof(float) ? GgufValueType.Float32 : t == typeof(bool) ? GgufValueType.Bool :
        t == typeof(string) ? GgufValueType.String : t == typeof(ulong) ? GgufValueType.UInt64 :
        t == typeof(long) ? GgufValueType.Int64 : t == typeof(double) ? GgufValueType.Float64 : null;
}
