using System.Diagnostics;
using System.Numerics.Tensors;
using IQuant.Core.Inference;
using IQuant.Core.Quantization;

namespace IQuant.Core.Calibration;

/// <summary>Settings of an importance-matrix computation.</summary>
public sealed record ImatrixOptions
{
    /// <summary>Chunk length in tokens (llama-imatrix -c); default 512.</summary>
    public int Context { get; init; } = 512;
    /// <summary>Process at most this many chunks (llama-imatrix --chunks); 0 = all.</summary>
    public int MaxChunks { get; init; }
    /// <summary>Also collect the input of output.weight (llama-imatrix --process-output).</summary>
    public bool ProcessOutput { get; init; }
    /// <summary>Compute the perplexity of the calibration text on the way (llama-imatrix does unless --no-ppl).</summary>
    public bool ComputePerplexity { get; init; } = true;
    /// <summary>Dataset name recorded in the file (llama-imatrix records the -f argument).</summary>
    public string? Dataset { get; init; }
    /// <summary>Activation batches with fewer rows are ignored, as llama-imatrix does (16).</summary>
    public int MinRows { get; init; } = 16;
}

/// <summary>Progress after each chunk.</summary>
public readonly record struct ImatrixProgress(int Chunk, int Chunks, double RunningPpl, TimeSpan Elapsed);

/// <summary>Result of <see cref="ImatrixBuilder.Compute"/>.</summary>
public sealed record ImatrixResult
{
    /// <summary>The importance matrix (values stored as llama-imatrix stores them: Σa²/count · ncall).</summary>
    public required ImatrixFile Imatrix { get; init; }
    /// <summary>Tokens of the whole text (BOS included when added).</summary>
    public required int Tokens { get; init; }
    /// <summary>Chunks evaluated.</summary>
    public required int Chunks { get; init; }
    /// <summary>Chunk length.</summary>
    public required int Context { get; init; }
    /// <summary>PPL of the calibration text (second half of each chunk scored), or NaN when not computed.</summary>
    public required double Ppl { get; init; }
    /// <summary>± of <see cref="Ppl"/>.</summary>
    public required double PplError { get; init; }
    /// <summary>Wall time.</summary>
    public required TimeSpan Time { get; init; }
}

/// <summary>
/// llama-imatrix (examples/imatrix/imatrix.cpp, spec §7.1): the text is tokenized once (BOS first when the model adds
/// one) and cut into n_ctx-token chunks (n_chunk = tokens / n_ctx); each chunk is evaluated from an empty KV cache with
/// its first token replaced by BOS; for every <c>blk.*</c> weight, each activation row of every forward pass with at
/// least 16 rows adds a² per input column. The stored value per column is (Σa² / count) · ncall, ncall counting the
/// passes (one per chunk up to 512 tokens), so that llama-quantize's division by ncall yields the mean of a².
/// </summary>
public static class ImatrixBuilder
{
    /// <summary>Computes the importance matrix of <paramref name="context"/>'s model over <paramref name="tokens"/>.</summary>
    public static ImatrixResult Compute(InferenceContext context, IReadOnlyList<int> tokens, bool addBos, int bosId,
        ImatrixOptions? options = null, IProgress<ImatrixProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(tokens);
        options ??= new ImatrixOptions();
        int nCtx = options.Context;
        if (nCtx < 4) throw new ArgumentOutOfRangeException(nameof(options), "The context must be at least 4 tokens.");
        if (nCtx > context.ContextLength) throw new ArgumentOutOfRangeException(nameof(options), $"n_ctx {nCtx} exceeds the context's {context.ContextLength}.");
        if (tokens.Count < 2 * nCtx)
            throw new ArgumentException($"An importance matrix with a context of {nCtx} needs at least {2 * nCtx} tokens; the text has {tokens.Count}.", nameof(tokens));
        int nChunkMax = tokens.Count / nCtx;
        int nChunk = options.MaxChunks <= 0 ? nChunkMax : Math.Min(options.MaxChunks, nChunkMax);
        int nVocab = context.VocabSize;
        // Logits are needed for the scored half (perplexity) or, with ProcessOutput, for every row (as logits_all).
        int firstOut = options.ProcessOutput ? 0 : options.ComputePerplexity ? nCtx / 2 : nCtx;
        var logits = new float[(long)(nCtx - firstOut) * nVocab];
        var exps = new float[nVocab];
        var chunk = new int[nCtx];
        var collector = new Collector(options.MinRows, options.ProcessOutput);
        var previous = context.ActivationObserver;
        context.ActivationObserver = collector;
        double nll = 0, nll2 = 0;
        int count = 0;
        var sw = Stopwatch.StartNew();
        try
        {
            for (int i = 0; i < nChunk; i++)
            {
                cancel.ThrowIfCancellationRequested();
                int start = i * nCtx;
                for (int k = 0; k < nCtx; k++) chunk[k] = tokens[start + k];
                if (addBos) chunk[0] = bosId;
                context.Evaluate(chunk, 0, firstOut, logits, cancel);
                if (options.ComputePerplexity)
                {
                    int first = nCtx / 2;
                    for (int r = first; r < nCtx - 1; r++)
                    {
                        var row = new ReadOnlySpan<float>(logits, (r - firstOut) * nVocab, nVocab);
                        double v = -Perplexity.LogSoftmax(row, tokens[start + r + 1], exps);
                        nll += v; nll2 += v * v;
                    }
                    count += nCtx - 1 - first;
                }
                progress?.Report(new ImatrixProgress(i + 1, nChunk, count > 0 ? Math.Exp(nll / count) : double.NaN, sw.Elapsed));
            }
        }
        finally { context.ActivationObserver = previous; }
        sw.Stop();
        double ppl = double.NaN, err = double.NaN;
        if (count > 0)
        {
            double mean = nll / count, var = nll2 / count - mean * mean;
            ppl = Math.Exp(mean);
            err = var > 0 ? Math.Sqrt(var / (count - 1)) * ppl : double.NaN;
        }
        var file = collector.ToImatrix(context.Model.Config.BlockCount, nChunk, options.Dataset);
        return new ImatrixResult { Imatrix = file, Tokens = tokens.Count, Chunks = nChunk, Context = nCtx, Ppl = ppl, PplError = err, Time = sw.Elapsed };
    }

    /// <summary>Accumulates Σa² per column for each (layer, site), as IMatrixCollector::collect_imatrix does.</summary>
    internal sealed class Collector(int minRows, bool processOutput) : IActivationObserver
    {
        private readonly Dictionary<(int Layer, ActivationSite Site), Stat> _stats = [];

        internal sealed class Stat(int width)
        {
            public readonly float[] Sums = new float[width];
            public long Count;   // rows added (the same for every column of a dense weight)
            public int Calls;
        }

        public void Observe(int layer, ActivationSite site, ReadOnlySpan<float> activations, int rows, int width)
        {
            if (rows < minRows) return;
            if (site == ActivationSite.Output && !processOutput) return;
            if (!_stats.TryGetValue((layer, site), out var s)) _stats[(layer, site)] = s = new Stat(width);
            if (s.Sums.Length != width) throw new InvalidOperationException($"Inconsistent activation width at layer {layer} {site}: {width} vs {s.Sums.Length}.");
            s.Calls++;
            var sums = s.Sums.AsSpan();
            for (int r = 0; r < rows; r++)
            {
                var x = activations.Slice(r * width, width);
                // values[j] += x[j]*x[j], row after row (f32, as the reference).
                TensorPrimitives.MultiplyAdd(x, x, sums, sums);
            }
            s.Count += rows;
            foreach (float v in sums)
                if (!float.IsFinite(v)) throw new InvalidOperationException($"Non-finite activation statistics at layer {layer} {site}.");
        }

        public ImatrixFile ToImatrix(int blocks, int chunks, string? dataset)
        {
            var entries = new List<ImatrixEntry>();
            // File order: blocks in order, then the weights of each block in forward order; output last.
            var order = new List<(int, ActivationSite)>();
            for (int l = 0; l < blocks; l++)
                foreach (var site in new[] { ActivationSite.Attention, ActivationSite.AttentionOutput, ActivationSite.FeedForward, ActivationSite.FeedForwardDown })
                    order.Add((l, site));
            order.Add((-1, ActivationSite.Output));
            foreach (var key in order)
            {
                if (!_stats.TryGetValue(key, out var s) || s.Count == 0) continue;
                var values = Values(s);
                foreach (var name in IActivationObserver.WeightNames(key.Item1, key.Item2))
                    entries.Add(new ImatrixEntry(name, s.Calls, (float[])values.Clone()));
            }
            return new ImatrixFile { Entries = entries, Chunks = chunks, Dataset = dataset, Format = "dat" };
        }

        /// <summary>(Σa² / count) · ncall in f32, as save_imatrix stores it.</summary>
        internal static float[] Values(Stat s)
        {
            var v = new float[s.Sums.Length];
            float count = s.Count, ncall = s.Calls;
            for (int i = 0; i < v.Length; i++) v[i] = s.Sums[i] / count * ncall;
            return v;
        }
    }
}
