using System.Numerics.Tensors;
using IQuant.Core.Gguf;
using IQuant.Core.Quants;

namespace IQuant.Core.Stats;

/// <summary>Summary statistics of a tensor's values.</summary>
public sealed record TensorStats(long Count, double Min, double Max, double Mean, double Std, double AbsMax, double Rms,
    double Kurtosis, double OutlierFraction, long NonFinite, double[]? HistogramEdges, long[]? Histogram);

/// <summary>
/// Computes <see cref="TensorStats"/> of any readable tensor (dequantizing as needed) in bounded memory: the
/// tensor is read in chunks of rows; each chunk is reduced in blocks of 4096 values (TensorPrimitives, SIMD) whose
/// partial sums are accumulated in double, blocks in parallel. Two passes: moments first, then outliers
/// (|x − mean| &gt; 6σ) and the histogram, which need the mean, σ and range.
/// </summary>
public static class TensorStatistics
{
    private const int Block = 4096;

    /// <summary>Statistics of a tensor of an opened model.</summary>
    public static unsafe TensorStats Compute(GgufFile file, GgufTensorInfo t, int histogramBins = 0, int threads = 0, CancellationToken ct = default)
    {
        var codec = Codecs.TryGet(t.Type) ?? throw new NotSupportedException($"IQuant cannot read {t.TypeInfo?.DisplayName ?? "type " + t.TypeId} tensors ('{t.Name}').");
        int ne0 = checked((int)t.RowLength);
        int rowBytes = checked((int)t.RowSize);
        long rows = t.Rows;
        int chunkRows = (int)Math.Clamp((1 << 22) / ne0, 1, Math.Max(1, rows));
        var buf = new float[(long)chunkRows * ne0];
        byte* basePtr = file.GetTensorPointer(t);

        void ForChunks(Action<ReadOnlyMemory<float>> body)
        {
            for (long r0 = 0; r0 < rows; r0 += chunkRows)
            {
                ct.ThrowIfCancellationRequested();
                int n = (int)Math.Min(chunkRows, rows - r0);
                var x = buf.AsSpan(0, n * ne0);
                RowQuantizer.Dequantize(codec, new ReadOnlySpan<byte>(basePtr + r0 * rowBytes, n * rowBytes), ne0, x, threads, ct);
                body(buf.AsMemory(0, n * ne0));
            }
        }

        // Pass 1: count, sum, sum of squares, min, max, non-finite.
        double sum = 0, sumSq = 0, min = double.PositiveInfinity, max = double.NegativeInfinity;
        long nonFinite = 0;
        var gate = new object();
        ForChunks(mem => ParallelBlocks(mem, threads, ct, s =>
        {
            int bad = 0;
            if (RowQuantizer.IndexOfNonFinite(s) >= 0) { foreach (var v in s) if (!float.IsFinite(v)) bad++; }
            float lo = bad > 0 ? MinFinite(s) : TensorPrimitives.Min(s);
            float hi = bad > 0 ? MaxFinite(s) : TensorPrimitives.Max(s);
            double bs = 0, bq = 0;
            if (bad == 0) { bs = TensorPrimitives.Sum(s); bq = TensorPrimitives.SumOfSquares(s); }
            else foreach (var v in s) if (float.IsFinite(v)) { bs += v; bq += (double)v * v; }
            lock (gate) { sum += bs; sumSq += bq; min = Math.Min(min, lo); max = Math.Max(max, hi); nonFinite += bad; }
        }));
        long count = t.Elements - nonFinite;
        double mean = count > 0 ? sum / count : 0;
        double variance = count > 0 ? Math.Max(0, sumSq / count - mean * mean) : 0;
        double std = Math.Sqrt(variance);

        // Pass 2: fourth central moment, outliers, histogram.
        double m4 = 0; long outliers = 0;
        long[]? hist = histogramBins > 0 ? new long[histogramBins] : null;
        double lo0 = min, width = histogramBins > 0 && max > min ? (max - min) / histogramBins : 1;
        float fmean = (float)mean, limit = (float)(6 * std);
        ForChunks(mem => ParallelBlocks(mem, threads, ct, s =>
        {
            double b4 = 0; long bo = 0;
            long[]? h = hist is null ? null : new long[hist.Length];
            foreach (var v in s)
            {
                if (!float.IsFinite(v)) continue;
                double d = v - mean;
                double d2 = d * d;
                b4 += d2 * d2;
                if (Math.Abs(v - fmean) > limit && std > 0) bo++;
                if (h is not null) h[Math.Clamp((int)((v - lo0) / width), 0, h.Length - 1)]++;
            }
            lock (gate)
            {
                m4 += b4; outliers += bo;
                if (h is not null) for (int i = 0; i < h.Length; i++) hist![i] += h[i];
            }
        }));
        double kurtosis = variance > 0 && count > 0 ? m4 / count / (variance * variance) : 0;
        double[]? edges = hist is null ? null : Enumerable.Range(0, histogramBins + 1).Select(i => lo0 + i * width).ToArray();
        if (count == 0) { min = max = 0; }
        return new TensorStats(t.Elements, min, max, mean, std, Math.Max(Math.Abs(min), Math.Abs(max)), Math.Sqrt(count > 0 ? sumSq / count : 0),
            kurtosis, count > 0 ? (double)outliers / count : 0, nonFinite, edges, hist);
    }

    private static void ParallelBlocks(ReadOnlyMemory<float> mem, int threads, CancellationToken ct, Action<ReadOnlySpan<float>> body)
    {
        int blocks = (mem.Length + Block - 1) / Block;
        var opts = new ParallelOptions { MaxDegreeOfParallelism = threads <= 0 ? Environment.ProcessorCount : threads, CancellationToken = ct };
        if (blocks < 4) { for (int b = 0; b < blocks; b++) body(Slice(mem, b)); return; }
        Parallel.For(0, blocks, opts, b => body(Slice(mem, b)));
    }

    private static ReadOnlySpan<float> Slice(ReadOnlyMemory<float> mem, int b)
    {
        int start = b * Block;
        return mem.Span.Slice(start, Math.Min(Block, mem.Length - start));
    }

    private static float MinFinite(ReadOnlySpan<float> s) { float m = float.PositiveInfinity; foreach (var v in s) if (float.IsFinite(v) && v < m) m = v; return m; }
    private static float MaxFinite(ReadOnlySpan<float> s) { float m = float.NegativeInfinity; foreach (var v in s) if (float.IsFinite(v) && v > m) m = v; return m; }
}
