using System.Runtime.InteropServices;
using IQuant.Core.Gguf;
using IQuant.Core.Quantization;
using IQuant.Core.Types;

namespace IQuant.Core.Calibration;

/// <summary>Writes importance matrices in the mainline GGUF imatrix layout (spec §7.3).</summary>
public static class ImatrixWriter
{
    /// <summary>
    /// Writes <paramref name="imatrix"/> as a GGUF imatrix: <c>general.type = imatrix</c>, <c>imatrix.datasets</c>,
    /// <c>imatrix.chunk_count</c>, <c>imatrix.chunk_size</c>, and per entry <c>&lt;name&gt;.in_sum2</c> (Σa², f32
    /// [ne0, 1]) and <c>&lt;name&gt;.counts</c> (f32 [1]). The sums are reconstructed from the stored values as
    /// values · chunk_size and the counts as ncall · chunk_size, the inverse of the conversion
    /// convert_imatrix_gguf_to_dat.py (and <see cref="ImatrixFile.Load"/>) applies, so reading the file back gives the
    /// same values and call counts. With <paramref name="rowsPerCall"/> (activation rows per evaluation call, e.g. 512
    /// for chunks of 1024 evaluated in batches of 512) the sums and counts are the raw Σa² and row counts as mainline
    /// stores them with chunk_size = <paramref name="chunkSize"/>; the importance weights (values / ncall) are the same.
    /// </summary>
    public static void SaveGguf(ImatrixFile imatrix, string path, int chunkSize, int rowsPerCall = 0, bool overwrite = true)
    {
        ArgumentNullException.ThrowIfNull(imatrix);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunkSize);
        if (rowsPerCall <= 0) rowsPerCall = chunkSize;
        var md = new List<GgufMetadataEntry>
        {
            GgufMetadataEntry.String("general.type", "imatrix"),
            GgufMetadataEntry.Array("imatrix.datasets", string.IsNullOrEmpty(imatrix.Dataset) ? System.Array.Empty<string>() : new[] { imatrix.Dataset }),
            GgufMetadataEntry.UInt32("imatrix.chunk_count", (uint)Math.Max(0, imatrix.Chunks)),
            GgufMetadataEntry.UInt32("imatrix.chunk_size", (uint)chunkSize),
        };
        var entries = imatrix.Entries.OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
        var specs = new List<GgufTensorSpec>();
        foreach (var e in entries)
        {
            specs.Add(new GgufTensorSpec(e.Name + ".in_sum2", [e.Values.Length, 1], GgmlType.F32));
            specs.Add(new GgufTensorSpec(e.Name + ".counts", [1], GgmlType.F32));
        }
        using var w = new GgufWriter(path, md, specs, new GgufWriterOptions { Overwrite = overwrite });
        for (int i = 0; i < entries.Count; i++)
        {
            var e = entries[i];
            var sums = new float[e.Values.Length];
            for (int j = 0; j < sums.Length; j++) sums[j] = e.Values[j] * rowsPerCall;
            w.WriteTensor(2 * i, MemoryMarshal.AsBytes(sums.AsSpan()));
            float count = (float)((long)e.Calls * rowsPerCall);
            w.WriteTensor(2 * i + 1, MemoryMarshal.AsBytes(new ReadOnlySpan<float>(ref count)));
        }
        w.Commit();
    }
}
