using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace IQuant.Core.Tokenization;

/// <summary>
/// Splits text into words exactly as llama.cpp's <c>unicode_regex_split</c> does for byte-level BPE vocabularies:
/// a list of regexes applied <b>in sequence, each to every piece the previous one produced</b>, keeping both the
/// matches and the unmatched gaps as pieces.
/// </summary>
/// <remarks>
/// <para>Why not Microsoft.ML.Tokenizers' own pre-tokenizers: <see cref="RegexPreTokenizer"/> yields only the
/// matches and silently drops text its regex does not match, and <see cref="CompositePreTokenizer"/> re-splits
/// only the gaps left by earlier pre-tokenizers, never their matches (so falcon's 3-digit split and the default
/// pre-type's <c>\p{N}+</c> split are lost). This class is an ML <see cref="PreTokenizer"/>, so it can also be
/// plugged into ML tokenizers.</para>
/// <para>Like llama.cpp, it works on codepoints with llama.cpp's own Unicode categories: the three regexes that
/// llama.cpp implements by hand (GPT-2, llama3, qwen2) are hand-written state machines here too, reproducing
/// llama.cpp's behaviour rather than textbook regex semantics; every other regex runs as a .NET regex on
/// llama.cpp's "collapsed" text (each non-ASCII codepoint replaced by one stand-in per category, with
/// <c>\p{..}</c> rewritten to match the stand-in), which also sidesteps .NET's UTF-16 view of astral
/// characters.</para>
/// </remarks>
public sealed class LlamaCppPreTokenizer : PreTokenizer
{
    /// <summary>GPT-2's regex (llama.cpp hand-implements it).</summary>
    public const string Gpt2Regex = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";

    /// <summary>Llama-3's regex, as adapted by llama.cpp (hand-implemented there).</summary>
    public const string Llama3Regex =
        @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Llama-3's regex as written in its tokenizer.json (llama.cpp hand-implements it too).</summary>
    public const string Llama3RegexOriginal =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Qwen2's regex, as adapted by llama.cpp (hand-implemented there).</summary>
    public const string Qwen2Regex =
        @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private enum StepKind { Gpt2, Llama3, Qwen2, CollapsedRegex, WideRegex }

    private readonly record struct Step(StepKind Kind, Regex? Regex);

    private static readonly ConcurrentDictionary<(string, bool), Regex> RegexCache = new();

    private readonly Step[] _steps;
    private readonly bool _needFlags, _needCollapsed, _needWide;

    /// <summary>Creates a pre-tokenizer from llama.cpp regex strings (as listed in its <c>llm_tokenizer_bpe</c>).</summary>
    /// <exception cref="NotSupportedException">A regex mixes <c>\p{..}</c> with non-ASCII characters (llama.cpp
    /// rejects those too), or contains astral characters.</exception>
    public LlamaCppPreTokenizer(IReadOnlyList<string> regexes)
    {
        ArgumentNullException.ThrowIfNull(regexes);
        Regexes = regexes.ToArray();
        _steps = new Step[Regexes.Count];
        for (int i = 0; i < _steps.Length; i++)
        {
            string r = Regexes[i];
            Step s = r switch
            {
                Gpt2Regex => new(StepKind.Gpt2, null),
                Llama3Regex or Llama3RegexOriginal => new(StepKind.Llama3, null),
                Qwen2Regex => new(StepKind.Qwen2, null),
                _ when UsesCategories(r) => new(StepKind.CollapsedRegex, RegexCache.GetOrAdd((r, true), k => new Regex(Collapse(k.Item1), Options))),
                _ => new(StepKind.WideRegex, RegexCache.GetOrAdd((r, false), k => new Regex(CheckWide(k.Item1), Options))),
            };
            _steps[i] = s;
            _needFlags |= s.Kind is StepKind.Gpt2 or StepKind.Llama3 or StepKind.Qwen2;
            _needCollapsed |= s.Kind == StepKind.CollapsedRegex;
            _needWide |= s.Kind == StepKind.WideRegex;
        }
    }

    private const RegexOptions Options = RegexOptions.CultureInvariant | RegexOptions.Compiled;

    /// <summary>The regexes, in application order.</summary>
    public IReadOnlyList<string> Regexes { get; }

    /// <inheritdoc />
    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return PreTokenize(text.AsSpan());
    }

    /// <inheritdoc />
    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text)
    {
        var lengths = new List<int>();
        Split(text, lengths);
        var result = new (int, int)[lengths.Count];
        int off = 0;
        for (int i = 0; i < result.Length; i++) { result[i] = (off, lengths[i]); off += lengths[i]; }
        return result;
    }

    /// <summary>Appends the UTF-16 lengths of the words of <paramref name="text"/> (they tile the text).</summary>
    internal void Split(ReadOnlySpan<char> text, List<int> wordLengths)
    {
        if (text.IsEmpty) return;
        // Codepoints (lone surrogates count as U+FFFD, like invalid UTF-8 in llama.cpp).
        int[] cps = ArrayPool<int>.Shared.Rent(text.Length);
        CpFlags[]? flags = null;
        char[]? collapsed = null, wide = null;
        List<int> cur = new(), next = new();
        try
        {
            int n = 0;
            bool astral = false;
            for (int i = 0; i < text.Length; )
            {
                if (Rune.DecodeFromUtf16(text[i..], out var rune, out int used) != OperationStatus.Done) rune = Rune.ReplacementChar;
                cps[n++] = rune.Value;
                astral |= used == 2;
                i += used;
            }
            if (_needFlags || _needCollapsed || _needWide)
            {
                flags = ArrayPool<CpFlags>.Shared.Rent(n);
                for (int i = 0; i < n; i++) flags[i] = CodepointFlags.Get(cps[i]);
            }
            if (_needCollapsed)
            {
                collapsed = ArrayPool<char>.Shared.Rent(n);
                for (int i = 0; i < n; i++) collapsed[i] = CollapsedChar(cps[i], flags![i]);
            }
            if (_needWide)
            {
                wide = ArrayPool<char>.Shared.Rent(n);
                for (int i = 0; i < n; i++)
                {
                    int c = cps[i];
                    wide[i] = c > 0x7F && (flags![i] & CpFlags.Whitespace) != 0 ? '\v' : c < 0x10000 ? (char)c : '\uFFFF';
                }
            }

            cur.Add(n);
            foreach (var step in _steps)
            {
                next.Clear();
                int start = 0;
                foreach (int len in cur)
                {
                    switch (step.Kind)
                    {
                        case StepKind.Gpt2: SplitGpt2(cps, flags!, start, start + len, next); break;
                        case StepKind.Llama3: SplitLlama3(cps, flags!, start, start + len, next, digitRun: 3); break;
                        case StepKind.Qwen2: SplitLlama3(cps, flags!, start, start + len, next, digitRun: 1); break;
                        case StepKind.CollapsedRegex: SplitRegex(step.Regex!, collapsed.AsSpan(start, len), next); break;
                        default: SplitRegex(step.Regex!, wide.AsSpan(start, len), next); break;
                    }
                    start += len;
                }
                (cur, next) = (next, cur);
            }

            if (!astral)
            {
                wordLengths.AddRange(cur);
            }
            else
            {
                int p = 0;
                foreach (int len in cur)
                {
                    int chars = 0;
                    for (int k = 0; k < len; k++) chars += cps[p + k] >= 0x10000 ? 2 : 1;
                    p += len;
                    wordLengths.Add(chars);
                }
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(cps);
            if (flags is not null) ArrayPool<CpFlags>.Shared.Return(flags);
            if (collapsed is not null) ArrayPool<char>.Shared.Return(collapsed);
            if (wide is not null) ArrayPool<char>.Shared.Return(wide);
        }
    }

    private static void SplitRegex(Regex regex, ReadOnlySpan<char> s, List<int> output)
    {
        int last = 0;
        foreach (var m in regex.EnumerateMatches(s))
        {
            if (m.Index > last) output.Add(m.Index - last);
            if (m.Length > 0) output.Add(m.Length);
            last = m.Index + m.Length;
        }
        if (last < s.Length) output.Add(s.Length - last);
    }

    // ---- the hand-implemented regexes -------------------------------------------------------------------

    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S) — with llama.cpp's reading of it:
    // a lone whitespace char that the last alternative cannot take still becomes its own piece.
    private static void SplitGpt2(int[] cps, CpFlags[] flags, int begin, int end, List<int> output)
    {
        CpFlags F(int p) => p >= begin && p < end ? flags[p] : CpFlags.None;
        const CpFlags wln = CpFlags.Whitespace | CpFlags.Letter | CpFlags.Number;

        int pos = begin;
        while (pos < end)
        {
            int c = cps[pos];
            int stop;
            if (c == '\'' && pos + 1 < end && Contraction(cps, pos, end) is > 0 and var cl)
            {
                stop = pos + cl;
            }
            else
            {
                bool sp = c == ' ';
                CpFlags f2 = sp ? F(pos + 1) : flags[pos];
                int p = pos + (sp ? 1 : 0);
                if ((f2 & CpFlags.Letter) != 0)
                {
                    while ((F(p) & CpFlags.Letter) != 0) p++;
                    stop = p;
                }
                else if ((f2 & CpFlags.Number) != 0)
                {
                    while ((F(p) & CpFlags.Number) != 0) p++;
                    stop = p;
                }
                else if ((f2 & wln) == 0 && f2 != CpFlags.None)
                {
                    while ((F(p) & wln) == 0 && F(p) != CpFlags.None) p++;
                    stop = p;
                }
                else
                {
                    int k = 0;
                    while ((F(pos + k) & CpFlags.Whitespace) != 0) k++;
                    stop = k > 1 && pos + k < end ? pos + k - 1 : k > 0 ? pos + k : pos + 1;
                }
            }
            output.Add(stop - pos);
            pos = stop;
        }
    }

    // Llama-3 (digitRun 3) and Qwen2 (digitRun 1):
    // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,digitRun}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    private static void SplitLlama3(int[] cps, CpFlags[] flags, int begin, int end, List<int> output, int digitRun)
    {
        CpFlags F(int p) => p >= begin && p < end ? flags[p] : CpFlags.None;
        int Cp(int p) => p >= begin && p < end ? cps[p] : -1;
        const CpFlags wln = CpFlags.Whitespace | CpFlags.Letter | CpFlags.Number;

        int pos = begin;
        while (pos < end)
        {
            int c = cps[pos];
            CpFlags f = flags[pos];
            if (c == '\'' && pos + 1 < end && Contraction(cps, pos, end) is > 0 and var cl)
            {
                output.Add(cl);
                pos += cl;
                continue;
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if (!(c == '\r' || c == '\n' || (f & CpFlags.Number) != 0) && ((f & CpFlags.Letter) != 0 || (F(pos + 1) & CpFlags.Letter) != 0))
            {
                int p = pos + 1;
                while ((F(p) & CpFlags.Letter) != 0) p++;
                output.Add(p - pos);
                pos = p;
                continue;
            }
            // \p{N}{1,digitRun}
            if ((f & CpFlags.Number) != 0)
            {
                int p = pos;
                while ((F(p) & CpFlags.Number) != 0)
                {
                    p++;
                    if (p - pos == digitRun) { output.Add(digitRun); pos = p; }
                }
                if (p > pos) { output.Add(p - pos); pos = p; }
                continue;
            }
            //  ?[^\s\p{L}\p{N}]+[\r\n]*   (llama.cpp tests the first codepoint's own flags for "non-empty", so a
            // trailing lone space lands here too)
            bool sp = c == ' ';
            CpFlags f2 = sp ? F(pos + 1) : f;
            if ((f2 & wln) == 0 && f != CpFlags.None)
            {
                int p = pos + (sp ? 1 : 0);
                while ((F(p) & wln) == 0 && F(p) != CpFlags.None) p++;
                while (Cp(p) is '\r' or '\n') p++;
                output.Add(p - pos);
                pos = p;
                continue;
            }
            // \s*[\r\n]+ | \s+(?!\S) | \s+
            int k = 0, lastNewline = -1;
            while ((F(pos + k) & CpFlags.Whitespace) != 0)
            {
                if (cps[pos + k] is '\r' or '\n') lastNewline = pos + k + 1;
                k++;
            }
            int stop = lastNewline >= 0 ? lastNewline : k > 1 && pos + k < end ? pos + k - 1 : k > 0 ? pos + k : pos + 1;
            output.Add(stop - pos);
            pos = stop;
        }
    }

    // Length of the contraction ('s 't 'm 'd 're 've 'll) starting at cps[pos] == '\'', or 0.
    // Case-sensitive even for llama3/qwen2, whose regex says (?i:...): llama.cpp lowercases with unicode_tolower,
    // which binary-searches an unordered_map; built with libstdc++ it finds none of A-Z (checked by calling it for
    // every codepoint), so "'S", "'Ve", "'LL" are not contractions in llama.cpp's splitter.
    private static int Contraction(int[] cps, int pos, int end)
    {
        int a = cps[pos + 1];
        if (a is 's' or 't' or 'm' or 'd') return 2;
        if (pos + 2 < end)
        {
            int b = cps[pos + 2];
            if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
        }
        return 0;
    }

    // ---- regexes run by .NET on llama.cpp's collapsed text ---------------------------------------------

    private static readonly (string Name, CpFlags Cat)[] Categories =
    [
        (@"\p{N}", CpFlags.Number), (@"\p{L}", CpFlags.Letter), (@"\p{P}", CpFlags.Punctuation),
        (@"\p{M}", CpFlags.AccentMark), (@"\p{S}", CpFlags.Symbol), (@"\p{Lu}", CpFlags.Letter),
        (@"\p{Ll}", CpFlags.Letter), (@"\p{Lt}", CpFlags.Letter), (@"\p{Lm}", CpFlags.Letter), (@"\p{Lo}", CpFlags.Letter),
    ];

    private static bool UsesCategories(string regex)
    {
        foreach (var (name, _) in Categories)
            if (regex.Contains(name, StringComparison.Ordinal)) return true;
        return false;
    }

    // The stand-in for a category, and the ASCII members of the category (as regex class content).
    private static (char StandIn, string Ascii) CategoryClass(CpFlags cat) => cat switch
    {
        CpFlags.Number => ('\u00D1', "0-9"),
        CpFlags.Letter => ('\u00D2', "A-Za-z"),
        CpFlags.Punctuation => ('\u00D3', @"!-#%-*,-/:-;?-@\[-\]_\{\}"),
        CpFlags.AccentMark => ('\u00D4', ""),
        CpFlags.Symbol => ('\u00D5', @"\$\+<->^`\|"),
        _ => throw new ArgumentOutOfRangeException(nameof(cat)),
    };

    private static char CollapsedChar(int cp, CpFlags f)
    {
        if (cp < 128) return (char)cp;
        if ((f & CpFlags.Whitespace) != 0) return '\v';
        return (f & CpFlags.CategoryMask) switch
        {
            CpFlags.Number => '\u00D1',
            CpFlags.Letter => '\u00D2',
            CpFlags.Punctuation => '\u00D3',
            CpFlags.AccentMark => '\u00D4',
            CpFlags.Symbol => '\u00D5',
            _ => '\u00D0',
        };
    }

    /// <summary>Rewrites <c>\p{..}</c> in <paramref name="regex"/> for the collapsed text, as llama.cpp does.</summary>
    internal static string Collapse(string regex)
    {
        foreach (char ch in regex)
            if (ch >= 128)
                throw new NotSupportedException($"Regex mixes unicode categories with non-ASCII characters (llama.cpp rejects it too): {regex}");
        var sb = new StringBuilder(regex.Length + 32);
        bool inside = false;
        for (int i = 0; i < regex.Length; i++)
        {
            char ch = regex[i];
            if (ch == '[' && (i == 0 || regex[i - 1] != '\\')) { sb.Append('['); inside = true; continue; }
            if (inside && ch == ']' && regex[i - 1] != '\\') { sb.Append(']'); inside = false; continue; }
            if (ch == '\\' && i + 3 < regex.Length && regex[i + 1] == 'p' && regex[i + 2] == '{')
            {
                int close = regex.IndexOf('}', i + 3);
                if (close >= 0 && close <= i + 10)
                {
                    string pat = regex[i..(close + 1)];
                    int idx = Array.FindIndex(Categories, c => c.Name == pat);
                    if (idx >= 0)
                    {
                        var (standIn, ascii) = CategoryClass(Categories[idx].Cat);
                        if (!inside) sb.Append('[');
                        sb.Append(standIn).Append(ascii);
                        if (!inside) sb.Append(']');
                        i = close;
                        continue;
                    }
                }
            }
            sb.Append(ch);
        }
        return sb.ToString();
    }

    private static string CheckWide(string regex)
    {
        foreach (char ch in regex)
            if (char.IsSurrogate(ch))
                throw new NotSupportedException($"Regex with characters beyond U+FFFF is not supported: {regex}");
        return regex;
    }
}
