using System.Collections.Concurrent;
using IQuant.Core.Tokenization;

namespace IQuant.Core.Tests.Tokenization;

/// <summary>Vocabularies and tokenizers for the tests, loaded once.</summary>
internal static class TestVocabs
{
    private static readonly ConcurrentDictionary<string, Lazy<LlamaTokenizer>> Cache = new();

    public static GgufVocabulary Load(string path) => GgufVocabulary.FromGguf(path);

    public static LlamaTokenizer Tokenizer(string path) =>
        Cache.GetOrAdd(path, p => new Lazy<LlamaTokenizer>(() => new LlamaTokenizer(Load(p)))).Value;

    /// <summary>A shared vocab file (skips the test when absent).</summary>
    public static string VocabPath(string name) => TestPaths.RequireShared("vocab", $"ggml-vocab-{name}.gguf");
}
