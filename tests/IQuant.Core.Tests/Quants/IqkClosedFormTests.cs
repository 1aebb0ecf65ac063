using System.Security.Cryptography;
using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Core.Tests.Quants;

/// <summary>
/// The closed-form vectors of spec formats.md §10 for IQ2_K..IQ6_K: inputs regenerated here (no files), outputs
/// compared with the published bytes (Input A), SHA-256 (Input B, imatrix through B1) and dequantized values,
/// at every SIMD level.
/// </summary>
public class IqkClosedFormTests
{
    /// <summary>Input A: x[j] = f32(((j*37 + 11) mod 61) - 30) / 16, then x[100] = 7.25 (one row of 256).</summary>
    internal static float[] InputA()
    {
        var x = new float[256];
        for (int j = 0; j < 256; j++) x[j] = (float)((j * 37 + 11) % 61 - 30) / 16f;
        x[100] = 7.25f;
        return x;
    }

    /// <summary>Input B: two rows of 512 with the global index, x[100] = 7.25 in row 0; imatrix 0.5 + 0.25*(j mod 5).</summary>
    internal static (float[] X, float[] Im) InputB()
    {
        var x = new float[1024];
        for (int g = 0; g < 1024; g++) x[g] = (float)((g * 37 + 11) % 61 - 30) / 16f;
        x[100] = 7.25f;
        var im = new float[512];
        for (int j = 0; j < 512; j++) im[j] = 0.5f + 0.25f * (j % 5);
        return (x, im);
    }

    public static TheoryData<string, string, string> Cases => new()
    {
        { "IQ2_K", "7b28deff6a6a6a606aaa66a689a75eb41289a75eb45289a75eb86389d8728b2d76d861872d76d86187ed76d8d76d8422b9d76d8822b9d76e881279d7ed4bd1be14ed4b11be44e17b14be47e1", "4ee0d969e1c30b9e80c19d276f477cc3e7258f7b178e65a21ffa7c7a8af597aa" },
        { "IQ3_K", "bd1b92ff6af03333334f4343434305571f7c310557df7cf20967df30c20a68a083fd3658a38ffd355493cf3d7554e7af8c0135e76f8c02f9d76c4032fadb5c4136ea9b5c41f6aa9f4135e6ab9c419a6d8a5ce19a6d825c619a7da21e659a72ad136a9d72ac916a9d52ec91628d52", "cb980d7f7c7f710e2e028a19ff258b0a06eba3bded878df40a4cf447fb83ca2d" },
        { "IQ4_K", "8b17ccff6686a69a8888888088878788128df640ca137ee630bb036ee731ac04ca127de630ba036ee630ab036ed721ac40ca137ee630bb036ee731ac046fd82118ca47f99028da57f99628da5609a5277ee630bb036ee721ab035ed8219cf45ff29e26d05bf39f27d05c03af28e06d044bf29f27d05cf3af28d06c03af38e16ddf54fc9128df540ca127ee630bb036ee", "835e2c34869a26e77619dcbd6ad4b5f05ebcc0731b08877cf3d79ae32da12b53" },
        { "IQ5_K", "8f97f35c9646a59688888880888887884b55b4cf0b6a64c3ef197973d1fe28888d20f2d8787e11e3c9696f03c4ba5b4fffbb1ad4f3ffb929d3410eb828e2400d28989ee12339a9aff3344abbbf04555bac3d21e6969d2f11e7878d20f2d9687e12e3ca5a5f03c4ba5b4ff4b5ab4c30f6197a61d1ff278981e01e269890ee2e356a6f03c4ba5b4ff4b5ab4c30f6a6ac3e37c02ff14c37c02ff1cc3fd00fb1cc3f17c9740ff817c9f40ff83789f407e837", "f142a7f3d611a83bdd36161ed77c0cab78df9fd5c2a17eedb3b76de7d5edc9e4" },
        { "IQ6_K", "5d0fadbf22de20e022de8123e022e1221e221fdea99688910acbb8abc21dfdd9bef33f1f1531fbbfdff41ecaadbdc20b988b9ba131cbeb780b22bddd6a8e14afcf6b71056f2f33de598d4d52eb88ab6a8118a6b967675ff31445442dd1f21421fcced0f2d35673445ee68895668f19aab789b12c1efbdccdf1212dfde12243402ff46465c4ce169875a69ff96a578961ec4c396c88a34db41288a34db45288a34db4628c0ce247dcb208e147dcb208e1471cb2082c823bdd473cc23bed833cd277ec83381eb8234df71eb8e34df71288e34df412", "8aeaff2d4352291599e0e6d75a98baa8587e19808f53013c67498752a857da38" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void InputA_MatchesPublishedBytes(string type, string hexA, string sha256B)
    {
        _ = sha256B;
        var codec = Codecs.Get(Enum.Parse<GgmlType>(type));
        var x = InputA();
        var expected = Convert.FromHexString(hexA);
        foreach (var level in VectorConformanceTests.Levels())
        {
            using var _ = SimdPolicy.Override(level);
            var actual = new byte[codec.Info.RowSize(256)];
            RowQuantizer.Quantize(codec, x, 256, [], actual, 1, TestContext.Current.CancellationToken);
            Assert.Equal(Convert.ToHexStringLower(expected), Convert.ToHexStringLower(actual));
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void InputB_MatchesPublishedHash(string type, string hexA, string sha256B)
    {
        _ = hexA;
        var codec = Codecs.Get(Enum.Parse<GgmlType>(type));
        var (x, im) = InputB();
        foreach (var level in VectorConformanceTests.Levels())
        {
            using var _ = SimdPolicy.Override(level);
            var actual = new byte[2 * codec.Info.RowSize(512)];
            RowQuantizer.Quantize(codec, x, 512, im, actual, 2, TestContext.Current.CancellationToken);
            Assert.Equal(sha256B, Convert.ToHexStringLower(SHA256.HashData(actual)));
        }
    }

    /// <summary>§10 "Dequantized Input A" (first elements and element 100), published for IQ2_K, IQ3_K, IQ4_K.</summary>
    [Theory]
    [InlineData("IQ2_K", "-0.910095215, 1.19012451, 0.0700073242, -2.17022705", "7.28076172")]
    [InlineData("IQ3_K", "-1.05796814, 1.24311256, -0.264492035, -1.66629982", "7.37932777")]
    [InlineData("IQ4_K", "-1.22278595, 1.0165329, -0.324111938, -1.87100983", "7.24832153")]
    public void InputA_DequantizedValues(string type, string first, string at100)
    {
        var codec = Codecs.Get(Enum.Parse<GgmlType>(type));
        var bytes = new byte[codec.Info.RowSize(256)];
        RowQuantizer.Quantize(codec, InputA(), 256, [], bytes, 1, TestContext.Current.CancellationToken);
        var expected = first.Split(',').Select(s => float.Parse(s.Trim(), System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        float e100 = float.Parse(at100, System.Globalization.CultureInfo.InvariantCulture);
        foreach (var level in VectorConformanceTests.Levels())
        {
            using var _ = SimdPolicy.Override(level);
            var y = new float[256];
            RowQuantizer.Dequantize(codec, bytes, 256, y, 1, TestContext.Current.CancellationToken);
            for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], y[i]);
            Assert.Equal(e100, y[100]);
        }
    }
}
