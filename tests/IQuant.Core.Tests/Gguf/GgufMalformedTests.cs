using System.Diagnostics;
using IQuant.Core.Gguf;
using IQuant.Core.Types;

namespace IQuant.Core.Tests.Gguf;

/// <summary>A malformed-file corpus generated here. Each file must fail with the right ErrorId, within 1 s and without
/// allocating more than 1 MB + the file size (checked by <see cref="GgufAssert.Fails(string, string, GgufReadOptions?)"/>).</summary>
public class GgufMalformedTests
{
    private const int F32 = 0, F16 = 1, Q4_0 = 2;

    /// <summary>A small valid file: 3 KVs (string, string array, u32), tensors a (F32 [32,2]) and b (F16 [64]).</summary>
    private static byte[] Small(out long infoEnd, uint version = 3)
    {
        var r = new RawGguf().Header(2, 3, version)
            .KvString("general.architecture", "llama")
            .Str("arr").U32(9).U32(8).U64(2).Str("a").Str("bc")
            .KvU32("general.file_type", 1)
            .TensorInfo("a", [32, 2], F32, 0)
            .TensorInfo("b", [64], F16, 256);
        infoEnd = r.Position;
        return r.Pad().Zeros(256 + 128).ToArray();
    }

    /// <summary>Header with no KVs and the given tensor infos, padded, plus <paramref name="data"/> zero bytes.</summary>
    private static byte[] Tensors(int data, params (string Name, ulong[] Ne, int Type, ulong Offset)[] infos)
    {
        var r = new RawGguf().Header((ulong)infos.Length, 0);
        foreach (var t in infos) r.TensorInfo(t.Name, t.Ne, t.Type, t.Offset);
        return r.Pad().Zeros(data).ToArray();
    }

    [Fact]
    public void SmallFile_IsValid()
    {
        using var dir = new TempDir();
        var p = dir.Write("ok.gguf", Small(out _));
        using var f = GgufFile.Open(p);
        Assert.Equal(2, f.Tensors.Count);
        Assert.Equal(new[] { "a", "bc" }, f.GetArray<string>("arr"));
        var p2 = dir.Write("v2.gguf", Small(out _, version: 2));
        using var f2 = GgufFile.Open(p2);
        Assert.Equal(2u, f2.Version);
    }

    [Fact]
    public void WrongMagic()
    {
        using var dir = new TempDir();
        var bytes = Small(out _);
        bytes[3] = (byte)'X';
        var ex = GgufAssert.Fails(dir, bytes, GgufErrorIds.BadMagic);
        Assert.Equal(0, ex.Offset);
        Assert.Contains("GGUX", ex.Message);
        GgufAssert.Fails(dir, "hello, this is a text file\n"u8.ToArray(), GgufErrorIds.BadMagic);
        GgufAssert.Fails(dir, "GGU"u8.ToArray(), GgufErrorIds.Truncated);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(1u)]
    [InlineData(4u)]
    [InlineData(99u)]
    [InlineData(0xFFFFFFFFu)]
    public void UnsupportedVersion(uint version)
    {
        using var dir = new TempDir();
        var ex = GgufAssert.Fails(dir, Small(out _, version), GgufErrorIds.UnsupportedVersion);
        Assert.Equal(4, ex.Offset);
        Assert.Contains(version.ToString(), ex.Message);
    }

    [Fact]
    public void EmptyFile()
    {
        using var dir = new TempDir();
        GgufAssert.Fails(dir, [], GgufErrorIds.EmptyFile);
    }

    [Fact]
    public void Directory_IsNotAFile()
    {
        using var dir = new TempDir();
        var sub = dir.File("model.gguf");
        Directory.CreateDirectory(sub);
        GgufAssert.Fails(sub, GgufErrorIds.NotAFile);
    }

    [Fact]
    public void MissingFile()
    {
        using var dir = new TempDir();
        GgufAssert.Fails(dir.File("nope.gguf"), GgufErrorIds.FileNotFound);
        GgufAssert.Fails(dir.File("no/such/dir.gguf"), GgufErrorIds.FileNotFound);
    }

    [Fact]
    public void UnreadableFile_IsAccessDenied()
    {
        if (OperatingSystem.IsWindows()) Assert.Skip("uses Unix permissions");
        using var dir = new TempDir();
        var p = dir.Write("locked.gguf", Small(out _));
        File.SetUnixFileMode(p, UnixFileMode.None);
        try
        {
            using (File.OpenRead(p)) { }
            Assert.Skip("running with privileges that ignore file permissions (root)");
        }
        catch (UnauthorizedAccessException) { }
        GgufAssert.Fails(p, GgufErrorIds.AccessDenied);
    }

    [Fact]
    public void TruncatedAtEveryByte()
    {
        using var dir = new TempDir();
        var full = Small(out long infoEnd);
        var p = dir.File("cut.gguf");
        for (int cut = 0; cut < full.Length; cut++)
        {
            File.WriteAllBytes(p, full.AsSpan(0, cut).ToArray());
            string expected = cut == 0 ? GgufErrorIds.EmptyFile : cut < infoEnd ? GgufErrorIds.Truncated : GgufErrorIds.TensorOutOfBounds;
            var ex = GgufAssert.Fails(p, expected);
            if (cut > 0) Assert.NotNull(ex.Offset);
        }
    }

    [Fact]
    public void TruncatedInEverySection_OfTheDemoModel()
    {
        using var dir = new TempDir();
        var full = File.ReadAllBytes(TestPaths.DemoModel);
        long infoEnd, firstInfo, tokensAt, lastEnd;
        using (var f = GgufFile.Open(TestPaths.DemoModel))
        {
            var last = f.Tensors.MaxBy(t => t.FileOffset)!;
            lastEnd = last.FileOffset + last.ByteSize;
            firstInfo = IndexOf(full, "token_embd.weight"u8) - 8;
            var lt = f.Tensors[^1];
            var name = System.Text.Encoding.UTF8.GetBytes(lt.Name);
            var needle = BitConverter.GetBytes((ulong)name.Length).Concat(name).ToArray(); // length-prefixed: not a substring match
            long lastInfo = firstInfo + full.AsSpan((int)firstInfo).IndexOf(needle);
            infoEnd = lastInfo + 8 + name.Length + 4 + 8 * lt.Dimensions + 4 + 8; // end of the last tensor-info record
            tokensAt = IndexOf(full, "tokenizer.ggml.tokens"u8);
        }
        var cuts = new (long Cut, string Id)[]
        {
            (2, GgufErrorIds.Truncated), (6, GgufErrorIds.Truncated), (12, GgufErrorIds.Truncated), (20, GgufErrorIds.Truncated),
            (24, GgufErrorIds.Truncated), (30, GgufErrorIds.Truncated),                    // first KV
            (tokensAt + 10, GgufErrorIds.Truncated), (tokensAt + 5000, GgufErrorIds.Truncated), // inside the token array
            (firstInfo, GgufErrorIds.Truncated), (firstInfo + 12, GgufErrorIds.Truncated),   // tensor infos
            (infoEnd - 1, GgufErrorIds.Truncated),
            (infoEnd, GgufErrorIds.TensorOutOfBounds),                                        // header complete, no data
            (infoEnd + 1, GgufErrorIds.TensorOutOfBounds),
            (full.Length / 2, GgufErrorIds.TensorOutOfBounds), (lastEnd - 1, GgufErrorIds.TensorOutOfBounds),
        };
        var p = dir.File("cut.gguf");
        foreach (var (cut, id) in cuts)
        {
            File.WriteAllBytes(p, full.AsSpan(0, (int)cut).ToArray());
            GgufAssert.Fails(p, id);
        }
        File.WriteAllBytes(p, full.AsSpan(0, (int)lastEnd).ToArray()); // trailing padding is optional
        using (GgufFile.Open(p)) { }
    }

    private static long IndexOf(byte[] hay, ReadOnlySpan<byte> needle) => hay.AsSpan().IndexOf(needle);

    [Fact]
    public void StringLengths()
    {
        using var dir = new TempDir();
        // Key length absurd / beyond every limit.
        var ex = GgufAssert.Fails(dir, new RawGguf().Header(0, 1).U64(1UL << 40).Zeros(64).ToArray(), GgufErrorIds.StringTooLong);
        Assert.Equal(24, ex.Offset);
        Assert.Contains((1UL << 40).ToString(), ex.Message);
        GgufAssert.Fails(dir, new RawGguf().Header(0, 1).U64(ulong.MaxValue).Zeros(64).ToArray(), GgufErrorIds.StringTooLong);
        // Value string longer than the rest of the file (but within the limit): the file is truncated.
        GgufAssert.Fails(dir, new RawGguf().Header(0, 1).Str("k").U32(8).U64(1000).Zeros(64).ToArray(), GgufErrorIds.Truncated);
        // A configured limit.
        GgufAssert.Fails(dir, Small(out _), GgufErrorIds.StringTooLong, new GgufReadOptions { MaxStringLength = 4 });
        // Tensor name.
        GgufAssert.Fails(dir, new RawGguf().Header(1, 0).U64(1UL << 50).Zeros(64).ToArray(), GgufErrorIds.StringTooLong);
        // String inside an array.
        GgufAssert.Fails(dir, new RawGguf().Header(0, 1).Str("k").U32(9).U32(8).U64(2).Str("x").U64(1UL << 60).Zeros(8).ToArray(),
            GgufErrorIds.StringTooLong);
    }

    [Fact]
    public void ArrayLengths()
    {
        using var dir = new TempDir();
        var ex = GgufAssert.Fails(dir, new RawGguf().Header(0, 1).Str("k").U32(9).U32(4).U64(1UL << 40).Zeros(64).ToArray(), GgufErrorIds.ArrayTooLong);
        Assert.Equal(24 + 9 + 4 + 4, ex.Offset);
        GgufAssert.Fails(dir, new RawGguf().Header(0, 1).Str("k").U32(9).U32(12).U64(ulong.MaxValue).Zeros(64).ToArray(), GgufErrorIds.ArrayTooLong);
        GgufAssert.Fails(dir, new RawGguf().Header(0, 1).Str("k").U32(9).U32(8).U64(1UL << 62).Zeros(64).ToArray(), GgufErrorIds.ArrayTooLong);
        // Within the limit but beyond the file: rejected before allocating.
        GgufAssert.Fails(dir, new RawGguf().Header(0, 1).Str("k").U32(9).U32(4).U64(1000).Zeros(64).ToArray(), GgufErrorIds.Truncated);
        GgufAssert.Fails(dir, new RawGguf().Header(0, 1).Str("k").U32(9).U32(8).U64(10_000_000).Zeros(64).ToArray(), GgufErrorIds.Truncated);
        GgufAssert.Fails(dir, Small(out _), GgufErrorIds.ArrayTooLong, new GgufReadOptions { MaxArrayCount = 1 });
    }

    [Fact]
    public void CountsOfKeysAndTensors()
    {
        using var dir = new TempDir();
        var ex = GgufAssert.Fails(dir, new RawGguf().Header(1UL << 62, 0).Zeros(64).ToArray(), GgufErrorIds.TooManyTensors);
        Assert.Equal(8, ex.Offset);
        GgufAssert.Fails(dir, new RawGguf().Header(ulong.MaxValue, 0).Zeros(64).ToArray(), GgufErrorIds.TooManyTensors);
        ex = GgufAssert.Fails(dir, new RawGguf().Header(0, ulong.MaxValue).Zeros(64).ToArray(), GgufErrorIds.TooManyKeys);
        Assert.Equal(16, ex.Offset);
        GgufAssert.Fails(dir, new RawGguf().Header(0, 1UL << 40).Zeros(64).ToArray(), GgufErrorIds.TooManyKeys);
        // Plausible counts that the file is too short for.
        GgufAssert.Fails(dir, new RawGguf().Header(0, 1000).Zeros(64).ToArray(), GgufErrorIds.Truncated);
        GgufAssert.Fails(dir, new RawGguf().Header(500_000, 0).Zeros(64).ToArray(), GgufErrorIds.Truncated);
        // Configured limits.
        GgufAssert.Fails(dir, Small(out _), GgufErrorIds.TooManyKeys, new GgufReadOptions { MaxKeys = 2 });
        GgufAssert.Fails(dir, Small(out _), GgufErrorIds.TooManyTensors, new GgufReadOptions { MaxTensors = 1 });
    }

    [Theory]
    [InlineData(13u)]
    [InlineData(100u)]
    [InlineData(0xFFFFFFFFu)]
    public void UnknownValueType(uint type)
    {
        using var dir = new TempDir();
        var ex = GgufAssert.Fails(dir, new RawGguf().Header(0, 1).Str("key").U32(type).Zeros(64).ToArray(), GgufErrorIds.UnknownValueType);
        Assert.Equal(24 + 8 + 3, ex.Offset);
        Assert.Contains("'key'", ex.Message);
        GgufAssert.Fails(dir, new RawGguf().Header(0, 1).Str("key").U32(9).U32(type).U64(1).Zeros(64).ToArray(), GgufErrorIds.UnknownValueType);
    }

    [Fact]
    public void NestedArray()
    {
        using var dir = new TempDir();
        GgufAssert.Fails(dir, new RawGguf().Header(0, 1).Str("k").U32(9).U32(9).U64(1).U32(4).U64(1).U32(5).ToArray(), GgufErrorIds.NestedArray);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(34)]
    [InlineData(35)]
    [InlineData(142)]
    [InlineData(1000)]
    [InlineData(-1)]
    public void UnknownTensorType(int type)
    {
        using var dir = new TempDir();
        var bytes = Tensors(128, ("t", [32], type, 0));
        var ex = GgufAssert.Fails(dir, bytes, GgufErrorIds.UnknownTensorType);
        Assert.Contains($"type id {type}", ex.Message);

        // Tolerated on request: the type is unknown, its size and bytes too.
        var p = dir.Write("tolerated.gguf", bytes);
        using var f = GgufFile.Open(p, new GgufReadOptions { AllowUnknownTensorTypes = true });
        var t = f.Tensors[0];
        Assert.Null(t.TypeInfo);
        Assert.Equal(type, t.TypeId);
        Assert.Equal(0, t.ByteSize);
        Assert.Throws<NotSupportedException>(() => f.GetTensorBytes(t).Length);
    }

    [Fact]
    public void Dimensions()
    {
        using var dir = new TempDir();
        GgufAssert.Fails(dir, new RawGguf().Header(1, 0).Str("t").U32(5).Zeros(80).ToArray(), GgufErrorIds.TooManyDimensions);
        GgufAssert.Fails(dir, new RawGguf().Header(1, 0).Str("t").U32(0xFFFFFFFF).Zeros(80).ToArray(), GgufErrorIds.TooManyDimensions);
        GgufAssert.Fails(dir, new RawGguf().Header(1, 0).Str("t").U32(0).I32(0).U64(0).Zeros(80).ToArray(), GgufErrorIds.BadDimension);
        GgufAssert.Fails(dir, Tensors(64, ("t", [32, 0], F32, 0)), GgufErrorIds.BadDimension);
        GgufAssert.Fails(dir, Tensors(64, ("t", [1UL << 63], F32, 0)), GgufErrorIds.BadDimension);
        var ex = GgufAssert.Fails(dir, Tensors(64, ("t", [1UL << 32, 1UL << 32], F32, 0)), GgufErrorIds.ElementCountOverflow);
        Assert.Contains("[4294967296, 4294967296]", ex.Message);
        GgufAssert.Fails(dir, Tensors(64, ("t", [1UL << 62, 2, 1], F32, 0)), GgufErrorIds.ElementCountOverflow);
        GgufAssert.Fails(dir, Tensors(64, ("t", [1UL << 40, 1UL << 20, 1UL << 10, 1UL << 10], F32, 0)), GgufErrorIds.ElementCountOverflow);
        // Element count fits but the byte size does not.
        GgufAssert.Fails(dir, Tensors(64, ("t", [1UL << 61], F32, 0)), GgufErrorIds.ElementCountOverflow);
    }

    [Fact]
    public void BlockSizeMismatch()
    {
        using var dir = new TempDir();
        var ex = GgufAssert.Fails(dir, Tensors(64, ("t", [48], Q4_0, 0)), GgufErrorIds.BlockSizeMismatch);
        Assert.Contains("48", ex.Message);
        GgufAssert.Fails(dir, Tensors(4096, ("t", [128, 2], (int)GgmlType.IQ4_KS, 0)), GgufErrorIds.BlockSizeMismatch);
    }

    [Fact]
    public void Offsets()
    {
        using var dir = new TempDir();
        GgufAssert.Fails(dir, Tensors(128, ("t", [32], F32, 1024)), GgufErrorIds.TensorOutOfBounds);
        GgufAssert.Fails(dir, Tensors(128, ("t", [64], F32, 0)), GgufErrorIds.TensorOutOfBounds);        // 256 bytes, 128 present
        GgufAssert.Fails(dir, Tensors(128, ("t", [32], F32, ulong.MaxValue - 31)), GgufErrorIds.TensorOutOfBounds);
        GgufAssert.Fails(dir, Tensors(128, ("t", [32], F32, 1UL << 63)), GgufErrorIds.TensorOutOfBounds);
        var ex = GgufAssert.Fails(dir, Tensors(256, ("t", [32], F32, 16)), GgufErrorIds.MisalignedTensor);
        Assert.Contains("16", ex.Message);
        Assert.Equal(24, ex.Offset); // the tensor-info record
    }

    [Fact]
    public void Overlaps()
    {
        using var dir = new TempDir();
        GgufAssert.Fails(dir, Tensors(256, ("a", [32], F32, 0), ("b", [32], F32, 0)), GgufErrorIds.OverlappingTensors);
        GgufAssert.Fails(dir, Tensors(512, ("a", [64], F32, 0), ("b", [32], F32, 224)), GgufErrorIds.OverlappingTensors);
        // Out of order in the file.
        GgufAssert.Fails(dir, Tensors(512, ("a", [32], F32, 256), ("b", [96], F32, 0), ("c", [8], F32, 416)), GgufErrorIds.OverlappingTensors);
        // Out of order but disjoint is fine; so is a tensor inside a gap.
        var p = dir.Write("ok.gguf", Tensors(512, ("a", [32], F32, 256), ("b", [32], F32, 0), ("c", [8], F32, 128)));
        using var f = GgufFile.Open(p);
        Assert.Equal(3, f.Tensors.Count);
    }

    [Fact]
    public void DuplicateNames()
    {
        using var dir = new TempDir();
        var ex = GgufAssert.Fails(dir, Tensors(256, ("w", [32], F32, 0), ("w", [32], F32, 128)), GgufErrorIds.DuplicateTensorName);
        Assert.Contains("'w'", ex.Message);
    }

    [Fact]
    public void Alignment()
    {
        using var dir = new TempDir();
        GgufAssert.Fails(dir, new RawGguf().Header(0, 1).Str("general.alignment").U32(10).U64(32).ToArray(), GgufErrorIds.BadAlignment);
        GgufAssert.Fails(dir, new RawGguf().Header(0, 1).Str("general.alignment").U32(5).I32(32).ToArray(), GgufErrorIds.BadAlignment);
        GgufAssert.Fails(dir, new RawGguf().Header(0, 1).KvU32("general.alignment", 0).ToArray(), GgufErrorIds.BadAlignmentValue);
        var ex = GgufAssert.Fails(dir, new RawGguf().Header(0, 1).KvU32("general.alignment", 48).ToArray(), GgufErrorIds.BadAlignmentValue);
        Assert.Contains("48", ex.Message);
        GgufAssert.Fails(dir, new RawGguf().Header(0, 1).KvU32("general.alignment", 0x80000000).ToArray(), GgufErrorIds.BadAlignmentValue);

        // A valid non-default alignment is honored: data starts on a 64-byte boundary, offsets are multiples of 64.
        var r = new RawGguf().Header(2, 1).KvU32("general.alignment", 64).TensorInfo("a", [8], F32, 0).TensorInfo("b", [8], F32, 64);
        var bytes = r.Pad(64).Zeros(128).ToArray();
        var p = dir.Write("a64.gguf", bytes);
        using (var f = GgufFile.Open(p))
        {
            Assert.Equal(64, f.Alignment);
            Assert.Equal(0, f.DataOffset % 64);
            Assert.Equal(f.DataOffset + 64, f.Tensors[1].FileOffset);
        }
        var r2 = new RawGguf().Header(2, 1).KvU32("general.alignment", 64).TensorInfo("a", [8], F32, 0).TensorInfo("b", [8], F32, 32);
        GgufAssert.Fails(dir, r2.Pad(64).Zeros(128).ToArray(), GgufErrorIds.MisalignedTensor);
    }

    [Fact]
    public void ZeroTensorFile_WithoutPadding_IsValid()
    {
        using var dir = new TempDir();
        var p = dir.Write("vocab.gguf", new RawGguf().Header(0, 1).KvString("tokenizer.ggml.model", "gpt2").ToArray());
        using var f = GgufFile.Open(p);
        Assert.Empty(f.Tensors);
        Assert.Equal("gpt2", f.GetString("tokenizer.ggml.model"));
    }

    [Fact]
    public void HostileButValidHeader_StaysBoundedAndFast()
    {
        // 1,000,000 empty strings in one array (8 MB) and 100,000 one-byte KVs: parses, memory ~ file size, well under 1 s.
        using var dir = new TempDir();
        var r = new RawGguf().Header(0, 100_001).Str("a").U32(9).U32(8).U64(1_000_000);
        for (int i = 0; i < 1_000_000; i++) r.U64(0);
        for (int i = 0; i < 100_000; i++) r.U64(0).U32(0).U8(1);
        var p = dir.Write("hostile.gguf", r.ToArray());
        long size = new FileInfo(p).Length;
        var best = TimeSpan.MaxValue;
        long allocated = long.MaxValue;
        for (int attempt = 0; attempt < 3 && best >= TimeSpan.FromSeconds(1); attempt++) // best of 3: the machine is shared
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            var sw = Stopwatch.StartNew();
            using (var f = GgufFile.Open(p))
            {
                sw.Stop();
                Assert.Equal(100_001, f.Metadata.Count);
                Assert.Equal(1_000_000, f.Metadata[0].Count);
            }
            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
            if (sw.Elapsed < best) best = sw.Elapsed;
        }
        Assert.True(best < TimeSpan.FromSeconds(1), $"{best.TotalMilliseconds} ms");
        Assert.True(allocated < (1 << 20) + 2 * size, $"allocated {allocated} for {size} bytes");
    }
}
