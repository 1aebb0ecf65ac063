using System.Security.Cryptography;
using IQuant.Core.Quants;

namespace IQuant.Core.Tests.Quants;

/// <summary>The closed-form test vectors of spec §10 for the KS family (IQ2_KS both encoders, IQ3_KS, IQ4_KS,
/// IQ5_KS, IQ4_KSS, IQ2_KL), checked at every SIMD level.</summary>
public class KsClosedFormTests
{
    /// <summary>Input A: one row of 256, x[j] = f32(((j*37 + 11) mod 61) - 30) / 16, x[100] = 7.25.</summary>
    internal static float[] InputA()
    {
        var x = new float[256];
        for (int j = 0; j < 256; j++) x[j] = (float)(((j * 37 + 11) % 61) - 30) / 16;
        x[100] = 7.25f;
        return x;
    }

    /// <summary>Input B: two rows of 512 (global index), x[100] = 7.25, imatrix 0.5 + 0.25*(j mod 5).</summary>
    internal static (float[] X, float[] Im) InputB()
    {
        var x = new float[1024];
        for (int g = 0; g < 1024; g++) x[g] = (float)(((g * 37 + 11) % 61) - 30) / 16;
        x[100] = 7.25f;
        var im = new float[512];
        for (int j = 0; j < 512; j++) im[j] = 0.5f + 0.25f * (j % 5);
        return (x, im);
    }

    public static TheoryData<string, string> InputAHex => new()
    {
        { "iq2_ks-scalar", "7224ffb1c40c444cb49f71882eb59f61886eb59b61886eb59b62885eb59b62845e759b62849f758b17ad44e2b917ad48e2b917ae48d2b917ee48d2bd17ee4813bd47e27917bd44e2" },
        { "iq2_ks", "5124ffb1c40c444cb49f71882eb59f61886eb59b61886eb59b62885eb59b62845e759b62849f758b17ad44e2b917ad48e2b917ae48d2b917ee48d2bd17ee4813bd47e27917bd44e2" },
        { "iq3_ks", "6c1fa3f7c444cc4035662a5c013567ef4cc13567ef0cc1395bdc00f23a5bdc00f63a5bdc01662a5b256c4fc2f624ac8fc23a189c83f139589f83f539589f83256958c2f6256c5fc20ef91ec8750ef916c8f50ef93688f50ee9378af10ee9370af10ec9770af91ec9" },
        { "iq4_ks", "b116f339a1615f015f9fa19fe28d16c04af38d16c05bf39e27d15bf3c51d72e93fb50d61e93fa40c61d82fa43fb51d72e93fb50c61d83fa40c61d82ea86a875970986a875976986a86a9759772e93fb50c61d83fa40c61d82e93fb51f39e16d05bf39e27d15c04af28e16c045bf39e27d15bf3ae28d16c04af38e16cd05bf39e27d15c04af28e16c04bf39e1" },
        { "iq5_ks", "6b46f7395f9fa1fea09e615f4b45b4cf0b5a54c3ee1a7963d1fd198882e01d279792ee2c36a6a1fd3b45b5b0f0b525dbfd01b626ec4e02c727ed5002c839ed5113c93afe5314da3bffb415db6bcde116777cdff227888de01328999ef22339aaaef3444abbcf04555bcdd115e99983311ed8887220fdc777611eedc666501dccb55540fbbba4433feaaa933293648b55e89b648b55689b74ab156c9b74ab176c9b74aa976c9b54ea97648b54" },
        { "iq4_kss", "7d8ff539bdf61a8072a2161b806ca3f43a9e93a78da3171b8172a3f4e59f72a2143b9f688172a2f61a806ca2143b9f7258cb319ecf4cfa6ea0ef4cfa6e44ee4cfacea6e5bdb12bc6095e912ad908be9b35e25261a3f4e59f73a2153b9f68f8d530bea9072717bc91d5c7f341913418ad9f8534e2616da3f43b9e6902cb30be48f8d52fbe" },
        { "iq2_kl", "9d1b2a996888698045eb145eb1a5fb1a5f41aef45aef45ee21251b656f24c5c46a0f24cec46a2f2554bea4fe1a534ea4fe59e34ae41354be1a54bea4fe59e34ea4f359b34aee1a540a1a71ed8c0a32f5edce0a33f59d0e1a" },
    };

    public static TheoryData<string, string> InputBSha => new()
    {
        { "iq2_ks-scalar", "3f6c020ae38289712fd002e1f6ed065d4c85fe8ae7fd0cfffbac214e06896bc3" },
        { "iq2_ks", "870815a289ca567a4f3d547cf6ca62c90051959327bc9f33595d043d0c11f70f" },
        { "iq3_ks", "54b894ced9f233420ed80a6d5032a6b75ee6c62543552a082dedf70902cc041b" },
        { "iq4_ks", "0d60823a959253b0abcfce50a1622f9466263785b6ad396a9d14a6e97166fc22" },
        { "iq5_ks", "1aaa8fa229018a71080f12105bbd0171fa2564dcea724615dc45c53cebff9b3d" },
        { "iq4_kss", "b427d21d10ce850af0d5c0e03da60e00f8714cec369fb47935fb67e84d35ea24" },
        { "iq2_kl", "86d7f384b66b5dc496ed2ad80f8417a6fbb6589d76b2e8a26c8a1fbeefb08982" },
    };

    [Theory]
    [MemberData(nameof(InputAHex))]
    public void InputA_MatchesSpecBytes(string key, string hex)
    {
        var codec = VectorConformanceTests.CodecFor(key);
        var x = InputA();
        foreach (var level in VectorConformanceTests.Levels())
        {
            using var _ = SimdPolicy.Override(level);
            var dst = new byte[codec.Info.RowSize(256)];
            RowQuantizer.Quantize(codec, x, 256, [], dst, threads: 1);
            Assert.Equal(hex, Convert.ToHexStringLower(dst));
        }
    }

    [Theory]
    [MemberData(nameof(InputBSha))]
    public void InputB_MatchesSpecHash(string key, string sha)
    {
        var codec = VectorConformanceTests.CodecFor(key);
        var (x, im) = InputB();
        foreach (var level in VectorConformanceTests.Levels())
        {
            using var _ = SimdPolicy.Override(level);
            var dst = new byte[2 * codec.Info.RowSize(512)];
            RowQuantizer.Quantize(codec, x, 512, im, dst, threads: 1);
            Assert.Equal(sha, Convert.ToHexStringLower(SHA256.HashData(dst)));
        }
    }

    [Theory]
    [InlineData("iq2_ks-scalar", new[] { -1.8059082f, 1.52807617f, -0.555664062f, -1.8059082f }, 7.22363281f)]
    [InlineData("iq3_ks", new[] { -1.04370117f, 0.927734375f, -0.550842285f, -1.71051025f }, 7.3059082f)]
    [InlineData("iq4_ks", new[] { -1.2087481f, 1.11694443f, -0.27541095f, -1.88197482f }, 7.2427516f)]
    public void InputA_DequantizesToSpecValues(string key, float[] first, float at100)
    {
        var codec = VectorConformanceTests.CodecFor(key);
        var dst = new byte[codec.Info.RowSize(256)];
        RowQuantizer.Quantize(codec, InputA(), 256, [], dst, threads: 1);
        foreach (var level in VectorConformanceTests.Levels())
        {
            using var _ = SimdPolicy.Override(level);
            var y = new float[256];
            RowQuantizer.Dequantize(codec, dst, 256, y, threads: 1);
            for (int i = 0; i < first.Length; i++) Assert.Equal(first[i], y[i], 6);
            Assert.Equal(at100, y[100], 5);
        }
    }

    [Fact]
    public void BestIndexThresholds_AgreeWithTableDrivenB5()
    {
        // Dense check around every integer and half-integer in [-140, 140] plus a coarse sweep; the full
        // brute-force check over all floats in [-300, 300] was run once offline (see KsTable).
        foreach (var tab in new[] { KsTable.Iq3, KsTable.Iq4, KsTable.Iq5 })
            foreach (bool sh in new[] { false, true })
            {
                var T = tab.ValuesI(sh);
                var thr = tab.Thr(sh);
                void Check(float a)
                {
                    int c = 0;
                    for (int k = 0; k < tab.N - 1; k++) if (a >= thr[k]) c++;
                    int r = tab.Bi(T, a);
                    if (r != c) Assert.Fail($"N={tab.N} shifted={sh} a={a:R}: table {r}, thresholds {c}");
                }
                for (int h = -280; h <= 280; h++)
                {
                    float m = h * 0.5f;
                    float a = m;
                    for (int s = 0; s < 300; s++) { Check(a); a = MathF.BitIncrement(a); }
                    a = m;
                    for (int s = 0; s < 300; s++) { Check(a); a = MathF.BitDecrement(a); }
                }
                for (float a = -300; a <= 300; a += 0.0009765625f) Check(a);
            }
    }
}
