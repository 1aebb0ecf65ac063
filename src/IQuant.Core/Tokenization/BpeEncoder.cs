using System.Buffers;
using System.Text;
using Ml = Microsoft.ML.Tokenizers;

namespace IQuant.Core.Tokenization;

/// <summary>
/// Byte-level BPE as llama.cpp runs it (<c>llm_tokenizer_bpe</c>): split with the pre-type's regexes
/// (<see cref="LlamaCppPreTokenizer"/>, ours), then merge each word by rank with Microsoft.ML.Tokenizers'
/// <see cref="Ml.BpeTokenizer"/>, whose merge loop (lowest rank first, then leftmost) is exactly llama.cpp's.
/// </summary>
internal sealed class BpeEncoder
{
    private readonly Ml.BpeTokenizer _bpe;
    private readonly LlamaCppPreTokenizer _pre;
    private readonly bool _ignoreMerges;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public BpeEncoder(GgufVocabulary vocab, Dictionary<string, int> tokenToId, BpePreType preType)
    {
        _pre = new LlamaCppPreTokenizer(preType.Regexes);
        _ignoreMerges = preType.IgnoreMerges;
        _lookup = tokenToId.GetAlternateLookup<ReadOnlySpan<char>>();

        // User-defined tokens are raw text, not byte-level text: they never reach the merge loop (the special
        // token partition cuts them out first), and some (deepseek's "õ", "÷", ...) would otherwise collide with
        // byte-level characters.
        var entries = new List<KeyValuePair<string, int>>(tokenToId.Count);
        foreach (var kv in tokenToId)
            if (vocab.GetTokenType(kv.Value) != GgufTokenType.UserDefined)
                entries.Add(kv);
        var options = new Ml.BpeOptions(entries)
        {
            Merges = vocab.Merges ?? throw new FormatException("A 'gpt2' vocabulary needs tokenizer.ggml.merges."),
            ByteLevel = true,
        };
        _bpe = Ml.BpeTokenizer.Create(options);
    }

    /// <summary>The pre-tokenizer in use.</summary>
    public LlamaCppPreTokenizer PreTokenizer => _pre;

    /// <summary>The Microsoft.ML.Tokenizers model doing the merges.</summary>
    public Ml.BpeTokenizer Model => _bpe;

    /// <summary>Tokenizes raw text (no special tokens in it) into <paramref name="output"/>.</summary>
    public void Encode(ReadOnlySpan<char> text, List<int> output)
    {
        var words = new List<int>();
        _pre.Split(text, words);
        int off = 0;
        foreach (int len in words)
        {
            var word = text.Slice(off, len);
            off += len;
            if (_ignoreMerges && TryWholeWord(word, out int id))
            {
                output.Add(id);
                continue;
            }
            output.AddRange(_bpe.EncodeToIds(word, considerPreTokenization: false, considerNormalization: false));
        }
    }

    // llama.cpp's ignore_merges: a word whose byte-level form is a vocabulary token is that token.
    private bool TryWholeWord(ReadOnlySpan<char> word, out int id)
    {
        int max = Encoding.UTF8.GetMaxByteCount(word.Length);
        byte[]? rentedB = null;
        char[]? rentedC = null;
        Span<byte> utf8 = max <= 256 ? stackalloc byte[256] : (rentedB = ArrayPool<byte>.Shared.Rent(max));
        try
        {
            int nb = Encoding.UTF8.GetBytes(word, utf8);
            Span<char> chars = nb <= 256 ? stackalloc char[256] : (rentedC = ArrayPool<char>.Shared.Rent(nb));
            ByteLevel.Encode(utf8[..nb], chars);
            return _lookup.TryGetValue(chars[..nb], out id);
        }
        finally
        {
            if (rentedB is not null) ArrayPool<byte>.Shared.Return(rentedB);
            if (rentedC is not null) ArrayPool<char>.Shared.Return(rentedC);
        }
    }
}
