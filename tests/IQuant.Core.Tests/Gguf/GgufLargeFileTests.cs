using System.Diagnostics;
using IQuant.Core.Gguf;
using IQuant.Core.Types;

namespace IQuant.Core.Tests.Gguf;

/// <summary>Tensors beyond 2 GB, in sparse files (nothing is really written or read).</summary>
public class GgufLargeFileTests
{
    [Fact]
    public void FiftyGigabyteFile_OpensWithoutReadingIt()
    {
        using var dir = new TempDir();
        var p = dir.File("big.gguf");
        const long ne0 = 4096, ne1 = 3_276_800; // F32: 50 GiB
        var header = new RawGguf().Header(2, 1).KvString("general.architecture", "llama")
            .TensorInfo("small", [32], 0, 0)
            .TensorInfo("huge", [ne0, ne1], 0, 128).Pad().ToArray();
        long total = header.Length + 128 + ne0 * ne1 * 4;
        using (var fs = new FileStream(p, FileMode.CreateNew))
        {
            fs.Write(header);
            try { fs.SetLength(total); }
            catch (IOException e) { Assert.Skip("cannot create a sparse 50 GB file here: " + e.Message); }
        }
        var sw = Stopwatch.StartNew();
        using var f = GgufFile.Open(p);
        sw.Stop();
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(1), $"{sw.Elapsed.TotalMilliseconds} ms");
        var t = f.FindTensor("huge")!;
        Assert.Equal(ne0 * ne1 * 4, t.ByteSize);
        Assert.Equal(total, t.FileOffset + t.ByteSize);
        Assert.Throws<NotSupportedException>(() => f.GetTensorBytes(t).Length);
        var lastRows = f.GetRows(t, ne1 - 2, 2);
        Assert.Equal(2 * ne0 * 4, lastRows.Length);
        Assert.Equal(0, lastRows[^1]);
        Assert.Equal(4, f.GetTensorSlice(t, t.ByteSize - 4, 4).Length);
        unsafe { Assert.Equal(0, f.GetTensorPointer(t)[t.ByteSize - 1]); }
        Assert.Throws<ArgumentOutOfRangeException>(() => f.GetRows(t, 0, 200_000).Length); // > 2 GB in one span
    }

    [Fact]
    public void WriterAcceptsTensorsBeyond2GB_InChunks()
    {
        using var dir = new TempDir();
        var spec = new GgufTensorSpec("huge", [256, 5_000_000], GgmlType.IQ2_KS); // 72 bytes per row: 360 MB
        var big = new GgufTensorSpec("huger", [256, 40_000_000], GgmlType.IQ2_KS); // 2.88 GB
        using var w = new GgufWriter(dir.File("x.gguf"), [], [spec, big]);
        Assert.Equal(2_880_000_000L, w.Tensors[1].ByteSize);
        w.WriteTensorChunk(1, new byte[1 << 20]);
        Assert.Equal(2_880_000_000L - (1 << 20), w.RemainingBytes(1));
        Assert.Equal(GgufErrorIds.WriteIncomplete, Assert.Throws<GgufWriteException>(() => w.Commit()).ErrorId);
        w.Dispose();
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }
}
