using BenchmarkDotNet.Attributes;
using IQuant.Core.Gguf;
using IQuant.Core.Types;

namespace IQuant.Bench;

/// <summary>
/// Header parse speed: a synthetic GGUF with 10,000 tensors (32-element F32) and 5,000 metadata keys of mixed types.
/// Measures <see cref="GgufFile.Open"/> plus enumerating every tensor info and metadata entry. Goal: under 50 ms.
/// <c>dotnet run -c Release --project bench/IQuant.Bench -- --filter '*GgufOpen*' --job short</c>
/// </summary>
[MemoryDiagnoser]
public class GgufOpenBenchmarks
{
    private string _dir = "";
    private string _path = "";

    [GlobalSetup]
    public void Setup()
    {
        _dir = Path.Combine(Path.GetTempPath(), "iquant-bench-gguf-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_dir);
        _path = Path.Combine(_dir, "synthetic.gguf");
        var md = new List<GgufMetadataEntry>(5000) { GgufMetadataEntry.String("general.architecture", "llama") };
        for (int i = 1; i < 5000; i++)
        {
            string k = $"bench.group{i % 37}.key{i}";
            md.Add((i % 5) switch
            {
                0 => GgufMetadataEntry.UInt32(k, (uint)i),
                1 => GgufMetadataEntry.String(k, "value number " + i),
                2 => GgufMetadataEntry.Float32(k, i * 0.5f),
                3 => GgufMetadataEntry.Array(k, new[] { i, i + 1, i + 2, i + 3 }),
                _ => GgufMetadataEntry.Array(k, new[] { "a" + i, "b" + i }),
            });
        }
        var specs = new GgufTensorSpec[10_000];
        for (int i = 0; i < specs.Length; i++)
            specs[i] = new GgufTensorSpec($"blk.{i / 10}.w{i % 10}.weight", [32], GgmlType.F32);
        using var w = new GgufWriter(_path, md, specs, new GgufWriterOptions { Overwrite = true });
        var data = new byte[128];
        for (int i = 0; i < specs.Length; i++) w.WriteTensor(i, data);
        w.Commit();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Benchmark]
    public long OpenAndEnumerate()
    {
        using var f = GgufFile.Open(_path);
        long acc = 0;
        foreach (var t in f.Tensors)
            acc += t.Name.Length + t.Shape[0] + t.ByteSize + (long)t.Offset + (t.Layer ?? 0);
        foreach (var e in f.Metadata)
            acc += e.Key.Length + (int)e.Type + (e.Value is Array a ? a.Length : 1);
        return acc;
    }
}
