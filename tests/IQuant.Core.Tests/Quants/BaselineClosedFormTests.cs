using System.Runtime.InteropServices;
using System.Security.Cryptography;
using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Core.Tests.Quants;

/// <summary>
/// The closed-form test vectors of formats-baseline.md §16 (inputs regenerated in code, outputs checked by SHA-256 and,
/// for Input A, byte by byte), at every SIMD level.
/// </summary>
public class BaselineClosedFormTests
{
    private sealed record Input(float[] X, int Rows, int N, float[] Im);

    private static uint Fmix32(uint h)
    {
        h ^= h >> 16; h *= 0x85EBCA6B; h ^= h >> 13; h *= 0xC2B2AE35; h ^= h >> 16;
        return h;
    }

    private static float Saw(long g) => (float)((int)((g * 37 + 11) % 61) - 30) / 16f;

    private static float HashValue(int r, int j, int n)
    {
        uint g = (uint)(r * n + j);
        uint h1 = Fmix32(2 * g + 1), h2 = Fmix32(2 * g + 2);
        int s = (int)(h1 & 0xFFFF) + (int)(h1 >> 16) + (int)(h2 & 0xFFFF) + (int)(h2 >> 16) - 131070;
        float v = (float)s / 4194304.0f;
        if (h2 % 53 == 0) v *= 8.0f;
        return v;
    }

    private static float[] ImC(int n)
    {
        var im = new float[n];
        for (int j = 0; j < n; j++) im[j] = (float)(1 + ((13 * j + 5) % 31)) / 16f;
        return im;
    }

    private static Input Make(string name)
    {
        switch (name)
        {
            case "A":
            {
                var x = new float[256];
                for (int j = 0; j < 256; j++) x[j] = Saw(j);
                x[100] = 7.25f;
                return new Input(x, 1, 256, []);
            }
            case "B":
            case "B0":
            {
                var x = new float[1024];
                for (int g = 0; g < 1024; g++) x[g] = Saw(g);
                x[100] = 7.25f;
                float[] im = [];
                if (name == "B")
                {
                    im = new float[512];
                    for (int j = 0; j < 512; j++) im[j] = 0.5f + 0.25f * (j % 5);
                }
                return new Input(x, 2, 512, im);
            }
            case "C":
            case "C0":
            {
                const int n = 1024;
                var x = new float[4 * n];
                for (int r = 0; r < 4; r++)
                    for (int j = 0; j < n; j++) x[r * n + j] = HashValue(r, j, n);
                for (int j = 64; j < 96; j++) x[n + j] = 0;
                for (int j = 512; j < 768; j++) x[n + j] = 0;
                for (int j = 0; j < n; j++) x[2 * n + j] = 0;
                for (int j = 0; j < 32; j++) x[3 * n + j] = 0.0625f;
                for (int j = 32; j < 64; j++) x[3 * n + j] = x[3 * n + j] * BitConverter.UInt32BitsToSingle((127 - 40) << 23);
                return new Input(x, 4, n, name == "C" ? ImC(n) : []);
            }
            case "D":
            case "D0":
            {
                const int n = 1440;
                var x = new float[3 * n];
                for (int r = 0; r < 3; r++)
                    for (int j = 0; j < n; j++) x[r * n + j] = HashValue(r, j, n);
                for (int j = 0; j < 32; j++) x[n + j] = 0;
                for (int j = 1408; j < 1440; j++) x[2 * n + j] = 0;
                return new Input(x, 3, n, name == "D" ? ImC(n) : []);
            }
            case "T":
            {
                var x = new float[512];
                for (int g = 0; g < 512; g++) x[g] = (float)((int)(Fmix32((uint)g + 1) % 3) - 1) * 0.046875f;
                return new Input(x, 2, 256, []);
            }
            default: throw new ArgumentException(name);
        }
    }

    private static string Sha(ReadOnlySpan<byte> b) => Convert.ToHexStringLower(SHA256.HashData(b));
    private static string Sha(float[] f) => Sha(MemoryMarshal.AsBytes(f.AsSpan()));

    [Theory]
    [InlineData("A", "bd8af8753a1cc5b664f2399a5e0c754bf7c3f8eb46d4ac7c2bf5fa57c7665eca", "")]
    [InlineData("B", "11ae6ab43cdc17b79c581733b17c2acc9e492e996b9b6a307432ceb8dfc70cda", "b762a37ae360a5d8570853080e3eacc920dc16b36336e2250ff3690eb72f4e1a")]
    [InlineData("C", "5cbcc08eb0f30e6bde72fdce39aaa0b120a2c6003f70f689636f763dc742fb2c", "8e8c80ba98e8edb027e7b628bbf5961ef488b459065b4f2fb9eb804d00fd0bb9")]
    [InlineData("D", "704cc685b1678b5cefb5fa7fb16b1e05e23456223636a631b7eabe70b2aca503", "0682f1a4c3363f09f788edc12332e03db3384c0dd420e7a4059e2df681f1d2c6")]
    [InlineData("T", "390b7cc31d7608940972bbee1dd055f987afcb4bd1b28aa0ceb2170ca0933507", "")]
    public void Inputs_MatchSpecHashes(string name, string inputHash, string imHash)
    {
        var inp = Make(name);
        Assert.Equal(inputHash, Sha(inp.X));
        if (imHash.Length > 0) Assert.Equal(imHash, Sha(inp.Im));
    }

    public static TheoryData<string, string, int, string> Outputs()
    {
        const string table = """
Q8_0    A     272  42a6105d6da7d3ab6d1f18038a067444b34ccc989c65746113627ddddf561fce
Q8_0    B0   1088  dde19b553c694e6b265a9a6a61bed31fb8e308ff7e4c5fe4b41ee88c0a619b70
Q8_0    B    1088  dde19b553c694e6b265a9a6a61bed31fb8e308ff7e4c5fe4b41ee88c0a619b70
Q8_0    C0   4352  4a84364e48c08ca882ece28163f443f5db89135492adf94cdf0e8cf29e630a7d
Q8_0    C    4352  4a84364e48c08ca882ece28163f443f5db89135492adf94cdf0e8cf29e630a7d
Q8_0    D0   4590  c611f283982da3d839a84a48b9442fdd24c0b595d0952a0974db7e8595240255
Q8_0    D    4590  c611f283982da3d839a84a48b9442fdd24c0b595d0952a0974db7e8595240255
Q4_0    A     144  c1499606d21f85a1b781e1ac63bf58035f2b1244f7a2ac4721920a81ee62c731
Q4_0    B0    576  ccc3547113fb283566f8d66eb1919d4384e7acc9dbb43e30fd0dbcb4ce68187a
Q4_0    B     576  ed4bd3a52c84c4f26d9183df5eb0a34bc543adff3f8fba08db8bec6c082a67f7
Q4_0    C0   2304  520155f9af14b644983bfd57dd8a9c3ec9279970c8c7436df916e70b4db802df
Q4_0    C    2304  2cb31778fa02f3a438e7d1fe01f5652359fd1e3293f888083f10c468580ddc9d
Q4_0    D0   2430  8c9a1f323f7ea6ea48511d9797426a1701348e9a7bfe55ece554b378de0327a5
Q4_0    D    2430  a3a5d8c4effc98c3eeaf60874acc77a57938748d5b4ac72eda683e6458767cce
Q5_0    A     176  157c0de8ec7d562058a9758476462db2ab55925b745e6017a7ca4e4557b49ad6
Q5_0    B0    704  719bf748825d643c5869fe3eb5aa3e33e1775947332b7aa925254b7b8014e105
Q5_0    B     704  ad672275139778e6b3256c95e4176961141f4fe7c07ed98c620a6bda0690d4e2
Q5_0    C0   2816  3da549eefbc82b197fe4340c225a8a378f391f0306c453ee235cef1ad9280967
Q5_0    C    2816  290b16a94954439b019a063738b4cce3d2ffe7d8600e22a525a4bbe7c05197e3
Q5_0    D0   2970  f177ed78908f99699a4d524942632f8abd5518afe2a947367b5bc3ce4c9d297d
Q5_0    D    2970  d2bfc58e44e963338e3f965483ccf30f2d5dfc5ca8f341b567f01e70bf92d871
Q6_0    A     208  7c0010aee80adbc84f53126107ddc28bdc975827cc07c3e0065f5d1f3524799a
Q6_0    B0    832  cabb768d1af5f46c73cfe53a7f3c0746699a6d266658f250fd6c374cb629c1c5
Q6_0    B     832  5fc25168b0748b5635d0057e3bb84e8cfd4a641284353e1a9818df2b24885c2b
Q6_0    C0   3328  5f409123300706618c31e147d78ddb01ebf7f3701fcd05dd20908fd47974641a
Q6_0    C    3328  eca5dcfb4008eb81007224bc43cfb35a3477aa9a9d61f9ac0869a6882a5bb771
Q6_0    D0   3510  51e7e6fca3dd4d60c364bd6e38f3cdcdca813dc1ed513e73ddc9128b5b7ca77b
Q6_0    D    3510  3fda74fa52fad333b5780a217ff663d941a0491ad22c2e4981d466e870ebd55c
IQ4_NL  A     144  3cff2598d181f217f426570c8c701af2fa5dee802d694b9c767e4aec414237fb
IQ4_NL  B0    576  c7366e62f4fc31814403111610d59c8591bfac3c0d2f23eb2502793a9c676702
IQ4_NL  B     576  e8517efc9c11d533c8759f7df469cd0d4fece93ea3b960b97b9706df301fbb7d
IQ4_NL  C0   2304  b969bd9ee789b8baac8dcf2eb03464265df79476b93ea07acd6d8ac147b51a76
IQ4_NL  C    2304  ae37a672ff7ac0ba4a8b5f2c0c1d9361bea37e595a148e78ee7089078cb04052
IQ4_NL  D0   2430  f1bbcf5fadbf604041142360a7a1c5d69a8f2fae85b4660452465808e305596b
IQ4_NL  D    2430  1e00cd8e4f0322fd3fcfb6e9e7b83005c8982dfbbd0ddb1b1dd3c91c31232984
IQ4_XS  A     136  7c3367430789b231fb1e99856abf73ce2e2cf035f181cd78d4baaaa7252a0344
IQ4_XS  B0    544  4182aa874318f4002a573ecc0f7f6d509a65839824966705269c1fb56bd9b990
IQ4_XS  B     544  a3cfe27f75d0ae482b1422d658862f8c40ef63b9f04c0e32d4a53d43cec681ff
IQ4_XS  C0   2176  bb9bf125d91aa9603b6db54dde55cf8110377afe9c77a49e1df114052447b954
IQ4_XS  C    2176  76c369bbd0f7841da5a3330a662054d47e4072d7c07ab1728bade65d10a37b38
Q2_K    A      84  e8630c14e1df9361ebe6ab1bf87b9a3dd4998778d0063014818c4eda12b215f0
Q2_K    B0    336  681127396c2e6b6947206c973f3cc6083901b0095ed884ffde3f8979e5bee0c5
Q2_K    B     336  39ee4dfd8ebd6f1082474e6ca6ddbbf5db079e968d6a34bf108175845c4bcb3e
Q2_K    C0   1344  ad67def456605a1b3b7b9bdf19aa64a2aae1b1998258f5f87362f9530eb282e9
Q2_K    C    1344  d3e8a7c683a5408496d6695f0601736f53f2159cfd260ad209a30a4d24170287
Q2_K    T     168  955561de8eb8eeded2980e67ce6a1e601ed03f590e5d16bfd1351a10e3cfdae2
Q3_K    A     110  687a5744680599935a2a6531e6da1ca6691d2d885cc6b49a3e9e90a32bb0e786
Q3_K    B0    440  54f1b8c0f0dee847f827f0570932fe9ddf7f55e587caafe214ff3d74c45ecc10
Q3_K    B     440  eebb7d9b625160190b40794ef2fa2c3161e2674b409f8d9048c1a29b819f00c1
Q3_K    C0   1760  1888f828558585a29e440a26a32651a86ab8183784c089733b16881b1322760f
Q3_K    C    1760  eba71c12120ed80d4dc0f1a8dba9d9f763583238e223d628e458b032896cc1b8
Q4_K    A     144  ed610ff9ddeca1f402171ad6af13af6be454cc7251215209c1f94356368608b3
Q4_K    B0    576  d9ee1a0bee06ba3717055e30575480c771568c31d50878016dfcf1f366866d70
Q4_K    B     576  b7d626f7f7c711e397ffc9b94725b8c6d30c6d5b09f3b4c886676bb3638f59c9
Q4_K    C0   2304  3cdd99ef8f397ae8225324dfdba425a3df7afa8d5e1e87ca8fe84ec1602dde6a
Q4_K    C    2304  bee93290231fd7993a05947a5a4a4c9af8d84c0364ebe171b7b32f0f92ffaaef
Q5_K    A     176  7be666365735c2431b485e6a287b9c01305aa1cb7a47b8d5adf90fcbad7c8323
Q5_K    B0    704  6c29794ff4eea2193d6d5f0e4eb00a73f5b0704bae10803bde3d530f233c9fb8
Q5_K    B     704  a2dff72113fbbfa41ef0fd61a4a37e497486832336d431ed5a7f7bad60b8594b
Q5_K    C0   2816  5a3c6aaf4d6683b2d8dc6819f5339fda41405ac429d6275fa8a03f4a2fae3fac
Q5_K    C    2816  b42aa0796eb74bc7b2180d0c6be7b2e97373c6a348ea3facc388bdc3ffe03471
Q6_K    A     210  428c54476deca540e9cfb64ca0e01fd5e59e2059ee2b85b0715a0cd9959cda1a
Q6_K    B0    840  7b53110d6973639779aff25ca41c77abc45ad08fb4b133f58da8b622f6942f2e
Q6_K    B     840  ee0d4b48e47f2dae76446f679d1fbbccd0404b44cee803c353a0e395fff798af
Q6_K    C0   3360  7438667ad05b54ffc0b4cf72bb027125adcddcbc43ab155f9b1e21e30277877d
Q6_K    C    3360  57d9e4d07e795c55c3ef65e8c822ca806563e7c6f025f6d4784183c9d66038b1
""";
        var td = new TheoryData<string, string, int, string>();
        foreach (var line in table.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var p = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            td.Add(p[0], p[1], int.Parse(p[2]), p[3]);
        }
        return td;
    }

    private static byte[] Quantize(string type, Input inp, SimdLevel level, int threads = 1)
    {
        var codec = Codecs.Get(TypeTable.Parse(type).Type);
        using var _ = SimdPolicy.Override(level);
        var y = new byte[inp.Rows * codec.Info.RowSize(inp.N)];
        RowQuantizer.Quantize(codec, inp.X, inp.N, inp.Im, y, threads);
        return y;
    }

    [Theory]
    [MemberData(nameof(Outputs))]
    public void Output_MatchesSpecHash(string type, string input, int bytes, string hash)
    {
        var inp = Make(input);
        foreach (var level in VectorConformanceTests.Levels())
        {
            var y = Quantize(type, inp, level);
            Assert.Equal(bytes, y.Length);
            Assert.True(hash == Sha(y), $"{type} {input} at {level}: hash {Sha(y)}, expected {hash}");
        }
    }

    [Theory]
    [InlineData("Q8_0", "8f23b04ce7811eb855ef8926c15df8922fc966009a37d16e08a33fda7711ab48e27f4f231ab153ea8123ba5cf38a2cc365fc9335cb6d049b3dd4760da446dd7f16ad4fe68f23811eb855ef8926c15df8922fc966009a37d16e08a33fda7711ab48e27f19b4504f2bfbe009ee7ffde20bf119ffe50df31b01e70ff51e03e912f72005eb14f9df08ed8f2355ef8926c15df8922fc966009a37d16e08a33fda7711ab48e27f19b450eb85228f23bc59f38e2ac561fc9633cd6a049f3bd6720da744de7b15b04ce7811eb855ef898f2326c15df8922fc966009a37d16e08a33fda7711ab48e27f19b450eb8522bc59f38f238e2ac561fc9633cd6a049f3bd6720da744de7b15b04ce7811eb855ef8926c15d")]
    [InlineData("Q4_0", "8033e38d26b05af39d27c16af49e37d16bf540335af38d27c05af49e27c16bf49e38d16b8033b05af39d27c16af49e37d16bf5ae38d240bba87a976980987a976986987a87a9869880b373e94fa61c72d93fa50b62d83e95fb618033f49e27c16bf49e38d16b05af38d27c1580b3a61c72d93fa50b62d83e95fb61c72e948033c16bf49e38d16b05af38d27c15af49e2")]
    [InlineData("Q5_0", "802f524a6badd60a3d70a4e71b4e81b5f82c5f92c6f9402fa594d65a93e61a3d80a4f72c4e91c6f83d6fa2d7802f4a69adb570a4e71b4e81b5f82c5f92c6f93d60a340b76badb5b431e41fc20030e41fc2fd30e31e42fd2080afd65a4a69f5c28f5b18e4b17e4a07d3a06d39f6c2802f525a6b29e72b5e92c5f93c6fa3d60a4d71b4e71b80af5a4b29ad5b18e4b17e4a07d3a06d39f6c29f5c28802f4a6b2da592c5f93c6fa3d60a4d71b4e71b5e82c5")]
    [InlineData("Q6_0", "00ac73982e47e933942e830e863eb961ec641c974fca42fa752db0abe933942e47e93394ca63fc851ea841da63fc862fb841da6400ac47e933942e47e9323eb961ec641c974fca42fa752da820d87bb36a56a96694aa56a961c83e94f161c72d84fa50b72d83e950002c6bd1b826cd6b11bc24acf479c146ce169be368e038bd358a00ac3394ee47d93294ee50db530b863eb931e964ec971fc742ca002c26cd6b11bc66cd6b79c146ce169be368e038bd358a025adf00ac47d93294ee43993e0b863eb931e964ec971fc742ca75fda5")]
    [InlineData("IQ4_NL", "f123e28d16c04af39e26c15bf39e27d16bf424a4c61d83ea4fb51d72e93fa51c62d83ea4f1a34fb61d72e93fb51c62e93fa40c61d82e1b2c679679a78f689679a78a689679578a68e8a372e93fb51c62e93fa40c61d82ea4fb511ea41d72e93fa51c62d83ea4fc61d82e94fbe9a3b51c62e93fa40c61d82ea4fb51d72e9322a43fa51c62d83ea4fc61d82e94fb51c72e")]
    [InlineData("IQ4_XS", "1b9829aa88088888e28d26c04af39d27c15bf39e27d16bf4c61d82ea4fb51d72e93fa51c62d83ea44fb61d72e93fb51c72d93fa40c62d82e679679a78f689679a78a689679578a6872e93fb51c72d93fa40c62d82ea4fb511d72e93fa51c62d83ea4fc61d82e94fbb51c72d93fa40c62d82ea4fb51d72e933fa51c62d83ea4fc61d82e94fb51c72e")]
    [InlineData("Q2_K", "e5a5d5a5d595bfb6c5b6c5d6c5f6c5e609275e34e209275e386309375e38634d279d74d249279e78e289279e78228d27279d74e289279e78e28937de78e38d379d78e29977dd78229977d248269d74e224324430")]
    [InlineData("Q3_K", "5abd6adca15abd6adea55abd6bdea55af23d83fe0de23d03fa0dc2fc01f23dc2055a2f7c31065b2f30c1066b2c30c61a69a4c3ce3a6490c3fe79a493cf3e69945a6cb1c5165b6cf1c5166fbcf1c61b6f9cc3fa79ac9fc73a699c9736796993c7988898a898889099aa55a2a93c2b")]
    [InlineData("Q4_K", "e0208e275959597ffefffdfdd9e9e9f9933cd6600aa34dd7701aa44de7811bb45ee8812bb55ff8922cc56ff9923cd66f2009431df7300a442d57310a442e68311b452e68321c552f69421c562f09431d3dd7701aa44de7711ab45ee8812bb55ef8822cc56ff9923cc66f09a33dd6700a1aa44de7811bb45ee8812bb55ff8922cc56ff9923cd66f09a33dd6700aa34de7")]
    [InlineData("Q5_K", "f11cc6275958597ffefbfefed9f9d9e852a54294a952a54294a152a562d4a552b563d6a552b56356a552952356a542953669acd003477abee114588bcff225699cd003367aade114478bbef225589ccf5003873aee6114883bbf6215994cb063169a4dc174279b5ec27528ac5f0386398abde124589bcef23569acdf03467abde014578bcef125689cdf023679ade01324689bde023579acef13468abdf024579bcef13568acdf024679bde013578ace")]
    [InlineData("Q6_K", "e39e16ce49c17cf4ac27af5ad28a058dd850a82da5fa72ca4fc71c94ec61e93e1a83ec451e1871da43ac067fd8319a04742aa158df560c833ab138ee65ec931abbe4aee610d812cc044ef630fa226c2472ca4fc71c94ec61e93eb63e830b53d8fd590c601cdf2bef32fea20eb115d184058d35b038e36be39e16ce49c17cf4acb79c728b2db79c628b6db698628b6db6e75eb82249e75eb8224df71eb8e34df7e04ef7118be05eb7214ae45ebb214ef452b42e45fb12b4ef41fb1e84ef51b81ede22df21de2280dee0221dde1d22e2de7b17")]
    public void InputA_MatchesSpecBytes(string type, string hex)
    {
        var inp = Make("A");
        foreach (var level in VectorConformanceTests.Levels())
            Assert.Equal(hex, Convert.ToHexStringLower(Quantize(type, inp, level)));
    }

    [Fact]
    public void InputT_Q2K_TakesTriNetPath()
    {
        const string hex = "11111111111111111111111111111111811101a2a19199a26051555a990a1220950829608065261026641196648a8260989815551549451241826411a5a086910a6595992864442889646598189a9a65002a002a1111111111111111111111111111111196a421214805a0018109628051041a8aa41068865692285a40a4aa4128a2669905056618806099862a9891552828496a51a066a2a22624901046865922850a69002a002a";
        var inp = Make("T");
        foreach (var level in VectorConformanceTests.Levels())
            foreach (int threads in new[] { 1, 2 })
                Assert.Equal(hex, Convert.ToHexStringLower(Quantize("Q2_K", inp, level, threads)));
    }

    [Fact]
    public void Q2K_TriNetDecision_IsPerChunkOfRows()
    {
        // A ternary row alone is TriNet-encoded; inside a chunk with Gaussian-like rows it is not (spec §15.13).
        var t = Make("T");
        var c = Make("C0");
        var ternaryRow = t.X.AsSpan(0, 256).ToArray();
        var codec = Codecs.Get(GgmlType.Q2_K);
        var alone = new byte[84];
        codec.QuantizeRow(ternaryRow, alone, []);
        Assert.Equal("1111111111111111", Convert.ToHexStringLower(alone.AsSpan(0, 8)));
        // Same row followed by three non-ternary rows of 256: one chunk → ordinary Q2_K for the ternary row.
        var mixed = new float[4 * 256];
        ternaryRow.CopyTo(mixed, 0);
        c.X.AsSpan(0, 3 * 256).CopyTo(mixed.AsSpan(256));
        var y = new byte[4 * 84];
        RowQuantizer.Quantize(codec, mixed, 256, [], y, threads: 1);
        Assert.NotEqual(alone, y.AsSpan(0, 84).ToArray());
        Assert.Equal(64, codec.ChunkRows(256, hasImatrix: false));
        Assert.Equal(1, codec.ChunkRows(256, hasImatrix: true));
        Assert.Equal(1, codec.ChunkRows(16384, hasImatrix: false));
    }
}
