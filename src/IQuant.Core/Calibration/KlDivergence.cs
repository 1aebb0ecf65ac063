using System.Buffers.Binary;
using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using IQuant.Core.Inference;

namespace IQuant.Core.Calibration;

/// <summary>Thrown for a reference-logits file that cannot be used (wrong magic, truncated, other vocabulary).</summary>
public sealed class LogitsFileException(string errorId, string path, string message) : Exception(message)
{
    /// <summary>Stable id for PowerShell ErrorRecords.</summary>
    public string ErrorId { get; } = errorId;
    /// <summary>The file.</summary>
    public string Path { get; } = path;
}

/// <summary>
/// The reference log-probabilities file of <c>llama-perplexity --kl-divergence-base</c> (ik_llama.cpp
/// examples/perplexity): <c>"_logits_"</c>, i32 n_ctx, i32 n_vocab, i32 n_chunk, i32 tokens[n_chunk·n_ctx] (the text's
/// tokens, BOS not substituted), then for every chunk and every scored position (n_ctx − 1 − n_ctx/2 of them) one row
/// of nv = 2·⌈n_vocab/2⌉ + 4 uint16: f32 scale, f32 min_log_prob, then each token's log-probability quantized as
/// round((logit − min_logit)/scale) over [max_logit − 24, max_logit]. IQuant writes and reads exactly this layout, so
/// files are interchangeable with llama-perplexity.
/// </summary>
public sealed class LogitsBaseFile
{
    /// <summary>The 8-byte magic.</summary>
    public static ReadOnlySpan<byte> Magic => "_logits_"u8;

    /// <summary>Chunk length.</summary>
    public required int Context { get; init; }
    /// <summary>Vocabulary size.</summary>
    public required int VocabSize { get; init; }
    /// <summary>Chunks stored.</summary>
    public required int Chunks { get; init; }
    /// <summary>The first Chunks·Context tokens of the text.</summary>
    public required int[] Tokens { get; init; }
    /// <summary>The file.</summary>
    public string Path { get; init; } = "";

    /// <summary>uint16 values per stored row.</summary>
    public static int RowValues(int vocab) => 2 * ((vocab + 1) / 2) + 4;
    /// <summary>Scored positions per chunk: n_ctx − 1 − n_ctx/2.</summary>
    public static int ScoredPerChunk(int context) => context - 1 - context / 2;
    /// <summary>Byte offset of the first chunk's rows.</summary>
    public long DataOffset => 20L + 4L * Context * Chunks;
    /// <summary>Bytes of one chunk's rows.</summary>
    public long ChunkBytes => 2L * ScoredPerChunk(Context) * RowValues(VocabSize);
    /// <summary>The file size this header implies.</summary>
    public long ExpectedLength => DataOffset + ChunkBytes * Chunks;

    /// <summary>Reads the header and tokens; checks the length. Throws <see cref="LogitsFileException"/>.</summary>
    public static LogitsBaseFile ReadHeader(string path)
    {
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            Span<byte> head = stackalloc byte[20];
            if (fs.ReadAtLeast(head, 20, throwOnEndOfStream: false) < 20 || !head[..8].SequenceEqual(Magic))
                throw new LogitsFileException("LogitsFileBadMagic", path, $"'{path}' is not a llama-perplexity log-probabilities file (no _logits_ magic).");
            int nCtx = BinaryPrimitives.ReadInt32LittleEndian(head[8..]);
            int nVocab = BinaryPrimitives.ReadInt32LittleEndian(head[12..]);
            int nChunk = BinaryPrimitives.ReadInt32LittleEndian(head[16..]);
            if (nCtx < 4 || nVocab <= 0 || nChunk <= 0 || (long)nCtx * nChunk > int.MaxValue / 4)
                throw new LogitsFileException("LogitsFileBadHeader", path, $"'{path}' has an invalid header (n_ctx {nCtx}, n_vocab {nVocab}, n_chunk {nChunk}).");
            var tokens = new int[nCtx * nChunk];
            var tb = MemoryMarshal.AsBytes(tokens.AsSpan());
            if (fs.ReadAtLeast(tb, tb.Length, throwOnEndOfStream: false) < tb.Length)
                throw new LogitsFileException("LogitsFileTruncated", path, $"'{path}' ends inside its token list.");
            if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Big-endian hosts are not supported.");
            var f = new LogitsBaseFile { Context = nCtx, VocabSize = nVocab, Chunks = nChunk, Tokens = tokens, Path = path };
            if (fs.Length < f.ExpectedLength)
                throw new LogitsFileException("LogitsFileTruncated", path, $"'{path}' has {fs.Length} bytes; its header needs {f.ExpectedLength}.");
            return f;
        }
        catch (FileNotFoundException) { throw new LogitsFileException("LogitsFileNotFound", path, $"'{path}' does not exist."); }
        catch (DirectoryNotFoundException) { throw new LogitsFileException("LogitsFileNotFound", path, $"'{path}' does not exist."); }
    }

    /// <summary>
    /// Encodes one logits row as llama-perplexity's <c>log_softmax(n_vocab, logits, log_prob, tok)</c> does and returns
    /// the negative log-likelihood of <paramref name="token"/> (computed in f32 as there).
    /// </summary>
    public static double EncodeRow(ReadOnlySpan<float> logits, int token, Span<ushort> row)
    {
        int n = logits.Length;
        float maxLogit = logits[0], minLogit = logits[0];
        for (int i = 1; i < n; i++) { maxLogit = Math.Max(maxLogit, logits[i]); minLogit = Math.Min(minLogit, logits[i]); }
        minLogit = Math.Max(minLogit, maxLogit - 24);
        double sumExp = 0;
        for (int i = 0; i < n; i++) sumExp += MathF.Exp(logits[i] - maxLogit);
        float logSumExp = (float)Math.Log(sumExp);
        float minLogProb = minLogit - maxLogit - logSumExp;
        float scale = (maxLogit - minLogit) / 65535f;
        var d = MemoryMarshal.Cast<ushort, float>(row[..4]);
        d[0] = scale;
        d[1] = minLogProb;
        var q = row.Slice(4, n);
        if (scale != 0)
        {
            float inv = 1 / scale;
            for (int i = 0; i < n; i++) q[i] = logits[i] > minLogit ? (ushort)NearestInt(inv * (logits[i] - minLogit)) : (ushort)0;
        }
        else q.Clear();
        row[(4 + n)..].Clear();
        return maxLogit + logSumExp - logits[token];
    }

    /// <summary>ggml's nearest_int: round half to even through the 1.5·2²³ trick.</summary>
    internal static int NearestInt(float v)
    {
        float val = v + 12582912f;
        int i = BitConverter.SingleToInt32Bits(val);
        return (i & 0x007fffff) - 0x00400000;
    }
}

/// <summary>Progress of a reference or comparison run after each chunk.</summary>
public readonly record struct KlProgress(int Chunk, int Chunks, double RunningPpl, double RunningKld, TimeSpan Elapsed);

/// <summary>The statistics llama-perplexity --kl-divergence prints.</summary>
public sealed record KlDivergenceResult
{
    /// <summary>Tokens scored.</summary>
    public required int Count { get; init; }
    /// <summary>Chunks evaluated.</summary>
    public required int Chunks { get; init; }
    /// <summary>Chunk length.</summary>
    public required int Context { get; init; }
    /// <summary>PPL of the model (Mean PPL(Q)) and its ±.</summary>
    public required double Ppl { get; init; }
    /// <summary>± of <see cref="Ppl"/>.</summary>
    public required double PplError { get; init; }
    /// <summary>PPL of the reference from its stored log-probabilities (Mean PPL(base)).</summary>
    public required double ReferencePpl { get; init; }
    /// <summary>± of <see cref="ReferencePpl"/>.</summary>
    public required double ReferencePplError { get; init; }
    /// <summary>Cor(ln(PPL(Q)), ln(PPL(base))).</summary>
    public required double Correlation { get; init; }
    /// <summary>Mean ln(PPL(Q)/PPL(base)).</summary>
    public required double LnPplRatio { get; init; }
    /// <summary>± of <see cref="LnPplRatio"/>.</summary>
    public required double LnPplRatioError { get; init; }
    /// <summary>Mean PPL(Q)/PPL(base).</summary>
    public required double PplRatio { get; init; }
    /// <summary>± of <see cref="PplRatio"/>.</summary>
    public required double PplRatioError { get; init; }
    /// <summary>Mean PPL(Q) − PPL(base).</summary>
    public required double PplDifference { get; init; }
    /// <summary>± of <see cref="PplDifference"/>.</summary>
    public required double PplDifferenceError { get; init; }
    /// <summary>Mean KLD.</summary>
    public required double MeanKld { get; init; }
    /// <summary>± of <see cref="MeanKld"/>.</summary>
    public required double MeanKldError { get; init; }
    /// <summary>Largest KLD.</summary>
    public required double MaxKld { get; init; }
    /// <summary>99.9th percentile KLD.</summary>
    public required double Kld999 { get; init; }
    /// <summary>99th percentile KLD.</summary>
    public required double Kld99 { get; init; }
    /// <summary>95th percentile KLD.</summary>
    public required double Kld95 { get; init; }
    /// <summary>90th percentile KLD.</summary>
    public required double Kld90 { get; init; }
    /// <summary>Median KLD.</summary>
    public required double MedianKld { get; init; }
    /// <summary>10th percentile KLD.</summary>
    public required double Kld10 { get; init; }
    /// <summary>Smallest KLD.</summary>
    public required double MinKld { get; init; }
    /// <summary>Mean Δp = p(token) − p_base(token), as a fraction.</summary>
    public required double MeanDeltaP { get; init; }
    /// <summary>± of <see cref="MeanDeltaP"/>.</summary>
    public required double MeanDeltaPError { get; init; }
    /// <summary>RMS Δp.</summary>
    public required double RmsDeltaP { get; init; }
    /// <summary>± of <see cref="RmsDeltaP"/>.</summary>
    public required double RmsDeltaPError { get; init; }
    /// <summary>Largest |Δp| seen.</summary>
    public required double MaxAbsDeltaP { get; init; }
    /// <summary>Fraction of positions whose most probable token is the reference's ("Same top p").</summary>
    public required double SameTop { get; init; }
    /// <summary>± of <see cref="SameTop"/>.</summary>
    public required double SameTopError { get; init; }
    /// <summary>Wall time of the evaluation.</summary>
    public TimeSpan Time { get; init; }
}

/// <summary>Running sums of llama-perplexity's <c>kl_divergence_result</c> plus the per-token values.</summary>
public sealed class KlAccumulator
{
    private double _nll, _nll2, _nllBase, _nllBase2, _nllNllBase, _kld, _kld2, _pd, _pd2, _pd4;
    private float _maxPd;
    private long _sameTop;
    private readonly List<float> _klds = [];
    private readonly List<float> _pDiffs = [];

    /// <summary>Tokens added.</summary>
    public int Count => _klds.Count;
    /// <summary>The per-token KL divergences.</summary>
    public IReadOnlyList<float> Klds => _klds;

    /// <summary>
    /// Adds one position: the model's <paramref name="logits"/> against the stored reference <paramref name="baseRow"/>,
    /// <paramref name="token"/> being the next token (llama-perplexity's <c>log_softmax(n_vocab, logits, base_log_prob, tok, kld)</c>).
    /// </summary>
    public void Add(ReadOnlySpan<float> logits, ReadOnlySpan<ushort> baseRow, int token)
    {
        int n = logits.Length;
        float maxLogit = logits[0];
        int imax = 0;
        for (int i = 1; i < n; i++) if (logits[i] > maxLogit) { maxLogit = logits[i]; imax = i; }
        double sumExp = 0;
        for (int i = 0; i < n; i++) sumExp += MathF.Exp(logits[i] - maxLogit);
        float logSumExp = (float)Math.Log(sumExp);
        var d = MemoryMarshal.Cast<ushort, float>(baseRow[..4]);
        float scale = d[0], minLogProb = d[1];
        var q = baseRow.Slice(4, n);

        float nll = maxLogit + logSumExp - logits[token];
        _nll += nll; _nll2 += nll * nll;
        float nllBase = -(scale * q[token] + minLogProb);
        _nllBase += nllBase; _nllBase2 += nllBase * nllBase;
        _nllNllBase += nll * nllBase;

        maxLogit += logSumExp;
        double sum = 0;
        int imaxBase = -1;
        float pLogBaseMax = 0;
        for (int i = 0; i < n; i++)
        {
            float pLogBase = scale * q[i] + minLogProb;
            if (i == 0 || pLogBase > pLogBaseMax) { pLogBaseMax = pLogBase; imaxBase = i; }
            if (pLogBase > -16f)
            {
                float pBase = MathF.Exp(pLogBase);
                float diff = pLogBase - logits[i] + maxLogit;
                sum += pBase * diff;
            }
        }
        _kld += sum; _kld2 += sum * sum;
        if (imax == imaxBase) _sameTop++;
        float pb = MathF.Exp(-nllBase), p = MathF.Exp(-nll);
        float pDiff = p - pb;
        _pd += pDiff;
        double pDiff2 = pDiff * pDiff;
        _pd2 += pDiff2; _pd4 += pDiff2 * pDiff2;
        _maxPd = Math.Max(_maxPd, Math.Abs(pDiff));
        _klds.Add((float)sum);
        _pDiffs.Add(pDiff);
    }

    /// <summary>Running mean KLD.</summary>
    public double MeanKld => Count == 0 ? double.NaN : _kld / Count;
    /// <summary>Running PPL of the model.</summary>
    public double Ppl => Count == 0 ? double.NaN : Math.Exp(_nll / Count);

    /// <summary>llama-perplexity's <c>mean_and_uncertainty</c>.</summary>
    public static (double Mean, double Error) MeanAndUncertainty(double sum, double sum2, long count)
    {
        if (count < 1) return (0, 0);
        double f = sum / count;
        double df = sum2 / count - f * f;
        df = df > 0 && count > 10 ? Math.Sqrt(df / (count - 1)) : 0;
        return (f, df);
    }

    /// <summary>llama-perplexity's <c>covariance</c>.</summary>
    public static double Covariance(double sumA, double sumB, double sumAB, long count)
    {
        if (count < 10) return 0;
        double v = sumAB / count - (sumA / count) * (sumB / count);
        return v / (count - 1);
    }

    /// <summary>llama-perplexity's percentile of a sorted list (linear interpolation in f32).</summary>
    public static float Percentile(IReadOnlyList<float> sorted, float fraction)
    {
        if (fraction <= 0) return sorted[0];
        if (fraction >= 1) return sorted[^1];
        float p = fraction * (sorted.Count - 1);
        int ip = (int)p; p -= ip;
        return (1 - p) * sorted[ip] + p * sorted[Math.Min(ip + 1, sorted.Count - 1)];
    }

    /// <summary>Median as llama-perplexity computes it (mean of the two middle values for an even count, in f32).</summary>
    public static float Median(IReadOnlyList<float> sorted) =>
        sorted.Count % 2 == 0 ? 0.5f * (sorted[sorted.Count / 2] + sorted[sorted.Count / 2 - 1]) : sorted[sorted.Count / 2];

    /// <summary>The final statistics.</summary>
    public KlDivergenceResult Result(int chunks, int context, TimeSpan time)
    {
        long n = Count;
        if (n == 0) throw new InvalidOperationException("No tokens were compared.");
        var klds = _klds.ToArray(); Array.Sort(klds);
        var pds = _pDiffs.ToArray(); Array.Sort(pds);
        var logPpl = MeanAndUncertainty(_nll, _nll2, n);
        double ppl = Math.Exp(logPpl.Mean), pplUnc = ppl * logPpl.Error;
        var logPplBase = MeanAndUncertainty(_nllBase, _nllBase2, n);
        double pplBase = Math.Exp(logPplBase.Mean), pplBaseUnc = pplBase * logPplBase.Error;
        double cov = Covariance(_nll, _nllBase, _nllNllBase, n);
        double cor = cov / (logPpl.Error * logPplBase.Error);
        double lnRatio = logPpl.Mean - logPplBase.Mean;
        double lnRatioUnc = Math.Sqrt(logPpl.Error * logPpl.Error + logPplBase.Error * logPplBase.Error - 2.0 * cov);
        double ratio = Math.Exp(lnRatio);
        double pplCov = ppl * pplBase * cov;
        var kl = MeanAndUncertainty(_kld, _kld2, n);
        var pd = MeanAndUncertainty(_pd, _pd2, n);
        var mse = MeanAndUncertainty(_pd2, _pd4, n);
        double rms = Math.Sqrt(mse.Mean);
        double same = (double)_sameTop / n;
        return new KlDivergenceResult
        {
            Count = (int)n, Chunks = chunks, Context = context,
            Ppl = ppl, PplError = pplUnc, ReferencePpl = pplBase, ReferencePplError = pplBaseUnc,
            Correlation = cor, LnPplRatio = lnRatio, LnPplRatioError = lnRatioUnc,
            PplRatio = ratio, PplRatioError = ratio * lnRatioUnc,
            PplDifference = ppl - pplBase,
            PplDifferenceError = Math.Sqrt(pplUnc * pplUnc + pplBaseUnc * pplBaseUnc - 2.0 * pplCov),
            MeanKld = kl.Mean, MeanKldError = kl.Error,
            MaxKld = klds[^1], Kld999 = Percentile(klds, 0.999f), Kld99 = Percentile(klds, 0.990f), Kld95 = Percentile(klds, 0.950f),
            Kld90 = Percentile(klds, 0.900f), MedianKld = Median(klds), Kld10 = Percentile(klds, 0.100f), MinKld = klds[0],
            MeanDeltaP = pd.Mean, MeanDeltaPError = pd.Error,
            RmsDeltaP = rms, RmsDeltaPError = rms > 0 ? 0.5 / rms * mse.Error : 0, MaxAbsDeltaP = _maxPd,
            SameTop = same, SameTopError = n > 1 ? Math.Sqrt(same * (1.0 - same) / (n - 1)) : 0,
            Time = time,
        };
    }
}

/// <summary>llama-perplexity's --kl-divergence-base and --kl-divergence runs on IQuant's engine.</summary>
public static class KlDivergence
{
    /// <summary>The chunking of llama-perplexity: (chunks, tokens stored) for a tokenized text.</summary>
    public static int ChunkCount(int tokens, int context, int maxChunks)
    {
        int max = tokens / context;
        return maxChunks <= 0 ? max : Math.Min(maxChunks, max);
    }

    /// <summary>
    /// Evaluates the reference model on the text's chunks (llama-perplexity's chunking: first token of each chunk
    /// replaced by BOS when the model adds one) and writes the log-probabilities file to <paramref name="path"/>
    /// (atomically: a temp file renamed into place). Returns the reference's PPL over the scored positions.
    /// </summary>
    public static PerplexityResult WriteReference(InferenceContext context, IReadOnlyList<int> tokens, int nCtx, int maxChunks,
        bool addBos, int bosId, string path, IProgress<KlProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(tokens);
        if (nCtx < 4 || nCtx > context.ContextLength) throw new ArgumentOutOfRangeException(nameof(nCtx));
        if (tokens.Count < 2 * nCtx)
            throw new ArgumentException($"KL-divergence with a context of {nCtx} needs at least {2 * nCtx} tokens; the text has {tokens.Count}.", nameof(tokens));
        int nChunk = ChunkCount(tokens.Count, nCtx, maxChunks);
        int nVocab = context.VocabSize;
        int nv = LogitsBaseFile.RowValues(nVocab);
        int first = nCtx / 2, scored = LogitsBaseFile.ScoredPerChunk(nCtx);
        var logits = new float[(long)(nCtx - first) * nVocab];
        var rows = new ushort[(long)scored * nv];
        var chunk = new int[nCtx];
        var full = System.IO.Path.GetFullPath(path);
        var tmp = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(full)!, $".{System.IO.Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        double nll = 0, nll2 = 0;
        int count = 0;
        var sw = Stopwatch.StartNew();
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> head = stackalloc byte[20];
                Magic().CopyTo(head);
                BinaryPrimitives.WriteInt32LittleEndian(head[8..], nCtx);
                BinaryPrimitives.WriteInt32LittleEndian(head[12..], nVocab);
                BinaryPrimitives.WriteInt32LittleEndian(head[16..], nChunk);
                fs.Write(head);
                var toks = new int[nChunk * nCtx];
                for (int i = 0; i < toks.Length; i++) toks[i] = tokens[i];
                fs.Write(MemoryMarshal.AsBytes(toks.AsSpan()));
                for (int i = 0; i < nChunk; i++)
                {
                    cancel.ThrowIfCancellationRequested();
                    int start = i * nCtx;
                    toks.AsSpan(start, nCtx).CopyTo(chunk);
                    if (addBos) chunk[0] = bosId;
                    context.Evaluate(chunk, 0, first, logits, cancel);
                    for (int r = 0; r < scored; r++)
                    {
                        double v = LogitsBaseFile.EncodeRow(new ReadOnlySpan<float>(logits, r * nVocab, nVocab), toks[start + first + r + 1],
                            rows.AsSpan(r * nv, nv));
                        nll += v; nll2 += v * v;
                    }
                    count += scored;
                    fs.Write(MemoryMarshal.AsBytes(rows.AsSpan()));
                    progress?.Report(new KlProgress(i + 1, nChunk, Math.Exp(nll / count), 0, sw.Elapsed));
                }
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
        double mean = nll / count, var = nll2 / count - mean * mean, ppl = Math.Exp(mean);
        return new PerplexityResult
        {
            Ppl = ppl, Error = var > 0 ? Math.Sqrt(var / (count - 1)) * ppl : double.NaN, Tokens = tokens.Count, Chunks = nChunk,
            Context = nCtx, ScoredTokens = count, MeanNll = mean, Time = sw.Elapsed,
        };
    }

    private static ReadOnlySpan<byte> Magic() => LogitsBaseFile.Magic;

    /// <summary>
    /// Evaluates <paramref name="context"/>'s model on the chunks stored in <paramref name="reference"/> and compares
    /// its distributions with the stored ones (llama-perplexity --kl-divergence). <paramref name="maxChunks"/> ≤ 0 = all.
    /// </summary>
    public static KlDivergenceResult Compare(InferenceContext context, LogitsBaseFile reference, bool addBos, int bosId,
        int maxChunks = 0, IProgress<KlProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(reference);
        int nCtx = reference.Context, nVocab = reference.VocabSize;
        if (nVocab != context.VocabSize)
            throw new LogitsFileException("LogitsFileVocabularyMismatch", reference.Path,
                $"'{reference.Path}' was computed with a vocabulary of {nVocab} tokens; the model has {context.VocabSize}.");
        if (nCtx > context.ContextLength)
            throw new ArgumentException($"'{reference.Path}' uses chunks of {nCtx} tokens; the context holds only {context.ContextLength}.");
        int nChunk = maxChunks <= 0 ? reference.Chunks : Math.Min(maxChunks, reference.Chunks);
        int nv = LogitsBaseFile.RowValues(nVocab);
        int first = nCtx / 2, scored = LogitsBaseFile.ScoredPerChunk(nCtx);
        var logits = new float[(long)(nCtx - first) * nVocab];
        var rows = new ushort[(long)scored * nv];
        var chunk = new int[nCtx];
        var acc = new KlAccumulator();
        var sw = Stopwatch.StartNew();
        using var fs = new FileStream(reference.Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        fs.Position = reference.DataOffset;
        var toks = reference.Tokens;
        for (int i = 0; i < nChunk; i++)
        {
            cancel.ThrowIfCancellationRequested();
            var rb = MemoryMarshal.AsBytes(rows.AsSpan());
            if (fs.ReadAtLeast(rb, rb.Length, throwOnEndOfStream: false) < rb.Length)
                throw new LogitsFileException("LogitsFileTruncated", reference.Path, $"'{reference.Path}' ends inside chunk {i + 1}.");
            int start = i * nCtx;
            toks.AsSpan(start, nCtx).CopyTo(chunk);
            if (addBos) chunk[0] = bosId;
            context.Evaluate(chunk, 0, first, logits, cancel);
            for (int r = 0; r < scored; r++)
                acc.Add(new ReadOnlySpan<float>(logits, r * nVocab, nVocab), rows.AsSpan(r * nv, nv), toks[start + first + r + 1]);
            progress?.Report(new KlProgress(i + 1, nChunk, acc.Ppl, acc.MeanKld, sw.Elapsed));
        }
        sw.Stop();
        return acc.Result(nChunk, nCtx, sw.Elapsed);
    }
}
