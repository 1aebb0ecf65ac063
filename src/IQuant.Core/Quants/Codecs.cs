using System.Collections.Frozen;
using IQuant.Core.Types;

namespace IQuant.Core.Quants;

/// <summary>Registry of row codecs: which types IQuant can quantize and dequantize.</summary>
public static class Codecs
{
    // One line per codec. Alternative encoders (e.g. the scalar IQ2_KS path) are looked up by variant.
    private static readonly QuantCodec[] s_all =
    [
        // CODEC-LIST (keep one entry per line; merged from several branches)
        new Iq4KsCodec(),
        new Iq3KsCodec(),
        new Iq5KsCodec(),
        new Iq2KsCodec(),
        new Iq2KsCodec(scalarPath: true),
        new Iq4KssCodec(),
        new Iq2KCodec(),
        new Q8_0Codec(),
        new Q4_0Codec(),
        new Q4_1Codec(),
        new Q5_0Codec(),
        new Q5_1Codec(),
        new Q6_0Codec(),
        new Iq4NlCodec(),
        new Iq4XsCodec(),
        new Iq3KCodec(),
        new Iq4KCodec(),
        new Iq5KCodec(),
        new Iq6KCodec(),
        new Iq2KlCodec(),
        new Q2_KCodec(),
        new Q3_KCodec(),
        new Q4_KCodec(),
        new Q5_KCodec(),
        new Q6_KCodec(),
        new F32Codec(),
        new F16Codec(),
        new Bf16Codec(),
    ];

    private static readonly FrozenDictionary<GgmlType, QuantCodec> s_default =
        s_all.Where(c => c.Variant == "default").ToFrozenDictionary(c => c.Type);

    /// <summary>Every registered codec, variants included.</summary>
    public static IReadOnlyList<QuantCodec> All => s_all;

    /// <summary>The default codec of a type, or null if IQuant does not support the type.</summary>
    public static QuantCodec? TryGet(GgmlType type) => s_default.GetValueOrDefault(type);

    /// <summary>A named encoder variant of a type (e.g. IQ2_KS "scalar"), or null.</summary>
    public static QuantCodec? TryGet(GgmlType type, string variant) =>
        s_all.FirstOrDefault(c => c.Type == type && string.Equals(c.Variant, variant, StringComparison.OrdinalIgnoreCase));

    /// <summary>The default codec of a type; throws <see cref="NotSupportedException"/> if there is none.</summary>
    public static QuantCodec Get(GgmlType type) =>
        TryGet(type) ?? throw new NotSupportedException($"IQuant cannot read or write {type} tensors.");

    /// <summary>True if the type can be dequantized to floats.</summary>
    public static bool CanDequantize(GgmlType type) => s_default.ContainsKey(type);

    /// <summary>True if IQuant can quantize to the type.</summary>
    public static bool CanQuantize(GgmlType type) => s_default.TryGetValue(type, out var c) && c.CanQuantize;
}
