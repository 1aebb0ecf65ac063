using System.Runtime.InteropServices;
using System.Text.Json;

namespace IQuant.Core.Tests;

/// <summary>One reference case of tests/vectors (see its README): input rows, optional imatrix, expected outputs.</summary>
public sealed record VectorCase(string Name, int Rows, int NPerRow, string Input, string? Imatrix,
    IReadOnlyDictionary<string, (string Bytes, string Dequantized)> Outputs)
{
    public float[] LoadInput() => VectorData.ReadFloats(Input);
    public float[] LoadImatrix() => Imatrix is null ? [] : VectorData.ReadFloats(Imatrix);
}

/// <summary>Reads tests/vectors/manifest.json.</summary>
public static class VectorData
{
    private static readonly Lazy<IReadOnlyList<VectorCase>> s_cases = new(Load);

    public static IReadOnlyList<VectorCase> Cases => s_cases.Value;

    public static VectorCase Case(string name) => Cases.Single(c => c.Name == name);

    public static float[] ReadFloats(string file) =>
        MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(Path.Combine(TestPaths.Vectors, file))).ToArray();

    public static byte[] ReadBytes(string file) => File.ReadAllBytes(Path.Combine(TestPaths.Vectors, file));

    /// <summary>xunit member data: (case, output key) for every output whose key is in <paramref name="keys"/>.</summary>
    public static TheoryData<string, string> Pairs(params string[] keys)
    {
        var td = new TheoryData<string, string>();
        foreach (var c in Cases)
            foreach (var k in c.Outputs.Keys.Order())
                if (keys.Length == 0 || keys.Contains(k)) td.Add(c.Name, k);
        return td;
    }

    private static IReadOnlyList<VectorCase> Load()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Vectors, "manifest.json")));
        var list = new List<VectorCase>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            var outs = new Dictionary<string, (string, string)>();
            foreach (var o in c.GetProperty("outputs").EnumerateObject())
                outs[o.Name] = (o.Value.GetProperty("bytes").GetString()!, o.Value.GetProperty("dequantized").GetString()!);
            list.Add(new VectorCase(c.GetProperty("name").GetString()!, c.GetProperty("rows").GetInt32(),
                c.GetProperty("n_per_row").GetInt32(), c.GetProperty("input").GetString()!,
                c.TryGetProperty("imatrix", out var im) && im.ValueKind == JsonValueKind.String ? im.GetString() : null, outs));
        }
        return list;
    }
}
