using System.Diagnostics;
using System.Text;
using IQuant.Core.Tokenization;

namespace IQuant.Core.Inference;

/// <summary>Why generation ended.</summary>
public enum FinishReason
{
    /// <summary>The model produced an end-of-generation token.</summary>
    Stop,
    /// <summary>The token limit was reached.</summary>
    Length,
    /// <summary>The context (KV cache) is full.</summary>
    ContextFull,
    /// <summary>Cancelled by the caller (Ctrl+C).</summary>
    Cancelled,
}

/// <summary>Settings of one generation.</summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens to generate (≤ 0 = until the context is full).</summary>
    public int MaxTokens { get; init; } = 512;
    /// <summary>Sampling settings.</summary>
    public SamplingOptions Sampling { get; init; } = new();
    /// <summary>Drop leading whitespace of the answer (chat formats).</summary>
    public bool TrimLeadingWhitespace { get; init; }
}

/// <summary>What one generation produced.</summary>
public sealed record GenerationResult
{
    /// <summary>The generated text.</summary>
    public required string Text { get; init; }
    /// <summary>Generated token ids (the end token excluded).</summary>
    public required IReadOnlyList<int> Tokens { get; init; }
    /// <summary>Tokens of the prompt.</summary>
    public required int PromptTokens { get; init; }
    /// <summary>Prompt tokens actually evaluated (the rest was reused from the KV cache).</summary>
    public required int PromptTokensEvaluated { get; init; }
    /// <summary>Why it ended.</summary>
    public required FinishReason FinishReason { get; init; }
    /// <summary>Time to evaluate the prompt.</summary>
    public required TimeSpan PromptTime { get; init; }
    /// <summary>Time spent generating.</summary>
    public required TimeSpan GenerationTime { get; init; }
    /// <summary>The seed the sampler used.</summary>
    public required ulong Seed { get; init; }
    /// <summary>Generated tokens per second (evaluation of the generated tokens, sampling included).</summary>
    public double TokensPerSecond => Tokens.Count > 0 && GenerationTime.TotalSeconds > 0 ? Tokens.Count / GenerationTime.TotalSeconds : 0;
    /// <summary>Prompt tokens evaluated per second.</summary>
    public double PromptTokensPerSecond => PromptTokensEvaluated > 0 && PromptTime.TotalSeconds > 0 ? PromptTokensEvaluated / PromptTime.TotalSeconds : 0;
}

/// <summary>
/// Autoregressive generation over one <see cref="InferenceContext"/>. Remembers which tokens its KV cache holds, so a
/// prompt that extends the previous one (a chat turn) only evaluates the new tokens. Streams decoded text (whole UTF-8
/// characters) to a callback as tokens come. Not thread-safe.
/// </summary>
public sealed class TextGenerator
{
    private readonly InferenceContext _ctx;
    private readonly LlamaTokenizer _tok;
    private readonly List<int> _cached = [];
    private readonly TokenTextStream _stream;

    /// <summary>Creates a generator over <paramref name="context"/>.</summary>
    public TextGenerator(InferenceContext context, LlamaTokenizer? tokenizer = null)
    {
        _ctx = context ?? throw new ArgumentNullException(nameof(context));
        _tok = tokenizer ?? context.Model.Tokenizer;
        _stream = new TokenTextStream(_tok);
    }

    /// <summary>The context.</summary>
    public InferenceContext Context => _ctx;

    /// <summary>The tokenizer.</summary>
    public LlamaTokenizer Tokenizer => _tok;

    /// <summary>Tokens currently in the KV cache.</summary>
    public IReadOnlyList<int> CachedTokens => _cached;

    /// <summary>Forgets the KV cache contents.</summary>
    public void Reset() => _cached.Clear();

    /// <summary>
    /// Evaluates <paramref name="prompt"/> (reusing the cached common prefix) and generates until an end token,
    /// <see cref="GenerationOptions.MaxTokens"/>, a full context or cancellation (which ends generation with
    /// <see cref="FinishReason.Cancelled"/> instead of throwing once the prompt is evaluated).
    /// </summary>
    public GenerationResult Generate(IReadOnlyList<int> prompt, GenerationOptions? options = null, Action<string>? onText = null,
        CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options ??= new GenerationOptions();
        if (prompt.Count == 0) throw new ArgumentException("The prompt has no tokens.", nameof(prompt));
        int nCtx = _ctx.ContextLength;
        if (prompt.Count >= nCtx)
            throw new ArgumentException($"The prompt has {prompt.Count} tokens; the context holds {nCtx}.", nameof(prompt));

        // Only ids the tokenizer knows can be sampled (some files pad token_embd beyond the vocabulary).
        var sampler = new Sampler(Math.Min(_ctx.VocabSize, _tok.Count), options.Sampling);
        // ---- prompt: reuse the common prefix, evaluate the rest (at least the last token, for its logits) ----
        int common = 0;
        while (common < _cached.Count && common < prompt.Count && _cached[common] == prompt[common]) common++;
        if (common == prompt.Count) common--;
        _cached.RemoveRange(common, _cached.Count - common);
        var sw = Stopwatch.StartNew();
        var rest = new int[prompt.Count - common];
        for (int i = 0; i < rest.Length; i++) rest[i] = prompt[common + i];
        ReadOnlySpan<float> logits;
        try
        {
            logits = _ctx.EvaluateLast(rest, common, cancel);
        }
        catch (OperationCanceledException)
        {
            _cached.Clear(); // part of the prompt may have been written
            throw;
        }
        _cached.AddRange(rest);
        var promptTime = sw.Elapsed;

        // ---- generation ----
        sw.Restart();
        var history = new int[nCtx + 1];
        int nHist = 0;
        foreach (int t in prompt) history[nHist++] = t;
        var generated = new List<int>();
        var text = new StringBuilder();
        _stream.Reset();
        bool trimming = options.TrimLeadingWhitespace;
        var one = new int[1];
        FinishReason reason;
        int max = options.MaxTokens > 0 ? options.MaxTokens : int.MaxValue;
        while (true)
        {
            if (cancel.IsCancellationRequested) { reason = FinishReason.Cancelled; break; }
            int next = sampler.Sample(logits, history.AsSpan(0, nHist));
            if (_tok.IsEog(next)) { reason = FinishReason.Stop; break; }
            generated.Add(next);
            history[nHist++] = next;
            string piece = _stream.Append(next);
            if (trimming)
            {
                piece = piece.TrimStart();
                if (piece.Length > 0) trimming = false;
            }
            if (piece.Length > 0)
            {
                text.Append(piece);
                onText?.Invoke(piece);
            }
            if (generated.Count >= max) { reason = FinishReason.Length; break; }
            if (_cached.Count >= nCtx) { reason = FinishReason.ContextFull; break; }
            one[0] = next;
            try { logits = _ctx.EvaluateLast(one, _cached.Count, cancel); }
            catch (OperationCanceledException) { reason = FinishReason.Cancelled; break; }
            _cached.Add(next);
        }
        // flush an incomplete UTF-8 sequence
        string tail = _stream.Flush();
        if (tail.Length > 0 && !trimming) { text.Append(tail); onText?.Invoke(tail); }
        sw.Stop();
        return new GenerationResult
        {
            Text = text.ToString(),
            Tokens = generated,
            PromptTokens = prompt.Count,
            PromptTokensEvaluated = rest.Length,
            FinishReason = reason,
            PromptTime = promptTime,
            GenerationTime = sw.Elapsed,
            Seed = sampler.Seed,
        };
    }
}

/// <summary>
/// Turns generated token ids into text as they come: the bytes of each piece go through one UTF-8 decoder, so a
/// character split over several byte tokens is emitted whole, once its last byte arrives. Control tokens give no text.
/// </summary>
public sealed class TokenTextStream
{
    private readonly LlamaTokenizer _tok;
    private readonly Decoder _utf8 = new UTF8Encoding(false, false).GetDecoder();
    private readonly char[] _chars = new char[256];

    /// <summary>Creates a stream for <paramref name="tokenizer"/>'s pieces.</summary>
    public TokenTextStream(LlamaTokenizer tokenizer) => _tok = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));

    /// <summary>Forgets a pending partial character.</summary>
    public void Reset() => _utf8.Reset();

    /// <summary>The complete characters that token <paramref name="id"/> adds (possibly none).</summary>
    public string Append(int id)
    {
        var bytes = _tok.TokenToPieceBytes(id, special: false);
        if (bytes.Length == 0) return "";
        // Always decode (GetCharCount would not keep a lead byte in the decoder's state).
        int max = bytes.Length + 4;
        Span<char> dst = max <= _chars.Length ? _chars : new char[max];
        int n = _utf8.GetChars(bytes, dst, flush: false);
        return n == 0 ? "" : new string(dst.Slice(0, n));
    }

    /// <summary>Whatever a truncated character leaves (U+FFFD), at the end of generation.</summary>
    public string Flush()
    {
        int n = _utf8.GetChars([], _chars, flush: true);
        return new string(_chars, 0, n);
    }
}
