using System.Diagnostics;
using System.Numerics.Tensors;

namespace IQuant.Core.Inference;

/// <summary>Result of a perplexity run.</summary>
public sealed record PerplexityResult
{
    /// <summary>exp(mean negative log-likelihood).</summary>
    public required double Ppl { get; init; }
    /// <summary>The ± estimate llama-perplexity prints: PPL · sqrt((E[nll²] − E[nll]²) / (count − 1)).</summary>
    public required double Error { get; init; }
    /// <summary>Tokens of the whole text (BOS included when added).</summary>
    public required int Tokens { get; init; }
    /// <summary>Chunks evaluated.</summary>
    public required int Chunks { get; init; }
    /// <summary>Chunk length (n_ctx).</summary>
    public required int Context { get; init; }
    /// <summary>Tokens scored (chunks × (n_ctx − n_ctx/2 − 1)).</summary>
    public required int ScoredTokens { get; init; }
    /// <summary>Mean negative log-likelihood.</summary>
    public required double MeanNll { get; init; }
    /// <summary>Wall time of the evaluation (tokenization excluded).</summary>
    public required TimeSpan Time { get; init; }
}

/// <summary>Progress of a perplexity run after each chunk.</summary>
public readonly record struct PerplexityProgress(int Chunk, int Chunks, double RunningPpl, TimeSpan Elapsed);

/// <summary>
/// llama-perplexity's method (examples/perplexity, the default non-strided mode): the whole text tokenized once
/// (BOS first when the model adds one); n_chunk = tokens / n_ctx chunks of n_ctx tokens, each evaluated from an empty
/// KV cache with its first token replaced by BOS when BOS is added; only the second half of each chunk is scored
/// (the logits at positions n_ctx/2 .. n_ctx−2 predict the next token); nll accumulated in double; PPL = exp(mean).
/// </summary>
public static class Perplexity
{
    /// <summary>Scores <paramref name="tokens"/> with <paramref name="context"/>, whose <see cref="InferenceContext.ContextLength"/>
    /// must be at least <paramref name="nCtx"/>. <paramref name="maxChunks"/> ≤ 0 = all.</summary>
    public static PerplexityResult Compute(InferenceContext context, IReadOnlyList<int> tokens, int nCtx, int maxChunks,
        bool addBos, int bosId, IProgress<PerplexityProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(tokens);
        if (nCtx < 4) throw new ArgumentOutOfRangeException(nameof(nCtx), "The context must be at least 4 tokens.");
        if (nCtx > context.ContextLength) throw new ArgumentOutOfRangeException(nameof(nCtx), $"n_ctx {nCtx} exceeds the context's {context.ContextLength}.");
        if (tokens.Count < 2 * nCtx)
            throw new ArgumentException($"Perplexity with a context of {nCtx} needs at least {2 * nCtx} tokens; the text has {tokens.Count}.", nameof(tokens));
        int nChunkMax = tokens.Count / nCtx;
        int nChunk = maxChunks <= 0 ? nChunkMax : Math.Min(maxChunks, nChunkMax);
        int nVocab = context.VocabSize;
        int first = nCtx / 2;
        int nOut = nCtx - first;
        var logits = new float[(long)nOut * nVocab];
        var chunk = new int[nCtx];
        var exps = new float[nVocab];
        double nll = 0, nll2 = 0;
        int count = 0;
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < nChunk; i++)
        {
            cancel.ThrowIfCancellationRequested();
            int start = i * nCtx;
            for (int k = 0; k < nCtx; k++) chunk[k] = tokens[start + k];
            if (addBos) chunk[0] = bosId;
            context.Evaluate(chunk, 0, first, logits, cancel);
            // logits row r is position first + r and predicts token start + first + r + 1.
            for (int r = 0; r < nCtx - 1 - first; r++)
            {
                var row = new ReadOnlySpan<float>(logits, r * nVocab, nVocab);
                double v = -LogSoftmax(row, tokens[start + first + r + 1], exps);
                nll += v;
                nll2 += v * v;
            }
            count += nCtx - 1 - first;
            progress?.Report(new PerplexityProgress(i + 1, nChunk, Math.Exp(nll / count), sw.Elapsed));
        }
        sw.Stop();
        double mean = nll / count;
        double mean2 = nll2 / count - mean * mean;
        double ppl = Math.Exp(mean);
        double err = mean2 > 0 ? Math.Sqrt(mean2 / (count - 1)) * ppl : double.NaN;
        return new PerplexityResult
        {
            Ppl = ppl, Error = err, Tokens = tokens.Count, Chunks = nChunk, Context = nCtx,
            ScoredTokens = count, MeanNll = mean, Time = sw.Elapsed,
        };
    }

    /// <summary>log p(tok) as llama-perplexity computes it: float max, double Σ expf(logit − max).</summary>
    internal static double LogSoftmax(ReadOnlySpan<float> logits, int tok, Span<float> scratch)
    {
        float max = TensorPrimitives.Max(logits);
        var e = scratch.Slice(0, logits.Length);
        TensorPrimitives.Subtract(logits, max, e);
        TensorPrimitives.Exp(e, e);
        double sum = 0;
        foreach (float x in e) sum += x;
        return logits[tok] - max - Math.Log(sum);
    }
}
