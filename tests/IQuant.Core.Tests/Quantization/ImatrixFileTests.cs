using IQuant.Core.Gguf;
using IQuant.Core.Quantization;
using IQuant.Core.Types;

namespace IQuant.Core.Tests.Quantization;

public class ImatrixFileTests
{
    private static string SharedImatrix() => TestPaths.RequireShared("models", "iquant-demo.imatrix");

    [Fact]
    public void Dat_ReadsTheReferenceFile()
    {
        var im = ImatrixFile.Load(SharedImatrix());
        Assert.Equal("dat", im.Format);
        // Every blk.* matmul weight of the 6-layer demo model: q, k, v, output, gate, up, down.
        Assert.Equal(6 * 7, im.Entries.Count);
        Assert.True(im.Chunks > 0);
        var e = im.Find("blk.0.ffn_down.weight")!;
        Assert.Equal(768, e.Values.Length);
        Assert.True(e.Calls > 0);
        Assert.All(e.Weights(), w => Assert.True(w >= 0 && float.IsFinite(w)));
        Assert.Equal(256, im.Find("blk.3.attn_q.weight")!.Values.Length);
    }

    [Fact]
    public void Dat_RoundTripsByteForByte()
    {
        var src = SharedImatrix();
        var im = ImatrixFile.Load(src);
        var tmp = Path.Combine(Path.GetTempPath(), $"iq-{Guid.NewGuid():N}.imatrix");
        try
        {
            im.SaveDat(tmp);
            var again = ImatrixFile.Load(tmp);
            Assert.Equal(im.Entries.Select(e => e.Name), again.Entries.Select(e => e.Name));
            Assert.Equal(im.Entries.SelectMany(e => e.Values), again.Entries.SelectMany(e => e.Values));
            Assert.Equal(im.Chunks, again.Chunks);
            Assert.Equal(im.Dataset, again.Dataset);
            Assert.Equal(File.ReadAllBytes(src), File.ReadAllBytes(tmp));
        }
        finally { File.Delete(tmp); }
    }

    [Fact]
    public void Gguf_IsConvertedAsIkConvertsIt()
    {
        // Build a mainline-format GGUF imatrix from the .dat: in_sum2 = value * chunk_size, counts = ncall * chunk_size.
        var im = ImatrixFile.Load(SharedImatrix());
        const int chunkSize = 512;
        var tmp = Path.Combine(Path.GetTempPath(), $"iq-{Guid.NewGuid():N}.gguf");
        try
        {
            var specs = new List<GgufTensorSpec>();
            foreach (var e in im.Entries)
            {
                specs.Add(new GgufTensorSpec(e.Name + ".in_sum2", [e.Values.Length, 1], GgmlType.F32));
                specs.Add(new GgufTensorSpec(e.Name + ".counts", [1, 1], GgmlType.F32));
            }
            var meta = new[]
            {
                GgufMetadataEntry.String("general.type", "imatrix"),
                GgufMetadataEntry.UInt32("imatrix.chunk_count", (uint)im.Chunks),
                GgufMetadataEntry.UInt32("imatrix.chunk_size", chunkSize),
                GgufMetadataEntry.Array("imatrix.datasets", new[] { "calibration.txt" }),
            };
            using (var w = new GgufWriter(tmp, meta, specs, new GgufWriterOptions()))
            {
                int i = 0;
                foreach (var e in im.Entries)
                {
                    var sums = e.Values.Select(v => v * chunkSize).ToArray();
                    w.WriteTensor(i++, System.Runtime.InteropServices.MemoryMarshal.AsBytes(sums.AsSpan()));
                    var counts = new[] { (float)e.Calls * chunkSize };
                    w.WriteTensor(i++, System.Runtime.InteropServices.MemoryMarshal.AsBytes(counts.AsSpan()));
                }
                w.Commit();
            }
            var g = ImatrixFile.Load(tmp);
            Assert.Equal("gguf", g.Format);
            Assert.Equal(im.Entries.Count, g.Entries.Count);
            Assert.Equal("calibration.txt", g.Dataset);
            foreach (var e in im.Entries)
            {
                var ge = g.Find(e.Name)!;
                Assert.Equal(e.Calls, ge.Calls);
                var a = e.Weights(); var b = ge.Weights();
                for (int k = 0; k < a.Length; k++) Assert.Equal(a[k], b[k], 1e-6f * Math.Max(1f, Math.Abs(a[k])));
            }
        }
        finally { File.Delete(tmp); }
    }

    [Theory]
    [InlineData(new byte[] { }, "ImatrixTruncated")]
    [InlineData(new byte[] { 0, 0, 0, 0 }, "ImatrixEmpty")]
    [InlineData(new byte[] { 255, 255, 255, 127 }, "ImatrixTruncated")]
    [InlineData(new byte[] { 1, 0, 0, 0, 200, 0, 0, 0, 65 }, "ImatrixTruncated")]
    [InlineData(new byte[] { 1, 0, 0, 0, 1, 0, 0, 0, 65, 1, 0, 0, 0, 255, 255, 255, 127 }, "ImatrixTruncated")]
    [InlineData(new byte[] { 1, 0, 0, 0, 1, 0, 0, 0, 65, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 192, 127 }, "ImatrixValueNotFinite")]
    public void Dat_RejectsMalformedFiles(byte[] bytes, string errorId)
    {
        var tmp = Path.Combine(Path.GetTempPath(), $"iq-{Guid.NewGuid():N}.imatrix");
        try
        {
            File.WriteAllBytes(tmp, bytes);
            var ex = Assert.Throws<ImatrixFormatException>(() => ImatrixFile.Load(tmp));
            Assert.Equal(errorId, ex.ErrorId);
        }
        finally { File.Delete(tmp); }
    }

    [Fact]
    public void Missing_And_Directory_AreClearErrors()
    {
        Assert.Equal("ImatrixNotFound", Assert.Throws<ImatrixFormatException>(() => ImatrixFile.Load("/nonexistent/x.imatrix")).ErrorId);
        Assert.Equal("ImatrixNotAFile", Assert.Throws<ImatrixFormatException>(() => ImatrixFile.Load(Path.GetTempPath())).ErrorId);
    }
}
