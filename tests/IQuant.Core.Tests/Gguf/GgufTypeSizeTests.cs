using IQuant.Core.Gguf;
using IQuant.Core.Types;

namespace IQuant.Core.Tests.Gguf;

/// <summary>Every row of spec §2 (id, block, bytes/block, row meta): the type table agrees, and the tensor byte size
/// (ggml_nbytes incl. per-row meta, spec §1.6) comes out right in the reader and the writer.</summary>
public class GgufTypeSizeTests
{
    // Generated from the table of spec §2 (shared/spec/formats.md): id, block size, bytes per block, row meta bytes.
    public static TheoryData<int, int, int, int> SpecRows() => new()
    {
        { 0, 1, 4, 0 }, // F32
        { 1, 1, 2, 0 }, // F16
        { 2, 32, 18, 0 }, // Q4_0
        { 3, 32, 20, 0 }, // Q4_1
        { 6, 32, 22, 0 }, // Q5_0
        { 7, 32, 24, 0 }, // Q5_1
        { 8, 32, 34, 0 }, // Q8_0
        { 9, 32, 36, 0 }, // Q8_1
        { 10, 256, 84, 0 }, // Q2_K
        { 11, 256, 110, 0 }, // Q3_K
        { 12, 256, 144, 0 }, // Q4_K
        { 13, 256, 176, 0 }, // Q5_K
        { 14, 256, 210, 0 }, // Q6_K
        { 15, 256, 296, 0 }, // Q8_K
        { 16, 256, 66, 0 }, // IQ2_XXS
        { 17, 256, 74, 0 }, // IQ2_XS
        { 18, 256, 98, 0 }, // IQ3_XXS
        { 19, 256, 50, 0 }, // IQ1_S
        { 20, 32, 18, 0 }, // IQ4_NL
        { 21, 256, 110, 0 }, // IQ3_S
        { 22, 256, 82, 0 }, // IQ2_S
        { 23, 256, 136, 0 }, // IQ4_XS
        { 24, 1, 1, 0 }, // I8
        { 25, 1, 2, 0 }, // I16
        { 26, 1, 4, 0 }, // I32
        { 27, 1, 8, 0 }, // I64
        { 28, 1, 8, 0 }, // F64
        { 29, 256, 56, 0 }, // IQ1_M
        { 30, 1, 2, 0 }, // BF16
        { 31, 32, 18, 0 }, // Q4_0_4_4
        { 32, 32, 18, 0 }, // Q4_0_4_8
        { 33, 32, 18, 0 }, // Q4_0_8_8
        { 36, 1, 1, 0 }, // I2_S
        { 39, 32, 17, 0 }, // MXFP4
        { 41, 128, 18, 0 }, // Q1_0_G128
        { 97, 32, 34, 0 }, // Q8_0_X4
        { 98, 32, 36, 0 }, // Q8_1_X4
        { 99, 32, 36, 0 }, // Q8_2_X4
        { 133, 32, 26, 0 }, // Q6_0
        { 134, 64, 13, 2 }, // IQ1_BN
        { 135, 64, 16, 4 }, // IQ2_BN
        { 136, 64, 68, 0 }, // Q8_K64
        { 137, 256, 76, 0 }, // IQ2_K
        { 138, 256, 110, 0 }, // IQ3_K
        { 139, 256, 144, 0 }, // IQ4_K
        { 140, 256, 176, 0 }, // IQ5_K
        { 141, 256, 212, 0 }, // IQ6_K
        { 144, 256, 136, 4 }, // IQ4_KS
        { 145, 256, 70, 2 }, // IQ2_KS
        { 146, 256, 128, 4 }, // IQ4_KSS
        { 147, 64, 64, 20 }, // Q8_K16
        { 148, 256, 296, 0 }, // Q8_K32
        { 149, 256, 296, 0 }, // Q8_KR8
        { 150, 128, 140, 0 }, // Q8_K128
        { 151, 32, 32, 8 }, // Q8_KV
        { 152, 256, 168, 4 }, // IQ5_KS
        { 153, 256, 68, 4 }, // IQ2_KT
        { 154, 256, 100, 4 }, // IQ3_KT
        { 155, 256, 128, 4 }, // IQ4_KT
        { 156, 256, 102, 2 }, // IQ3_KS
        { 157, 256, 86, 2 }, // IQ2_KL
        { 158, 256, 56, 4 }, // IQ1_KT
        { 202, 32, 18, 0 }, // Q4_0_R8
        { 206, 32, 22, 0 }, // Q5_0_R4
        { 208, 32, 34, 0 }, // Q8_0_R8
        { 210, 256, 84, 0 }, // Q2_K_R4
        { 211, 256, 110, 0 }, // Q3_K_R4
        { 212, 256, 144, 0 }, // Q4_K_R4
        { 213, 256, 176, 0 }, // Q5_K_R4
        { 214, 256, 210, 0 }, // Q6_K_R4
        { 216, 256, 66, 0 }, // IQ2_XXS_R4
        { 217, 256, 74, 0 }, // IQ2_XS_R4
        { 218, 256, 98, 0 }, // IQ3_XXS_R4
        { 219, 32, 6, 2 }, // IQ1_S_R4
        { 220, 32, 18, 0 }, // IQ4_NL_R4
        { 221, 256, 110, 0 }, // IQ3_S_R4
        { 222, 256, 82, 0 }, // IQ2_S_R4
        { 223, 256, 136, 0 }, // IQ4_XS_R8
        { 229, 32, 7, 2 }, // IQ1_M_R4
        { 230, 1, 2, 0 }, // BF16_R16
        { 233, 32, 26, 0 }, // Q6_0_R4
        { 335, 64, 16, 4 }, // IQ2_BN_R4
        { 337, 256, 76, 0 }, // IQ2_K_R4
        { 338, 256, 110, 0 }, // IQ3_K_R4
        { 339, 256, 144, 0 }, // IQ4_K_R4
        { 340, 256, 176, 0 }, // IQ5_K_R4
        { 344, 256, 136, 4 }, // IQ4_KS_R4
        { 352, 256, 168, 4 }, // IQ5_KS_R4
        { 353, 32, 17, 0 }, // MXFP4_R8
        { 397, 256, 258, 0 }, // Q8_K_R16
        { 398, 32, 32, 4 }, // Q8_KV_R8
        { 399, 256, 258, 0 }, // Q8_K_R8
    };

    [Theory]
    [MemberData(nameof(SpecRows))]
    public void SpecRow_MatchesTableAndByteSize(int id, int block, int bytes, int meta)
    {
        var t = TypeTable.TryGet(id);
        Assert.NotNull(t);
        Assert.Equal(block, t!.BlockSize);
        Assert.Equal(bytes, t.BytesPerBlock);
        Assert.Equal(meta, t.RowMetaBytes);

        long ne0 = block == 1 ? 256 : block * 3L; // 3 blocks per row
        foreach (var shape in new[] { new[] { ne0 }, new[] { ne0, 5 }, new[] { ne0, 2, 3 }, new[] { ne0, 2, 3, 2 } })
        {
            long rows = shape.Skip(1).Aggregate(1L, (a, b) => a * b);
            long expected = t.Type == GgmlType.I2_S
                ? ne0 * rows / 4 + 32                                // ggml_nbytes special case
                : (meta + bytes * (ne0 / block)) * rows;              // row meta once per row
            Assert.Equal(expected, GgufTensorInfo.ComputeByteSize(t, shape));
            var spec = new GgufTensorSpec("t", shape, t.Type);
            Assert.Equal(expected, spec.ByteSize);
        }
        Assert.Throws<ArgumentException>(() => GgufTensorInfo.ComputeByteSize(t, block == 1 ? [0L] : [block + 1L]));
    }

    [Fact]
    public void AllSpecRows_CoverTheTypeTable() => Assert.Equal(TypeTable.All.Count, SpecRows().Count);

    [Theory]
    [InlineData(GgmlType.IQ4_KS, new long[] { 256, 4096 }, 573440)]          // 4 + 136 per row (real demo file)
    [InlineData(GgmlType.IQ2_KS, new long[] { 256, 2 }, 144)]                // (2 + 70) * 2
    [InlineData(GgmlType.IQ3_KS, new long[] { 512, 3, 2 }, 1236)]            // (2 + 2*102) * 6
    [InlineData(GgmlType.IQ4_KSS, new long[] { 768 }, 388)]                  // 4 + 3*128
    [InlineData(GgmlType.IQ5_KS, new long[] { 256, 8, 4 }, 5504)]            // (4 + 168) * 32 (3-D expert tensor: meta per row)
    [InlineData(GgmlType.IQ2_KL, new long[] { 256 }, 88)]
    [InlineData(GgmlType.IQ1_BN, new long[] { 128, 2 }, 56)]                 // (2 + 2*13) * 2
    [InlineData(GgmlType.Q8_KV, new long[] { 64, 3 }, 216)]                  // (8 + 2*32) * 3
    [InlineData(GgmlType.Q8_K, new long[] { 256 }, 296)]                     // ik layout, not mainline's 292
    [InlineData(GgmlType.IQ2_K, new long[] { 256, 10 }, 760)]
    [InlineData(GgmlType.F16, new long[] { 5, 3 }, 30)]
    [InlineData(GgmlType.Q4_0, new long[] { 64 }, 36)]
    [InlineData(GgmlType.I2_S, new long[] { 256, 4 }, 288)]                  // 1024/4 + 32
    public void KnownSizes(GgmlType type, long[] shape, long bytes)
    {
        Assert.Equal(bytes, GgufTensorInfo.ComputeByteSize(TypeTable.Get(type), shape));
    }

    [Fact]
    public void EveryType_RoundTripsThroughAFile()
    {
        using var dir = new TempDir();
        var p = dir.File("types.gguf");
        var specs = TypeTable.All.Select(t => new GgufTensorSpec("t" + (int)t.Type, [t.BlockSize == 1 ? 64 : t.BlockSize * 2L, 3], t.Type)).ToArray();
        using (var w = new GgufWriter(p, [GgufMetadataEntry.String("general.architecture", "test")], specs))
        {
            var rnd = new Random(1);
            for (int i = 0; i < specs.Length; i++)
            {
                var b = new byte[specs[i].ByteSize];
                rnd.NextBytes(b);
                w.WriteTensor(i, b);
            }
            w.Commit();
        }
        using var f = GgufFile.Open(p);
        Assert.Equal(specs.Length, f.Tensors.Count);
        for (int i = 0; i < specs.Length; i++)
        {
            var t = f.Tensors[i];
            Assert.Equal(specs[i].Type, t.Type);
            Assert.Same(TypeTable.Get(specs[i].Type), t.TypeInfo);
            Assert.Equal(specs[i].ByteSize, t.ByteSize);
            Assert.Equal(0ul, t.Offset % 32);
            if (t.Type != GgmlType.I2_S) Assert.Equal(t.RowSize * t.Rows, t.ByteSize);
        }
    }
}
