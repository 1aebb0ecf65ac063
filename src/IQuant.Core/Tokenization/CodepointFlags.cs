using System.Globalization;
using System.Runtime.CompilerServices;

namespace IQuant.Core.Tokenization;

/// <summary>
/// Per-codepoint classification as llama.cpp's pre-tokenizers see it: one general-category group (the
/// <c>\p{L}</c>, <c>\p{N}</c>, ... of its regexes) plus a whitespace bit. Values match llama.cpp's
/// <c>unicode_cpt_flags</c> bit layout, so "no flags at all" (0) means "outside the text", as there.
/// </summary>
[Flags]
internal enum CpFlags : ushort
{
    None = 0,
    Undefined = 0x0001,   // Cn
    Number = 0x0002,      // \p{N}
    Letter = 0x0004,      // \p{L}
    Separator = 0x0008,   // \p{Z}
    AccentMark = 0x0010,  // \p{M}
    Punctuation = 0x0020, // \p{P}
    Symbol = 0x0040,      // \p{S}
    Control = 0x0080,     // \p{C} except Cn
    CategoryMask = 0x00FF,
    Whitespace = 0x0100,  // \s
}

/// <summary>
/// Codepoint flags from .NET's Unicode tables, pinned to the Unicode version of llama.cpp's generated tables.
/// </summary>
/// <remarks>
/// llama.cpp (and ik_llama.cpp at the reference commit) classify codepoints with tables generated from
/// Unicode 15.1. .NET 10 ships Unicode 16.0. A full comparison over all 0x110000 codepoints found exactly one
/// kind of difference: the 5,185 codepoints newly assigned in Unicode 16.0, which llama.cpp treats as
/// unassigned (Cn). <see cref="Unicode16Additions"/> lists them so that our flags equal llama.cpp's everywhere.
/// Whitespace is Unicode's White_Space property (the same 25 codepoints llama.cpp lists).
/// </remarks>
internal static class CodepointFlags
{
    // Codepoint ranges (inclusive) first assigned in Unicode 16.0 (DerivedAge.txt "16.0").
    private static readonly (int First, int Last)[] Unicode16Additions =
    [
        (0x897, 0x897), (0x1B4E, 0x1B4F), (0x1B7F, 0x1B7F), (0x1C89, 0x1C8A), (0x2427, 0x2429), (0x31E4, 0x31E5),
        (0xA7CB, 0xA7CD), (0xA7DA, 0xA7DC), (0x105C0, 0x105F3), (0x10D40, 0x10D65), (0x10D69, 0x10D85),
        (0x10D8E, 0x10D8F), (0x10EC2, 0x10EC4), (0x10EFC, 0x10EFC), (0x11380, 0x11389), (0x1138B, 0x1138B),
        (0x1138E, 0x1138E), (0x11390, 0x113B5), (0x113B7, 0x113C0), (0x113C2, 0x113C2), (0x113C5, 0x113C5),
        (0x113C7, 0x113CA), (0x113CC, 0x113D5), (0x113D7, 0x113D8), (0x113E1, 0x113E2), (0x116D0, 0x116E3),
        (0x11BC0, 0x11BE1), (0x11BF0, 0x11BF9), (0x11F5A, 0x11F5A), (0x13460, 0x143FA), (0x16100, 0x16139),
        (0x16D40, 0x16D79), (0x18CFF, 0x18CFF), (0x1CC00, 0x1CCF9), (0x1CD00, 0x1CEB3), (0x1E5D0, 0x1E5FA),
        (0x1E5FF, 0x1E5FF), (0x1F8B2, 0x1F8BB), (0x1F8C0, 0x1F8C1), (0x1FA89, 0x1FA89), (0x1FA8F, 0x1FA8F),
        (0x1FABE, 0x1FABE), (0x1FAC6, 0x1FAC6), (0x1FADC, 0x1FADC), (0x1FADF, 0x1FADF), (0x1FAE9, 0x1FAE9),
        (0x1FBCB, 0x1FBEF),
    ];

    internal static ReadOnlySpan<(int First, int Last)> PinnedRanges => Unicode16Additions;

    private static readonly CpFlags[] Bmp = BuildBmp();

    private static CpFlags[] BuildBmp()
    {
        var t = new CpFlags[0x10000];
        for (int cp = 0; cp < t.Length; cp++) t[cp] = Compute(cp);
        return t;
    }

    /// <summary>The flags of <paramref name="cp"/> (a valid scalar value or surrogate).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static CpFlags Get(int cp) => (uint)cp < 0x10000u ? Bmp[cp] : ComputeAstral(cp);

    private static CpFlags ComputeAstral(int cp) => cp < 0x110000 ? Compute(cp) : CpFlags.Undefined;

    private static CpFlags Compute(int cp)
    {
        foreach (var (first, last) in Unicode16Additions)
            if (cp >= first && cp <= last)
                return CpFlags.Undefined;
        var f = Category(CharUnicodeInfo.GetUnicodeCategory(cp));
        if (IsWhiteSpace(cp)) f |= CpFlags.Whitespace;
        return f;
    }

    private static bool IsWhiteSpace(int cp) =>
        cp is (>= 0x09 and <= 0x0D) or 0x20 or 0x85 or 0xA0 or 0x1680 or (>= 0x2000 and <= 0x200A)
            or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    private static CpFlags Category(UnicodeCategory c) => c switch
    {
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CpFlags.Letter,
        UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark => CpFlags.AccentMark,
        UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CpFlags.Number,
        UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator => CpFlags.Separator,
        UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
            or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation => CpFlags.Punctuation,
        UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol
            or UnicodeCategory.OtherSymbol => CpFlags.Symbol,
        UnicodeCategory.OtherNotAssigned => CpFlags.Undefined,
        _ => CpFlags.Control, // Cc, Cf, Cs, Co
    };
}

/// <summary>GPT-2's reversible byte ↔ printable-codepoint map, used by byte-level BPE vocabularies.</summary>
internal static class ByteLevel
{
    /// <summary>Byte → codepoint.</summary>
    public static readonly char[] ByteToChar = BuildByteToChar();

    /// <summary>Codepoint (0..0x143) → byte, or -1.</summary>
    public static readonly short[] CharToByte = BuildCharToByte();

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        var assigned = new bool[256];
        for (int b = 0x21; b <= 0x7E; b++) { map[b] = (char)b; assigned[b] = true; }
        for (int b = 0xA1; b <= 0xAC; b++) { map[b] = (char)b; assigned[b] = true; }
        for (int b = 0xAE; b <= 0xFF; b++) { map[b] = (char)b; assigned[b] = true; }
        int n = 0;
        for (int b = 0; b < 256; b++)
            if (!assigned[b]) map[b] = (char)(256 + n++);
        return map;
    }

    private static short[] BuildCharToByte()
    {
        var inv = new short[0x144];
        Array.Fill(inv, (short)-1);
        for (int b = 0; b < 256; b++) inv[ByteToChar[b]] = (short)b;
        return inv;
    }

    /// <summary>Appends the byte-level form of <paramref name="utf8"/> to <paramref name="dst"/>.</summary>
    public static void Encode(ReadOnlySpan<byte> utf8, Span<char> dst)
    {
        for (int i = 0; i < utf8.Length; i++) dst[i] = ByteToChar[utf8[i]];
    }
}
