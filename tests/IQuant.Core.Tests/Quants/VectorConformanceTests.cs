using System.Runtime.InteropServices;
using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Core.Tests.Quants;

/// <summary>
/// Byte-for-byte and float-for-float conformance with ik_llama.cpp's reference vectors (tests/vectors),
/// on every SIMD level this CPU has and at 1 and several threads.
/// </summary>
public class VectorConformanceTests
{
    public static TheoryData<string, string> AllPairs => VectorData.Pairs();

    internal static QuantCodec CodecFor(string key)
    {
        var parts = key.Split('-', 2);
        var type = TypeTable.Parse(parts[0]).Type;
        var codec = parts.Length == 2 ? Codecs.TryGet(type, parts[1]) : Codecs.TryGet(type);
        Assert.True(codec is not null, $"no codec registered for {key}");
        return codec!;
    }

    public static IEnumerable<SimdLevel> Levels() =>
        Enum.GetValues<SimdLevel>().Where(l => l <= SimdPolicy.Hardware);

    [Theory]
    [MemberData(nameof(AllPairs))]
    public void Quantize_MatchesReferenceBytes(string caseName, string key)
    {
        var c = VectorData.Case(caseName);
        var codec = CodecFor(key);
        var expected = VectorData.ReadBytes(c.Outputs[key].Bytes);
        var input = c.LoadInput();
        var im = c.LoadImatrix();
        Assert.Equal(expected.Length, c.Rows * codec.Info.RowSize(c.NPerRow));
        foreach (var level in Levels())
            foreach (int threads in new[] { 1, 3 })
            {
                using var _ = SimdPolicy.Override(level);
                var actual = new byte[expected.Length];
                RowQuantizer.Quantize(codec, input, c.NPerRow, im, actual, threads);
                AssertBytes(expected, actual, codec.Info.RowSize(c.NPerRow), $"{key} {caseName} {level} t={threads}");
            }
    }

    [Theory]
    [MemberData(nameof(AllPairs))]
    public void Dequantize_MatchesReferenceFloats(string caseName, string key)
    {
        var c = VectorData.Case(caseName);
        var codec = CodecFor(key);
        var bytes = VectorData.ReadBytes(c.Outputs[key].Bytes);
        var expected = VectorData.ReadFloats(c.Outputs[key].Dequantized);
        foreach (var level in Levels())
        {
            using var _ = SimdPolicy.Override(level);
            var actual = new float[expected.Length];
            RowQuantizer.Dequantize(codec, bytes, c.NPerRow, actual, threads: 2);
            var eb = MemoryMarshal.Cast<float, uint>(expected);
            var ab = MemoryMarshal.Cast<float, uint>(actual);
            for (int i = 0; i < eb.Length; i++)
                if (eb[i] != ab[i])
                    Assert.Fail($"{key} {caseName} {level}: element {i} (row {i / c.NPerRow}, col {i % c.NPerRow}) is {actual[i]:R}, expected {expected[i]:R}");
        }
    }

    internal static void AssertBytes(byte[] expected, byte[] actual, long rowBytes, string what)
    {
        for (int i = 0; i < expected.Length; i++)
            if (expected[i] != actual[i])
                Assert.Fail($"{what}: first difference at byte {i} (row {i / rowBytes}, offset {i % rowBytes} in row): {actual[i]:x2}, expected {expected[i]:x2}");
    }
}
