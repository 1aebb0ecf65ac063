using System.Collections.Concurrent;
using System.Text;
using IQuant.Core.Tokenization;

namespace IQuant.Core.Tests.Tokenization;

/// <summary>
/// TEMPORARY, test-only: reads just the key/value section of a GGUF file (until the real reader on branch
/// <c>gguf</c> is merged; then this file goes and the tests use <c>GgufVocabulary.FromGguf</c>).
/// </summary>
internal static class TestGgufMetadata
{
    public static Dictionary<string, object> Read(string path)
    {
        using var fs = File.OpenRead(path);
        using var r = new BinaryReader(fs, Encoding.UTF8);
        if (r.ReadUInt32() != 0x46554747) throw new InvalidDataException("not a GGUF file");
        uint version = r.ReadUInt32();
        if (version < 2) throw new InvalidDataException("GGUF v1 is not supported");
        r.ReadUInt64(); // tensor count
        ulong nkv = r.ReadUInt64();
        var d = new Dictionary<string, object>(StringComparer.Ordinal);
        for (ulong i = 0; i < nkv; i++)
        {
            string key = Str(r);
            d[key] = Value(r, r.ReadUInt32());
        }
        return d;
    }

    private static string Str(BinaryReader r) => Encoding.UTF8.GetString(r.ReadBytes(checked((int)r.ReadUInt64())));

    private static object Value(BinaryReader r, uint type) => type switch
    {
        0 => r.ReadByte(),
        1 => r.ReadSByte(),
        2 => r.ReadUInt16(),
        3 => r.ReadInt16(),
        4 => r.ReadUInt32(),
        5 => r.ReadInt32(),
        6 => r.ReadSingle(),
        7 => r.ReadByte() != 0,
        8 => Str(r),
        9 => Array(r),
        10 => r.ReadUInt64(),
        11 => r.ReadInt64(),
        12 => r.ReadDouble(),
        _ => throw new InvalidDataException($"GGUF value type {type}"),
    };

    private static object Array(BinaryReader r)
    {
        uint et = r.ReadUInt32();
        int n = checked((int)r.ReadUInt64());
        switch (et)
        {
            case 8: { var a = new string[n]; for (int i = 0; i < n; i++) a[i] = Str(r); return a; }
            case 6: { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = r.ReadSingle(); return a; }
            case 5: { var a = new int[n]; for (int i = 0; i < n; i++) a[i] = r.ReadInt32(); return a; }
            case 4: { var a = new uint[n]; for (int i = 0; i < n; i++) a[i] = r.ReadUInt32(); return a; }
            default: { var a = new object[n]; for (int i = 0; i < n; i++) a[i] = Value(r, et); return a; }
        }
    }
}

/// <summary>Vocabularies and tokenizers for the tests, loaded once.</summary>
internal static class TestVocabs
{
    private static readonly ConcurrentDictionary<string, Lazy<LlamaTokenizer>> Cache = new();

    public static GgufVocabulary Load(string path) => GgufVocabulary.FromMetadata(TestGgufMetadata.Read(path));

    public static LlamaTokenizer Tokenizer(string path) =>
        Cache.GetOrAdd(path, p => new Lazy<LlamaTokenizer>(() => new LlamaTokenizer(Load(p)))).Value;

    /// <summary>A shared vocab file (skips the test when absent).</summary>
    public static string VocabPath(string name) => TestPaths.RequireShared("vocab", $"ggml-vocab-{name}.gguf");
}
