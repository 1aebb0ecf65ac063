namespace IQuant.Core.Gguf;

/// <summary>GGUF metadata value types with their on-disk ids (spec §1.3).</summary>
public enum GgufValueType
{
    /// <summary>u8 (CLR <see cref="byte"/>).</summary>
    UInt8 = 0,
    /// <summary>i8 (CLR <see cref="sbyte"/>).</summary>
    Int8,
    /// <summary>u16 (CLR <see cref="ushort"/>).</summary>
    UInt16,
    /// <summary>i16 (CLR <see cref="short"/>).</summary>
    Int16,
    /// <summary>u32 (CLR <see cref="uint"/>).</summary>
    UInt32,
    /// <summary>i32 (CLR <see cref="int"/>).</summary>
    Int32,
    /// <summary>f32 (CLR <see cref="float"/>).</summary>
    Float32,
    /// <summary>one byte 0/1 (CLR <see cref="bool"/>).</summary>
    Bool,
    /// <summary>u64 length + UTF-8 bytes (CLR <see cref="string"/>).</summary>
    String,
    /// <summary>i32 element type, u64 count, elements (CLR typed array, e.g. <c>string[]</c>, <c>int[]</c>).</summary>
    Array,
    /// <summary>u64 (CLR <see cref="ulong"/>).</summary>
    UInt64,
    /// <summary>i64 (CLR <see cref="long"/>).</summary>
    Int64,
    /// <summary>f64 (CLR <see cref="double"/>).</summary>
    Float64,
}
