namespace IQuant.Core.Kernels;

/// <summary>Value tables of spec §3.2 as signed bytes: normal half, then shifted half.</summary>
internal static class Tables
{
    public static ReadOnlySpan<sbyte> Iq2nl => [-31, -13, 1, 17, -26, -8, 6, 22];

    public static ReadOnlySpan<sbyte> Iq3nl => [-63, -40, -23, -10, 1, 13, 28, 47, -59, -36, -19, -6, 5, 17, 32, 51];

    public static ReadOnlySpan<sbyte> Iq4k =>
    [
        -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
        -123, -100, -79, -61, -45, -31, -18, -6, 5, 17, 29, 42, 57, 73, 93, 117,
    ];

    public static ReadOnlySpan<sbyte> Iq5nl =>
    [
        -126, -114, -103, -92, -83, -74, -65, -57, -50, -43, -36, -30, -24, -18, -12, -6,
        -1, 5, 11, 17, 23, 29, 36, 43, 51, 59, 68, 77, 87, 97, 109, 121,
        -124, -112, -101, -90, -81, -72, -63, -55, -48, -41, -34, -28, -22, -16, -10, -4,
        1, 7, 13, 19, 25, 31, 38, 45, 53, 61, 70, 79, 89, 99, 111, 123,
    ];

    /// <summary>IQ6_K normal table (64 entries); the shifted table is each entry + 1.</summary>
    public static ReadOnlySpan<sbyte> Iq6nl =>
    [
        -127, -121, -115, -109, -104, -98, -93, -88, -84, -79, -74, -70, -66, -62, -58, -54,
        -51, -47, -44, -40, -37, -34, -31, -28, -25, -22, -19, -16, -13, -11, -8, -5,
        -2, 0, 3, 6, 9, 12, 14, 17, 20, 23, 27, 30, 33, 36, 40, 44,
        47, 51, 55, 59, 63, 68, 72, 77, 82, 87, 92, 98, 103, 109, 115, 121,
    ];

    /// <summary>IQ2_KL pair table: entry i = (first, second) as two bytes, low byte first.</summary>
    public static ReadOnlySpan<ushort> Iq2klPairs =>
    [
        0xe9c1, 0x0dc1, 0xc1d8, 0xf6d8, 0x0dd8, 0x2fd8, 0xd8e9, 0xe9e9, 0x01e9, 0x0de9, 0x1ce9, 0xc1f6, 0x01f6, 0x0df6, 0x2ff6, 0xe901,
        0xf601, 0x0101, 0x0d01, 0x1c01, 0xd80d, 0xe90d, 0xf60d, 0x010d, 0x0d0d, 0xc11c, 0xe91c, 0x011c, 0x1c1c, 0x2f1c, 0xe92f, 0x0d2f,
    ];
}
