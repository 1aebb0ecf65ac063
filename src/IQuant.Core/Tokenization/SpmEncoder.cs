using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace IQuant.Core.Tokenization;

/// <summary>
/// SentencePiece BPE as llama.cpp runs it (<c>llm_tokenizer_spm</c>): start from single codepoints, repeatedly
/// merge the adjacent pair whose concatenation is a vocabulary piece with the highest score — on equal scores
/// the <b>leftmost</b> pair — and finally emit each symbol as its piece or, failing that, as byte-fallback
/// pieces <c>&lt;0xXX&gt;</c>.
/// </summary>
/// <remarks>
/// Our own code rather than Microsoft.ML.Tokenizers' <c>SentencePieceTokenizer</c>: ML breaks score ties towards
/// the <b>rightmost</b> pair, which changes the result on runs of one character (<c>!!!!!!</c>, <c>------</c>,
/// <c>......</c>, code indentation). See the tests for a concrete input.
/// </remarks>
internal sealed class SpmEncoder
{
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly float[] _scores;
    private readonly int[] _byteTokens; // byte → token id, or -1
    private readonly int _unk;

    public SpmEncoder(Dictionary<string, int> tokenToId, float[] scores, int[] byteTokens, int unknownId)
    {
        _lookup = tokenToId.GetAlternateLookup<ReadOnlySpan<char>>();
        _scores = scores;
        _byteTokens = byteTokens;
        _unk = unknownId;
    }

    [StructLayout(LayoutKind.Auto)]
    private struct Bigram
    {
        public int Left, Right, Size;
        public float Score;
    }

    /// <summary>Tokenizes <paramref name="text"/> (already escaped: spaces as U+2581, prefix added) into <paramref name="output"/>.</summary>
    public void Encode(string text, List<int> output)
    {
        if (text.Length == 0) return;
        var s = new Session(this, text);
        try { s.Run(output); }
        finally { s.Release(); }
    }

    private sealed class Session
    {
        private readonly SpmEncoder _enc;
        private readonly string _text;
        private readonly int[] _start, _len, _prev, _next;
        private Bigram[] _heap;
        private int _heapCount;

        public Session(SpmEncoder enc, string text)
        {
            _enc = enc;
            _text = text;
            int cap = text.Length;
            _start = ArrayPool<int>.Shared.Rent(cap);
            _len = ArrayPool<int>.Shared.Rent(cap);
            _prev = ArrayPool<int>.Shared.Rent(cap);
            _next = ArrayPool<int>.Shared.Rent(cap);
            _heap = ArrayPool<Bigram>.Shared.Rent(Math.Max(16, cap));
        }

        public void Release()
        {
            ArrayPool<int>.Shared.Return(_start);
            ArrayPool<int>.Shared.Return(_len);
            ArrayPool<int>.Shared.Return(_prev);
            ArrayPool<int>.Shared.Return(_next);
            ArrayPool<Bigram>.Shared.Return(_heap);
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(List<int> output)
        {
            string text = _text;
            int[] start = _start, len = _len, prev = _prev, next = _next;

            // One symbol per codepoint (a surrogate pair is one symbol).
            int n = 0;
            for (int i = 0; i < text.Length; )
            {
                int l = char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
                start[n] = i; len[n] = l; prev[n] = n - 1; next[n] = n + 1;
                n++;
                i += l;
            }
            next[n - 1] = -1;

            for (int i = 1; i < n; i++) TryAdd(i - 1, i);

            while (_heapCount > 0)
            {
                var b = Pop();
                int l = b.Left, r = b.Right;
                // Skip bigrams one of whose symbols has since been merged (sizes only grow, so a size mismatch
                // means the pair is stale).
                if (len[l] == 0 || len[r] == 0 || len[l] + len[r] != b.Size) continue;
                len[l] += len[r];
                len[r] = 0;
                next[l] = next[r];
                if (next[r] >= 0) prev[next[r]] = l;
                TryAdd(prev[l], l);
                TryAdd(l, next[l]);
            }

            Span<byte> utf8 = stackalloc byte[8];
            for (int i = 0; i != -1; i = next[i])
            {
                var piece = text.AsSpan(start[i], len[i]);
                if (_enc._lookup.TryGetValue(piece, out int id)) { output.Add(id); continue; }
                // Not a piece (only possible for a single codepoint): its UTF-8 bytes as byte pieces.
                int nb = Encoding.UTF8.GetBytes(piece, utf8);
                for (int k = 0; k < nb; k++)
                {
                    int t = _enc._byteTokens[utf8[k]];
                    output.Add(t >= 0 ? t : _enc._unk);
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void TryAdd(int left, int right)
        {
            if (left < 0 || right < 0) return;
            int size = _len[left] + _len[right];
            if (!_enc._lookup.TryGetValue(_text.AsSpan(_start[left], size), out int id)) return;
            Push(new Bigram { Left = left, Right = right, Size = size, Score = _enc._scores[id] });
        }

        // Max-heap: higher score first; on equal scores the smaller left index (leftmost pair) first.
        private static bool Before(in Bigram a, in Bigram b) => a.Score > b.Score || (a.Score == b.Score && a.Left < b.Left);

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private void Push(Bigram item)
        {
            if (_heapCount == _heap.Length)
            {
                var bigger = ArrayPool<Bigram>.Shared.Rent(_heap.Length * 2);
                Array.Copy(_heap, bigger, _heapCount);
                ArrayPool<Bigram>.Shared.Return(_heap);
                _heap = bigger;
            }
            var heap = _heap;
            int i = _heapCount++;
            while (i > 0)
            {
                int parent = (i - 1) >> 1;
                if (!Before(item, heap[parent])) break;
                heap[i] = heap[parent];
                i = parent;
            }
            heap[i] = item;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private Bigram Pop()
        {
            var heap = _heap;
            var top = heap[0];
            var last = heap[--_heapCount];
            int count = _heapCount;
            int i = 0;
            while (true)
            {
                int c = 2 * i + 1;
                if (c >= count) break;
                if (c + 1 < count && Before(heap[c + 1], heap[c])) c++;
                if (!Before(heap[c], last)) break;
                heap[i] = heap[c];
                i = c;
            }
            if (count > 0) heap[i] = last;
            return top;
        }
    }
}
