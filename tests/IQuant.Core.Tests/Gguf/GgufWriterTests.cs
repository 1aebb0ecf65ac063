using IQuant.Core.Gguf;
using IQuant.Core.Types;

namespace IQuant.Core.Tests.Gguf;

public class GgufWriterTests
{
    private static GgufMetadataEntry[] AllValueTypes() =>
    [
        GgufMetadataEntry.String("general.architecture", "test"),
        GgufMetadataEntry.UInt8("u8", 255), GgufMetadataEntry.Int8("i8", -128),
        GgufMetadataEntry.UInt16("u16", 65535), GgufMetadataEntry.Int16("i16", -32768),
        GgufMetadataEntry.UInt32("u32", uint.MaxValue), GgufMetadataEntry.Int32("i32", int.MinValue),
        GgufMetadataEntry.Float32("f32", -1.5e-7f), GgufMetadataEntry.Float32("f32nan", BitConverter.UInt32BitsToSingle(0x7FC00123)),
        GgufMetadataEntry.Bool("t", true), GgufMetadataEntry.Bool("f", false),
        GgufMetadataEntry.String("s", "héllo, 世界 🙂"), GgufMetadataEntry.String("empty", ""),
        GgufMetadataEntry.UInt64("u64", ulong.MaxValue), GgufMetadataEntry.Int64("i64", long.MinValue),
        GgufMetadataEntry.Float64("f64", Math.PI), GgufMetadataEntry.Float64("f64inf", double.NegativeInfinity),
        GgufMetadataEntry.Array("a.u8", new byte[] { 0, 1, 255 }), GgufMetadataEntry.Array("a.i8", new sbyte[] { -1, 0, 127 }),
        GgufMetadataEntry.Array("a.u16", new ushort[] { 1, 65535 }), GgufMetadataEntry.Array("a.i16", new short[] { -2, 3 }),
        GgufMetadataEntry.Array("a.u32", new uint[] { 7, uint.MaxValue }), GgufMetadataEntry.Array("a.i32", new[] { -7, 8, 9 }),
        GgufMetadataEntry.Array("a.f32", new[] { 0.25f, float.NaN, -0f }), GgufMetadataEntry.Array("a.bool", new[] { true, false, true }),
        GgufMetadataEntry.Array("a.str", new[] { "a", "", "ß€😀", "<0x0A>" }),
        GgufMetadataEntry.Array("a.u64", new ulong[] { ulong.MaxValue }), GgufMetadataEntry.Array("a.i64", new long[] { long.MinValue, 0 }),
        GgufMetadataEntry.Array("a.f64", new[] { 1e300, -0.0 }),
        GgufMetadataEntry.Array("a.empty.str", Array.Empty<string>()), GgufMetadataEntry.Array("a.empty.f32", Array.Empty<float>()),
    ];

    [Fact]
    public void EveryValueType_RoundTrips()
    {
        using var dir = new TempDir();
        var p = dir.File("kv.gguf");
        var md = AllValueTypes();
        Assert.Equal(13, md.Select(e => e.Type).Distinct().Count());
        Assert.Equal(12, md.Where(e => e.ElementType is not null).Select(e => e.ElementType).Distinct().Count());
        var spec = new GgufTensorSpec("w", [32, 2], GgmlType.F32);
        using (var w = new GgufWriter(p, md, [spec]))
        {
            w.WriteTensor(0, new byte[spec.ByteSize]);
            w.Commit();
        }
        using var f = GgufFile.Open(p);
        Assert.Equal(md.Length, f.Metadata.Count);
        for (int i = 0; i < md.Length; i++) GgufAssert.Equal(md[i], f.Metadata[i]);
    }

    [Fact]
    public void DemoModel_RoundTrip_IsIdenticalAndByteIdenticalOnRewrite()
    {
        using var dir = new TempDir();
        using var src = GgufFile.Open(TestPaths.DemoModel);
        var a = dir.File("a.gguf");
        GgufAssert.Rewrite(src, a, new GgufWriterOptions { InputPaths = src.ShardPaths });
        using var fa = GgufFile.Open(a);
        GgufAssert.SameModel(src, fa);
        for (int i = 0; i < src.Tensors.Count; i++) Assert.Equal(src.Tensors[i].Offset, fa.Tensors[i].Offset);

        var b = dir.File("b.gguf");
        GgufAssert.Rewrite(fa, b);
        Assert.True(File.ReadAllBytes(a).AsSpan().SequenceEqual(File.ReadAllBytes(b)), "re-writing an IQuant file changed its bytes");
        // The demo file itself is laid out exactly as this writer lays it out.
        Assert.True(File.ReadAllBytes(TestPaths.DemoModel).AsSpan().SequenceEqual(File.ReadAllBytes(a)), "demo model bytes differ after a rewrite");
    }

    [Fact]
    public void IkQuantizedFile_RewritesByteIdentically()
    {
        var path = TestPaths.RequireShared("models", "iquant-demo-IQ4_KS-im.gguf");
        using var dir = new TempDir();
        using var src = GgufFile.Open(path);
        var a = dir.File("a.gguf");
        GgufAssert.Rewrite(src, a);
        Assert.True(File.ReadAllBytes(path).AsSpan().SequenceEqual(File.ReadAllBytes(a)));
    }

    [Fact]
    public void SplitSet_WritesAndReadsBackAsOneModel()
    {
        using var dir = new TempDir();
        using var src = GgufFile.Open(TestPaths.DemoModel);
        var target = dir.File("split.gguf");
        var shards = GgufAssert.Rewrite(src, target, new GgufWriterOptions { MaxShardTensors = 20 });
        Assert.Equal(3, shards.Count);
        Assert.Equal(dir.File("split-00001-of-00003.gguf"), shards[0]);
        Assert.Equal(dir.File("split-00003-of-00003.gguf"), shards[2]);
        Assert.False(File.Exists(target));

        using var f = GgufFile.Open(shards[0]);
        Assert.True(f.IsSplit);
        Assert.Equal(shards, f.ShardPaths);
        Assert.Equal(shards.Sum(s => new FileInfo(s).Length), f.FileSize);
        GgufAssert.SameModel(src, f, compareMetadata: false);
        Assert.Equal(new[] { 0, 20, 40 }, f.Shards.Select(s => s.FirstTensor));
        Assert.Equal(new[] { 20, 20, 17 }, f.Shards.Select(s => s.TensorCount));
        Assert.Equal(2, f.Tensors[45].ShardIndex);
        Assert.Equal(shards[2], f.Tensors[45].ShardPath);
        Assert.Equal(0ul, f.Tensors[40].Offset);
        // shard 0: all KVs then the split keys; others: only the split keys (gguf-split).
        Assert.Equal(src.Metadata.Count + 3, f.Metadata.Count);
        for (int i = 0; i < src.Metadata.Count; i++) GgufAssert.Equal(src.Metadata[i], f.Metadata[i]);
        Assert.Equal(new[] { "split.no", "split.count", "split.tensors.count" }, f.Metadata.Skip(src.Metadata.Count).Select(e => e.Key));
        Assert.Equal(GgufValueType.UInt16, f.FindMetadata("split.count")!.Type);
        Assert.Equal(GgufValueType.Int32, f.FindMetadata("split.tensors.count")!.Type);
        Assert.Equal(57, f.GetInt32("split.tensors.count"));
        Assert.Equal(3, f.Shards[1].Metadata.Count);
        Assert.Equal((ushort)1, f.Shards[1].Metadata[0].Value);

        // Re-writing with the same shard assignment reproduces the files byte for byte.
        using var dir2 = new TempDir();
        var again = GgufAssert.Rewrite(f, dir2.File("split.gguf"), keepShards: true);
        for (int k = 0; k < 3; k++)
            Assert.True(File.ReadAllBytes(shards[k]).AsSpan().SequenceEqual(File.ReadAllBytes(again[k])), $"shard {k} differs");

        // Merging back into one file drops the split keys and gives the original bytes.
        var merged = dir2.File("merged.gguf");
        GgufAssert.Rewrite(f, merged);
        Assert.True(File.ReadAllBytes(TestPaths.DemoModel).AsSpan().SequenceEqual(File.ReadAllBytes(merged)));
    }

    [Fact]
    public void ExplicitShards_AllowAnEmptyFirstShard()
    {
        using var dir = new TempDir();
        var specs = new[]
        {
            new GgufTensorSpec("a", [32], GgmlType.F32) { Shard = 1 }, new GgufTensorSpec("b", [32], GgmlType.F32) { Shard = 1 },
            new GgufTensorSpec("c", [32], GgmlType.F32) { Shard = 2 },
        };
        string[] paths;
        using (var w = new GgufWriter(dir.File("e.gguf"), [GgufMetadataEntry.String("general.architecture", "x")], specs))
        {
            for (int i = 0; i < 3; i++) w.WriteTensor(i, new byte[128]);
            w.Commit();
            paths = w.ShardPaths.ToArray();
        }
        Assert.Equal(3, paths.Length);
        using var f = GgufFile.Open(paths[0]);
        Assert.Equal(new[] { 0, 2, 1 }, f.Shards.Select(s => s.TensorCount));
        Assert.Equal(new[] { "a", "b", "c" }, f.Tensors.Select(t => t.Name));
        Assert.Equal(new[] { 1, 1, 2 }, f.Tensors.Select(t => t.ShardIndex));
        Assert.Equal("x", f.GetString("general.architecture"));
        Assert.Throws<GgufWriteException>(() => new GgufWriter(dir.File("z.gguf"), [], [specs[2], specs[0]]));  // decreasing
        Assert.Throws<GgufWriteException>(() => new GgufWriter(dir.File("z.gguf"), [], [specs[0], new GgufTensorSpec("d", [32], GgmlType.F32)]));
    }

    [Fact]
    public void SplitBySize_FollowsGgufSplitRule()
    {
        using var dir = new TempDir();
        using var src = GgufFile.Open(TestPaths.DemoModel);
        const long max = 3_000_000;
        var shards = GgufAssert.Rewrite(src, dir.File("s.gguf"), new GgufWriterOptions { MaxShardBytes = max });
        Assert.True(shards.Count > 1);
        using var f = GgufFile.Open(shards[0]);
        GgufAssert.SameModel(src, f, compareMetadata: false);
        foreach (var s in f.Shards)
        {
            long data = f.Tensors.Skip(s.FirstTensor).Take(s.TensorCount).Sum(t => (t.ByteSize + 31) / 32 * 32);
            Assert.True(data <= max || s.TensorCount == 1);
        }
    }

    [Fact]
    public void OpeningALaterShard_NamesTheFirst()
    {
        using var dir = new TempDir();
        using var src = GgufFile.Open(TestPaths.DemoModel);
        var shards = GgufAssert.Rewrite(src, dir.File("m.gguf"), new GgufWriterOptions { MaxShardTensors = 30 });
        var ex = GgufAssert.Fails(shards[1], GgufErrorIds.SplitNotFirstShard);
        Assert.Contains("m-00001-of-00002.gguf", ex.Message);
        // Without split handling a shard reads as a file of its own.
        using var one = GgufFile.Open(shards[1], new GgufReadOptions { OpenSplitShards = false });
        Assert.Equal(27, one.Tensors.Count);
        File.Delete(shards[1]);
        GgufAssert.Fails(shards[0], GgufErrorIds.SplitMissingShard);
    }

    [Fact]
    public void SplitMismatches_AreRejected()
    {
        using var dir = new TempDir();
        using var src = GgufFile.Open(TestPaths.DemoModel);
        var shards = GgufAssert.Rewrite(src, dir.File("m.gguf"), new GgufWriterOptions { MaxShardTensors = 30 });
        // First shard renamed: others cannot be found by name.
        var renamed = dir.File("renamed.gguf");
        File.Copy(shards[0], renamed);
        GgufAssert.Fails(renamed, GgufErrorIds.SplitMismatch);

        // A second shard that claims another split.no.
        using var d2 = new TempDir();
        var bad = new[]
        {
            GgufMetadataEntry.UInt16("split.no", 0), GgufMetadataEntry.UInt16("split.count", 2), GgufMetadataEntry.Int32("split.tensors.count", 2),
        };
        var t0 = new GgufTensorSpec("a", [32], GgmlType.F32);
        var t1 = new GgufTensorSpec("b", [32], GgmlType.F32);
        WriteRawShard(d2.File("x-00001-of-00002.gguf"), bad, t0);
        WriteRawShard(d2.File("x-00002-of-00002.gguf"), bad, t1); // split.no 0 again
        GgufAssert.Fails(d2.File("x-00001-of-00002.gguf"), GgufErrorIds.SplitMismatch);

        // Tensor total differs from split.tensors.count.
        var wrongTotal = new[]
        {
            GgufMetadataEntry.UInt16("split.no", 1), GgufMetadataEntry.UInt16("split.count", 2), GgufMetadataEntry.Int32("split.tensors.count", 3),
        };
        File.Delete(d2.File("x-00002-of-00002.gguf"));
        WriteRawShard(d2.File("x-00002-of-00002.gguf"), wrongTotal, t1);
        GgufAssert.Fails(d2.File("x-00001-of-00002.gguf"), GgufErrorIds.SplitMismatch);

        // Duplicate tensor names across shards.
        var ok1 = new[]
        {
            GgufMetadataEntry.UInt16("split.no", 1), GgufMetadataEntry.UInt16("split.count", 2), GgufMetadataEntry.Int32("split.tensors.count", 2),
        };
        File.Delete(d2.File("x-00002-of-00002.gguf"));
        WriteRawShard(d2.File("x-00002-of-00002.gguf"), ok1, t0);
        GgufAssert.Fails(d2.File("x-00001-of-00002.gguf"), GgufErrorIds.DuplicateTensorName);
    }

    /// <summary>Writes one file with exactly the given KVs (split keys included) by building its header by hand.</summary>
    private static void WriteRawShard(string path, GgufMetadataEntry[] kvs, GgufTensorSpec t)
    {
        var r = new RawGguf().Header(1, (ulong)kvs.Length);
        foreach (var e in kvs)
        {
            r.Str(e.Key).U32((uint)e.Type);
            if (e.Value is ushort us) r.U16(us); else r.I32((int)e.Value);
        }
        r.TensorInfo(t.Name, t.Shape.Select(x => (ulong)x).ToArray(), (int)t.Type, 0).Pad().Zeros((int)t.ByteSize);
        File.WriteAllBytes(path, r.ToArray());
    }

    [Fact]
    public void Commit_IsAtomic_AndLeavesNoTempFiles()
    {
        using var dir = new TempDir();
        var target = dir.File("out.gguf");
        var specs = new[] { new GgufTensorSpec("a", [64, 4], GgmlType.F16), new GgufTensorSpec("b", [256, 2], GgmlType.IQ4_KS) };
        using (var w = new GgufWriter(target, [GgufMetadataEntry.String("general.architecture", "x")], specs))
        {
            Assert.False(File.Exists(target));
            var temps = Directory.GetFiles(dir.Path, ".out.gguf.*.tmp");
            Assert.Single(temps);
            w.WriteTensor(0, new byte[specs[0].ByteSize]);
            Assert.False(File.Exists(target));
            w.WriteTensor(1, new byte[specs[1].ByteSize]);
            Assert.False(File.Exists(target));
            w.Commit();
            Assert.True(File.Exists(target));
            Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
        }
        Assert.Equal(new[] { target }, Directory.GetFileSystemEntries(dir.Path));
        using var f = GgufFile.Open(target);
        Assert.Equal(2, f.Tensors.Count);
        Assert.Equal(f.FileSize, (f.Tensors[1].FileOffset + f.Tensors[1].ByteSize + 31) / 32 * 32);
    }

    [Fact]
    public void DisposeWithoutCommit_DeletesTempAndLeavesNoTarget()
    {
        using var dir = new TempDir();
        var target = dir.File("out.gguf");
        var spec = new GgufTensorSpec("a", [32], GgmlType.F32);
        using (var w = new GgufWriter(target, [], [spec]))
            w.WriteTensorChunk(0, new byte[10]);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));

        // Split output: every shard's temp goes.
        using (var w = new GgufWriter(target, [], [spec, new GgufTensorSpec("b", [32], GgmlType.F32)], new GgufWriterOptions { MaxShardTensors = 1 }))
        {
            Assert.Equal(2, Directory.GetFiles(dir.Path, "*.tmp").Length);
        }
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public void IncompleteOrWrongSizedData_IsRefused()
    {
        using var dir = new TempDir();
        var target = dir.File("out.gguf");
        var spec = new GgufTensorSpec("a", [256, 2], GgmlType.IQ2_KS); // 144 bytes
        using (var w = new GgufWriter(target, [], [spec]))
        {
            Assert.Equal(144, spec.ByteSize);
            var ex = Assert.Throws<GgufWriteException>(() => w.WriteTensor(0, new byte[140]));
            Assert.Equal(GgufErrorIds.WriteSizeMismatch, ex.ErrorId);
            w.WriteTensorChunk(0, new byte[100]);
            Assert.Equal(44, w.RemainingBytes(0));
            Assert.Equal(GgufErrorIds.WriteSizeMismatch, Assert.Throws<GgufWriteException>(() => w.WriteTensorChunk(0, new byte[45])).ErrorId);
            Assert.Equal(GgufErrorIds.WriteIncomplete, Assert.Throws<GgufWriteException>(() => w.Commit()).ErrorId);
            Assert.False(File.Exists(target));
        }
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
        Assert.Throws<ArgumentException>(() => new GgufTensorSpec("x", [100], GgmlType.Q4_0));
        Assert.Throws<ArgumentException>(() => new GgufTensorSpec("x", [32, 0], GgmlType.F32));
        Assert.Throws<ArgumentException>(() => new GgufTensorSpec("x", [1, 1, 1, 1, 1], GgmlType.F32));
        var dup = Assert.Throws<GgufWriteException>(() => new GgufWriter(target, [], [spec, spec]));
        Assert.Equal(GgufErrorIds.WriteInvalidTensor, dup.ErrorId);
        var longName = Assert.Throws<GgufWriteException>(() => new GgufWriter(target, [], [new GgufTensorSpec(new string('x', 64), [32], GgmlType.F32)]));
        Assert.Equal(GgufErrorIds.WriteInvalidTensor, longName.ErrorId);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public void ChunksStreamsAndParallelTensors_ProduceTheSameFile()
    {
        using var dir = new TempDir();
        var specs = Enumerable.Range(0, 16).Select(i => new GgufTensorSpec("t" + i, [256, 3 + i], GgmlType.IQ4_KS)).ToArray();
        var data = specs.Select((s, i) => { var b = new byte[s.ByteSize]; new Random(i).NextBytes(b); return b; }).ToArray();
        var md = new[] { GgufMetadataEntry.UInt32("general.file_type", 145) };
        var a = dir.File("a.gguf");
        using (var w = new GgufWriter(a, md, specs))
        {
            for (int i = 0; i < specs.Length; i++) w.WriteTensor(i, data[i]);
            w.Commit();
        }
        var b = dir.File("b.gguf");
        using (var w = new GgufWriter(b, md, specs))
        {
            Parallel.For(0, specs.Length, i =>
            {
                int j = specs.Length - 1 - i; // reverse order, several threads
                if (j % 2 == 0)
                {
                    using var s = w.OpenTensor(j);
                    for (int o = 0; o < data[j].Length; o += 97) s.Write(data[j], o, Math.Min(97, data[j].Length - o));
                }
                else
                {
                    w.WriteTensorChunk(j, data[j].AsSpan(0, 7));
                    w.WriteTensorChunk(j, data[j].AsSpan(7));
                }
            });
            w.Commit();
        }
        Assert.True(File.ReadAllBytes(a).AsSpan().SequenceEqual(File.ReadAllBytes(b)));
        using var f = GgufFile.Open(b);
        for (int i = 0; i < specs.Length; i++) Assert.True(f.GetTensorBytes(f.Tensors[i]).SequenceEqual(data[i]));
    }

    [Fact]
    public void Alignment_IsAlways32()
    {
        using var dir = new TempDir();
        var p = dir.File("a.gguf");
        var spec = new GgufTensorSpec("a", [8], GgmlType.F32);
        using (var w = new GgufWriter(p, [GgufMetadataEntry.UInt32("general.alignment", 64), GgufMetadataEntry.UInt32("x", 1)],
                   [spec, new GgufTensorSpec("b", [8], GgmlType.F32)]))
        {
            Assert.Equal(32u, w.GetShardMetadata(0)[0].Value);
            w.WriteTensor(0, new byte[32]);
            w.WriteTensor(1, new byte[32]);
            w.Commit();
        }
        using var f = GgufFile.Open(p);
        Assert.Equal(32, f.Alignment);
        Assert.Equal("general.alignment", f.Metadata[0].Key);
        Assert.Equal(32u, f.GetUInt32("general.alignment"));
        Assert.Equal(32ul, f.Tensors[1].Offset);
    }

    [Fact]
    public void RefusesToOverwriteInputs_AlsoThroughSymlinks()
    {
        using var dir = new TempDir();
        var input = dir.File("in.gguf");
        File.Copy(TestPaths.DemoModel, input);
        using var src = GgufFile.Open(input);
        var opts = new GgufWriterOptions { InputPaths = src.ShardPaths, Overwrite = true };
        var specs = src.Tensors.Select(t => GgufTensorSpec.From(t)).ToArray();

        var e1 = Assert.Throws<GgufWriteException>(() => new GgufWriter(input, src.Metadata, specs, opts));
        Assert.Equal(GgufErrorIds.WriteTargetIsInput, e1.ErrorId);
        var e2 = Assert.Throws<GgufWriteException>(() => new GgufWriter(Path.Combine(dir.Path, ".", "sub", "..", "in.gguf"), src.Metadata, specs, opts));
        Assert.Equal(GgufErrorIds.WriteTargetIsInput, e2.ErrorId);

        if (!OperatingSystem.IsWindows())
        {
            var link = dir.File("link.gguf");
            File.CreateSymbolicLink(link, input);
            var e3 = Assert.Throws<GgufWriteException>(() => new GgufWriter(link, src.Metadata, specs, opts));
            Assert.Equal(GgufErrorIds.WriteTargetIsInput, e3.ErrorId);
            var linkDir = dir.File("d");
            Directory.CreateSymbolicLink(linkDir, dir.Path);
            var e4 = Assert.Throws<GgufWriteException>(() => new GgufWriter(Path.Combine(linkDir, "in.gguf"), src.Metadata, specs, opts));
            Assert.Equal(GgufErrorIds.WriteTargetIsInput, e4.ErrorId);
            // Input given through the link, target through the real path.
            var e5 = Assert.Throws<GgufWriteException>(() => new GgufWriter(input, src.Metadata, specs, opts with { InputPaths = [link] }));
            Assert.Equal(GgufErrorIds.WriteTargetIsInput, e5.ErrorId);
        }
        Assert.True(File.ReadAllBytes(input).AsSpan().SequenceEqual(File.ReadAllBytes(TestPaths.DemoModel)));
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
    }

    [Fact]
    public void ExistingTarget_NeedsOverwrite()
    {
        using var dir = new TempDir();
        var target = dir.File("out.gguf");
        File.WriteAllText(target, "old");
        var ex = Assert.Throws<GgufWriteException>(() => new GgufWriter(target, [], []));
        Assert.Equal(GgufErrorIds.WriteTargetExists, ex.ErrorId);
        Assert.Equal("old", File.ReadAllText(target));
        using (var w = new GgufWriter(target, [GgufMetadataEntry.String("k", "v")], [], overwrite: true))
        {
            Assert.Equal("old", File.ReadAllText(target)); // untouched until Commit
            w.Commit();
        }
        using var f = GgufFile.Open(target);
        Assert.Equal("v", f.GetString("k"));
        Assert.Throws<GgufWriteException>(() => new GgufWriter(dir.Path, [], []));
        Assert.Throws<GgufWriteException>(() => new GgufWriter(dir.File("no/such/dir/x.gguf"), [], []));
    }

    [Fact]
    public void WriterLayout_MatchesReader()
    {
        using var dir = new TempDir();
        var p = dir.File("l.gguf");
        var specs = new[] { new GgufTensorSpec("blk.3.x", [256, 3], GgmlType.IQ3_KS), new GgufTensorSpec("y", [7], GgmlType.F16) };
        using var w = new GgufWriter(p, [], specs);
        w.WriteTensor(0, new byte[specs[0].ByteSize]);
        w.WriteTensor(1, new byte[specs[1].ByteSize]);
        var layout = w.Tensors.ToArray();
        w.Commit();
        using var f = GgufFile.Open(p);
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(layout[i].Offset, f.Tensors[i].Offset);
            Assert.Equal(layout[i].FileOffset, f.Tensors[i].FileOffset);
            Assert.Equal(layout[i].ByteSize, f.Tensors[i].ByteSize);
        }
        Assert.Equal(3, f.Tensors[0].Layer);
        Assert.Equal(w.TotalBytes, f.FileSize);
    }
}
