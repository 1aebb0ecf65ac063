using IQuant.Core.Gguf;
using IQuant.Core.Types;

namespace IQuant.Core.Tests.Gguf;

public class GgufReaderTests
{
    [Fact]
    public void DemoModel_Parses()
    {
        using var f = GgufFile.Open(TestPaths.DemoModel);
        Assert.Equal(3u, f.Version);
        Assert.Equal(32, f.Alignment);
        Assert.False(f.IsSplit);
        Assert.Single(f.ShardPaths);
        Assert.Equal(new FileInfo(TestPaths.DemoModel).Length, f.FileSize);
        Assert.Equal(57, f.Tensors.Count);
        Assert.Equal(25, f.Metadata.Count);
        Assert.Equal(44, f.Tensors.Count(t => t.Type == GgmlType.F16));
        Assert.Equal(13, f.Tensors.Count(t => t.Type == GgmlType.F32));
        Assert.Equal("llama", f.GetString("general.architecture"));
        Assert.Equal(256u, f.GetUInt32("llama.embedding_length"));
        Assert.Equal(256L, f.GetInt64("llama.embedding_length"));
        Assert.Equal(6, f.GetInt32("llama.block_count"));
        Assert.Equal(4096, f.GetArray<string>("tokenizer.ggml.tokens")!.Length);
        Assert.Equal(4096, f.FindMetadata("tokenizer.ggml.tokens")!.Count);
        Assert.Equal(GgufValueType.String, f.FindMetadata("tokenizer.ggml.tokens")!.ElementType);
        Assert.Equal("array[string]", f.FindMetadata("tokenizer.ggml.tokens")!.TypeName);
        Assert.Null(f.FindMetadata("no.such.key"));
        Assert.Null(f.GetUInt32("no.such.key"));
        Assert.Null(f.GetUInt32("general.architecture")); // a string is not a number

        var emb = f.FindTensor("token_embd.weight")!;
        Assert.Equal(new long[] { 256, 4096 }, emb.Shape);
        Assert.Equal(256 * 4096 * 2L, emb.ByteSize);
        Assert.Equal(512, emb.RowSize);
        Assert.Equal(4096, emb.Rows);
        Assert.Null(emb.Layer);
        Assert.Equal(f.DataOffset + (long)emb.Offset, emb.FileOffset);
        var q = f.FindTensor("blk.5.attn_q.weight")!;
        Assert.Equal(5, q.Layer);
        Assert.Same(q, f.Tensors[q.Index]);
        Assert.Null(f.FindTensor("nope"));

        // Data access agrees between span, pointer and row accessors.
        var all = f.GetTensorBytes(q);
        Assert.Equal(q.ByteSize, all.Length);
        Assert.True(all.Slice((int)(3 * q.RowSize), (int)(2 * q.RowSize)).SequenceEqual(f.GetRows(q, 3, 2)));
        unsafe
        {
            byte* p = f.GetTensorPointer(q);
            Assert.Equal(all[100], p[100]);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => f.GetRows(q, q.Rows - 1, 2).Length);
        // Data agrees with a plain file read.
        var raw = File.ReadAllBytes(TestPaths.DemoModel);
        Assert.True(raw.AsSpan((int)emb.FileOffset, (int)emb.ByteSize).SequenceEqual(f.GetTensorBytes(emb)));
    }

    [Fact]
    public void Dispose_InvalidatesAccess()
    {
        var f = GgufFile.Open(TestPaths.DemoModel);
        var t = f.Tensors[0];
        f.Dispose();
        Assert.Throws<ObjectDisposedException>(() => f.GetTensorBytes(t).Length);
        f.Dispose();
    }

    [Fact]
    public void ForeignTensorInfo_IsRejected()
    {
        using var a = GgufFile.Open(TestPaths.DemoModel);
        using var b = GgufFile.Open(TestPaths.DemoModel);
        Assert.Throws<ArgumentException>(() => a.GetTensorBytes(b.Tensors[0]).Length);
    }

    [Fact]
    public void OpenDoesNotLockFile_AgainstReadersAndDelete()
    {
        using var dir = new TempDir();
        var p = dir.File("copy.gguf");
        File.Copy(TestPaths.DemoModel, p);
        using var f = GgufFile.Open(p);
        using (var other = new FileStream(p, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete)) { }
        File.Delete(p); // FileShare.Delete: the mapping stays valid
        Assert.Equal(f.Tensors[0].ByteSize, f.GetTensorBytes(f.Tensors[0]).Length);
    }

    public static TheoryData<string> SharedModels() => new(
        "iquant-demo-f16.gguf", "iquant-demo-IQ2_K.gguf", "iquant-demo-IQ2_K-im.gguf", "iquant-demo-IQ2_KS.gguf",
        "iquant-demo-IQ2_KS-im.gguf", "iquant-demo-IQ3_K.gguf", "iquant-demo-IQ3_K-im.gguf", "iquant-demo-IQ3_KS.gguf",
        "iquant-demo-IQ3_KS-im.gguf", "iquant-demo-IQ4_K.gguf", "iquant-demo-IQ4_K-im.gguf", "iquant-demo-IQ4_KS.gguf",
        "iquant-demo-IQ4_KS-im.gguf");

    [Theory]
    [MemberData(nameof(SharedModels))]
    public void SharedModel_Parses(string name)
    {
        var path = TestPaths.RequireShared("models", name);
        using var f = GgufFile.Open(path);
        Assert.Equal(57, f.Tensors.Count);
        Assert.Equal("llama", f.GetString("general.architecture"));
        Assert.Equal(13, f.Tensors.Count(t => t.Type == GgmlType.F32));
        Assert.All(f.Tensors.Where(t => t.Name.EndsWith("_norm.weight", StringComparison.Ordinal)), t => Assert.Equal(GgmlType.F32, t.Type));
        Assert.Equal(new FileInfo(path).Length, f.FileSize);
        // The last tensor ends exactly at the (32-padded) end of the file.
        var last = f.Tensors.MaxBy(t => t.FileOffset)!;
        Assert.Equal(f.FileSize, (last.FileOffset + last.ByteSize + 31) / 32 * 32);
        bool im = name.EndsWith("-im.gguf", StringComparison.Ordinal);
        Assert.Equal(im, f.FindMetadata("quantize.imatrix.file") is not null);
        if (name.Contains("f16", StringComparison.Ordinal))
        {
            Assert.Equal(44, f.Tensors.Count(t => t.Type == GgmlType.F16));
            return;
        }
        string ftype = name["iquant-demo-".Length..].Replace("-im.gguf", "").Replace(".gguf", "");
        var main = Enum.Parse<GgmlType>(ftype);
        // llama ftype numbers of spec §1.3.
        var ftypes = new Dictionary<GgmlType, uint>
        {
            [GgmlType.IQ2_K] = 138, [GgmlType.IQ3_K] = 139, [GgmlType.IQ4_K] = 140,
            [GgmlType.IQ4_KS] = 145, [GgmlType.IQ2_KS] = 147, [GgmlType.IQ3_KS] = 154,
        };
        Assert.Equal(ftypes[main], f.GetUInt32("general.file_type"));
        Assert.Equal(2u, f.GetUInt32("general.quantization_version"));
        Assert.True(f.Tensors.Count(t => t.Type == main) >= 31);
        Assert.All(f.Tensors, t =>
        {
            Assert.NotNull(t.TypeInfo);
            Assert.Equal(t.TypeInfo!.RowSize(t.Shape[0]) * t.Rows, t.ByteSize);
        });
    }

    [Fact]
    public void SharedIq4Ks_HasExpectedTypesAndSizes()
    {
        var path = TestPaths.RequireShared("models", "iquant-demo-IQ4_KS.gguf");
        using var f = GgufFile.Open(path);
        Assert.Equal(43, f.Tensors.Count(t => t.Type == GgmlType.IQ4_KS));
        Assert.Equal(1, f.Tensors.Count(t => t.Type == GgmlType.Q6_K));
        var emb = f.FindTensor("token_embd.weight")!;
        Assert.Equal(GgmlType.IQ4_KS, emb.Type);
        Assert.Equal(140, emb.RowSize);          // 4-byte f32 row scale + 136
        Assert.Equal(573440, emb.ByteSize);      // 140 * 4096
        Assert.Equal(0ul, emb.Offset);
        Assert.Equal(573440ul + 1024, f.FindTensor("blk.0.attn_q.weight")!.Offset);
        Assert.Equal(GgmlType.Q6_K, f.Tensors.Single(t => t.Type == GgmlType.Q6_K).Type);
        Assert.Equal(145u, f.GetUInt32("general.file_type"));
        Assert.True(f.GetBool("tokenizer.ggml.add_bos_token"));
        Assert.Equal(9.999999747378752e-06, f.GetFloat64("llama.attention.layer_norm_rms_epsilon")!.Value, 12);
    }

    public static TheoryData<string, int> VocabFiles() => new()
    {
        { "ggml-vocab-deepseek-coder.gguf", 25 }, { "ggml-vocab-falcon.gguf", 18 }, { "ggml-vocab-gpt-2.gguf", 16 },
        { "ggml-vocab-gpt-neox.gguf", 17 }, { "ggml-vocab-llama-spm.gguf", 22 }, { "ggml-vocab-mpt.gguf", 17 },
        { "ggml-vocab-phi-3.gguf", 26 }, { "ggml-vocab-starcoder.gguf", 19 },
    };

    [Theory]
    [MemberData(nameof(VocabFiles))]
    public void SharedVocab_Parses(string name, int keys)
    {
        var path = TestPaths.RequireShared("vocab", name);
        using var f = GgufFile.Open(path);
        Assert.Empty(f.Tensors);
        Assert.Equal(keys, f.Metadata.Count);
        Assert.NotNull(f.GetString("tokenizer.ggml.model"));
        var tokens = f.GetArray<string>("tokenizer.ggml.tokens");
        Assert.NotNull(tokens);
        Assert.True(tokens!.Length > 1000);
    }

    [Fact]
    public void AllSharedGgufFiles_Parse()
    {
        var root = TestPaths.RequireShared();
        int n = 0;
        foreach (var p in Directory.EnumerateFiles(root, "*.gguf", SearchOption.AllDirectories))
        {
            using var f = GgufFile.Open(p);
            Assert.Equal(f.Tensors.Count, f.Tensors.Select(t => t.Name).Distinct().Count());
            n++;
        }
        Assert.True(n >= 21, $"only {n} .gguf files under {root}");
    }

    [Fact]
    public void GetValue_WidensAndNarrowsExactly()
    {
        using var dir = new TempDir();
        var p = dir.File("v.gguf");
        var md = new[]
        {
            GgufMetadataEntry.UInt8("u8", 200), GgufMetadataEntry.Int32("neg", -5), GgufMetadataEntry.UInt64("big", ulong.MaxValue),
            GgufMetadataEntry.Float32("f", 0.5f), GgufMetadataEntry.Float64("d", 0.1), GgufMetadataEntry.Int32("i", 7),
            GgufMetadataEntry.Array("ia", new[] { 1, 2, 3 }), GgufMetadataEntry.Bool("b", true), GgufMetadataEntry.String("s", "x"),
            GgufMetadataEntry.UInt16("dup", 1), GgufMetadataEntry.UInt16("dup", 2),
        };
        using (var w = new GgufWriter(p, md, [])) w.Commit();
        using var f = GgufFile.Open(p);
        Assert.Equal(200u, f.GetUInt32("u8"));
        Assert.Equal(200, f.GetInt32("u8"));
        Assert.Equal((byte)200, f.GetValue<byte>("u8"));
        Assert.Null(f.GetValue<sbyte>("u8"));
        Assert.Equal(-5L, f.GetInt64("neg"));
        Assert.Null(f.GetUInt32("neg"));
        Assert.Null(f.GetInt64("big"));
        Assert.Equal(ulong.MaxValue, f.GetUInt64("big"));
        Assert.Equal(0.5, f.GetFloat64("f"));
        Assert.Null(f.GetFloat32("d"));     // 0.1 is not exact in f32
        Assert.Equal(7f, f.GetFloat32("i"));
        Assert.Equal(new long[] { 1, 2, 3 }, f.GetArray<long>("ia"));
        Assert.Same(f.FindMetadata("ia")!.Value, f.GetArray<int>("ia"));
        Assert.Null(f.GetArray<byte>("neg"));
        Assert.True(f.GetBool("b"));
        Assert.Null(f.GetBool("i"));
        Assert.Equal("x", f.GetString("s"));
        Assert.True(f.TryGetValue("s", out string? s) && s == "x");
        Assert.True(f.TryGetValue("ia", out int[]? ia) && ia!.Length == 3);
        Assert.False(f.TryGetValue("s", out int _));
        Assert.Equal((ushort)1, f.GetValue<ushort>("dup")); // first wins
        Assert.Equal("[1, 2, 3]", f.FindMetadata("ia")!.ToString());
    }

    [Fact]
    public void MetadataEntry_ToStringAbbreviates()
    {
        var e = GgufMetadataEntry.Array("t", Enumerable.Range(0, 100).Select(i => "tok" + i).ToArray());
        Assert.Equal("[\"tok0\", \"tok1\", \"tok2\", … (100 total)]", e.FormatValue(3));
        Assert.StartsWith("[\"tok0\"", e.ToString());
        Assert.EndsWith("… (100 total)]", e.ToString());
        Assert.Equal("145", GgufMetadataEntry.UInt32("general.file_type", 145).ToString());
        Assert.Equal("true", GgufMetadataEntry.Bool("b", true).ToString());
        Assert.Equal("llama", GgufMetadataEntry.String("a", "llama").ToString());
        Assert.Equal("[]", GgufMetadataEntry.Array("e", Array.Empty<int>()).ToString());
        Assert.Throws<ArgumentException>(() => new GgufMetadataEntry("k", GgufValueType.UInt32, 5));  // int, not uint
        Assert.Throws<ArgumentException>(() => new GgufMetadataEntry("k", GgufValueType.Array, new int[1][], GgufValueType.Array));
        Assert.Throws<ArgumentException>(() => GgufMetadataEntry.Array("k", new object[1]));
    }
}
