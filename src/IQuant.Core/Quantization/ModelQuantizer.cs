using System.Diagnostics;
using System.Runtime.InteropServices;
using IQuant.Core.Gguf;
using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Core.Quantization;

/// <summary>What to do with one tensor of the source model.</summary>
/// <param name="Tensor">The source tensor.</param>
/// <param name="Target">The type to write (equal to the source type for a copy).</param>
/// <param name="Quantize">False: the bytes are copied unchanged.</param>
/// <param name="Reason">Why this type (recipe rule, override, fallback), for -WhatIf and -Verbose.</param>
/// <param name="Imatrix">Importance weights: ne0 values, or ne0·ne2 for 3-D (expert) tensors; null for none.</param>
public sealed record TensorPlanItem(GgufTensorInfo Tensor, GgmlType Target, bool Quantize, string Reason, float[]? Imatrix = null)
{
    /// <summary>Bytes of the tensor in the target type.</summary>
    public long TargetBytes => Quantize ? TypeTable.Get(Target).RowSize(Tensor.RowLength) * Tensor.Rows : Tensor.ByteSize;
}

/// <summary>Result of one tensor.</summary>
public sealed record QuantizeTensorResult(string Name, GgmlType SourceType, GgmlType TargetType, long SourceBytes, long ResultBytes,
    long Elements, double Rmse, double RelativeError, TimeSpan Elapsed, bool Quantized, string Reason)
{
    /// <summary>Bits per weight of the result.</summary>
    public double Bpw => Elements == 0 ? 0 : 8.0 * ResultBytes / Elements;
}

/// <summary>Result of a whole file.</summary>
public sealed record QuantizeFileResult(IReadOnlyList<string> Paths, long FileSize, long TensorBytes, long Elements, int Tensors,
    int QuantizedTensors, TimeSpan Elapsed)
{
    /// <summary>Bits per weight over all tensor data.</summary>
    public double Bpw => Elements == 0 ? 0 : 8.0 * TensorBytes / Elements;
}

/// <summary>Progress of a running job.</summary>
public readonly record struct QuantizeProgress(int TensorIndex, int TensorCount, string TensorName, long BytesDone, long BytesTotal);

/// <summary>Settings of a quantization run.</summary>
public sealed record QuantizeSettings
{
    /// <summary>Threads for the row-parallel work; 0 = all cores.</summary>
    public int Threads { get; init; }
    /// <summary>Replace an existing output.</summary>
    public bool Overwrite { get; init; }
    /// <summary>Split output by size (0 = no limit).</summary>
    public long MaxShardBytes { get; init; }
    /// <summary>Split output by tensor count (0 = no limit).</summary>
    public int MaxShardTensors { get; init; }
    /// <summary>Allow quantized (non-float) source tensors to be dequantized and quantized again.</summary>
    public bool AllowRequantize { get; init; }
    /// <summary>Compute RMSE / relative error per tensor (one extra dequantize per chunk).</summary>
    public bool MeasureError { get; init; } = true;
    /// <summary>Encoder variant per type (e.g. IQ2_KS → "scalar"); default encoders otherwise.</summary>
    public IReadOnlyDictionary<GgmlType, string> Variants { get; init; } = new Dictionary<GgmlType, string>();
    /// <summary>Floats per work chunk; bounds memory (three buffers of this many values).</summary>
    public int ChunkValues { get; init; } = 4 << 20;
}

/// <summary>Thrown when a plan cannot be carried out (before anything is written).</summary>
public sealed class QuantizePlanException(string errorId, string tensor, string message) : Exception(message)
{
    /// <summary>Stable id for PowerShell ErrorRecords.</summary>
    public string ErrorId { get; } = errorId;
    /// <summary>The tensor concerned.</summary>
    public string Tensor { get; } = tensor;
}

/// <summary>
/// Writes a new GGUF from a source model and a per-tensor plan, streaming tensor by tensor and, inside a tensor,
/// chunk by chunk: memory stays bounded by <see cref="QuantizeSettings.ChunkValues"/> whatever the model size.
/// Output goes to a temp file renamed into place only on success (cancellation or any error leaves nothing).
/// </summary>
public static class ModelQuantizer
{
    /// <summary>Checks a plan without writing: types, requantization, imatrix sizes. Throws <see cref="QuantizePlanException"/>.</summary>
    public static void Validate(IReadOnlyList<TensorPlanItem> plan, QuantizeSettings settings)
    {
        foreach (var p in plan)
        {
            var t = p.Tensor;
            if (!p.Quantize) continue;
            var target = TypeTable.Get(p.Target);
            var codec = CodecFor(p.Target, settings);
            if (codec is null || !codec.CanQuantize)
                throw new QuantizePlanException("TargetTypeNotSupported", t.Name, $"IQuant cannot quantize to {target.DisplayName} (tensor '{t.Name}').");
            if (t.TypeInfo is null || !Codecs.CanDequantize(t.Type))
                throw new QuantizePlanException("SourceTypeNotSupported", t.Name, $"Tensor '{t.Name}' is stored as {t.TypeInfo?.DisplayName ?? "type " + t.TypeId}, which IQuant cannot read.");
            if (t.TypeInfo.Kind != TypeKind.Float && !settings.AllowRequantize)
                throw new QuantizePlanException("RequantizeNotAllowed", t.Name,
                    $"Tensor '{t.Name}' is already quantized ({t.TypeInfo.DisplayName}); use -AllowRequantize to dequantize and quantize it again.");
            if (t.RowLength % target.BlockSize != 0)
                throw new QuantizePlanException("RowLengthNotMultipleOfBlock", t.Name,
                    $"Tensor '{t.Name}' has rows of {t.RowLength}, not a multiple of the {target.DisplayName} block size {target.BlockSize}.");
            if (p.Imatrix is { } im)
            {
                long experts = t.Shape.Length >= 3 ? t.Shape[2] : 1;
                if (im.Length != t.RowLength * experts)
                    throw new QuantizePlanException("ImatrixSizeMismatch", t.Name,
                        $"The imatrix entry for '{t.Name}' has {im.Length} values; {t.RowLength * experts} expected.");
            }
        }
    }

    private static QuantCodec? CodecFor(GgmlType type, QuantizeSettings s) =>
        s.Variants.TryGetValue(type, out var v) ? Codecs.TryGet(type, v) : Codecs.TryGet(type);

    /// <summary>Runs the plan (one item per source tensor, in the source's order) and writes <paramref name="outPath"/>.</summary>
    public static QuantizeFileResult Run(GgufFile source, IReadOnlyList<TensorPlanItem> plan, IReadOnlyList<GgufMetadataEntry> metadata,
        string outPath, QuantizeSettings settings, IProgress<QuantizeProgress>? progress = null,
        Action<QuantizeTensorResult>? onTensor = null, CancellationToken cancellationToken = default)
    {
        Validate(plan, settings);
        var total = Stopwatch.StartNew();
        var specs = plan.Select(p => new GgufTensorSpec(p.Tensor.Name, p.Tensor.Shape, p.Quantize ? p.Target : p.Tensor.Type)).ToList();
        long bytesTotal = plan.Sum(p => p.Tensor.ByteSize);
        long bytesDone = 0, tensorBytes = 0, elements = 0;
        int quantized = 0;
        var writerOptions = new GgufWriterOptions
        {
            Overwrite = settings.Overwrite,
            InputPaths = source.ShardPaths,
            MaxShardBytes = settings.MaxShardBytes,
            MaxShardTensors = settings.MaxShardTensors,
        };
        using var writer = new GgufWriter(outPath, metadata, specs, writerOptions);
        float[]? src = null, deq = null;
        byte[]? outBuf = null, raw = null;
        try
        {
            for (int i = 0; i < plan.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var p = plan[i];
                progress?.Report(new QuantizeProgress(i, plan.Count, p.Tensor.Name, bytesDone, bytesTotal));
                var sw = Stopwatch.StartNew();
                QuantizeTensorResult result;
                if (!p.Quantize)
                {
                    CopyTensor(source, p.Tensor, writer, i, ref raw, cancellationToken);
                    result = new(p.Tensor.Name, p.Tensor.Type, p.Tensor.Type, p.Tensor.ByteSize, p.Tensor.ByteSize, p.Tensor.Elements,
                        0, 0, sw.Elapsed, false, p.Reason);
                }
                else
                {
                    var (rmse, rel, bytes) = QuantizeTensor(source, p, writer, i, settings, ref src, ref deq, ref outBuf, ref raw, cancellationToken);
                    quantized++;
                    result = new(p.Tensor.Name, p.Tensor.Type, p.Target, p.Tensor.ByteSize, bytes, p.Tensor.Elements, rmse, rel, sw.Elapsed, true, p.Reason);
                }
                bytesDone += p.Tensor.ByteSize;
                tensorBytes += result.ResultBytes;
                elements += p.Tensor.Elements;
                onTensor?.Invoke(result);
            }
            cancellationToken.ThrowIfCancellationRequested();
            writer.Commit();
        }
        finally
        {
            src = null; deq = null; outBuf = null; raw = null;
        }
        var paths = writer.ShardPaths;
        long size = paths.Sum(p => new FileInfo(p).Length);
        progress?.Report(new QuantizeProgress(plan.Count, plan.Count, "", bytesTotal, bytesTotal));
        return new QuantizeFileResult(paths, size, tensorBytes, elements, plan.Count, quantized, total.Elapsed);
    }

    private const int CopyChunk = 8 << 20;

    /// <summary>Copies a tensor's bytes in chunks through positional reads (no memory-map pages stay resident).</summary>
    private static void CopyTensor(GgufFile source, GgufTensorInfo t, GgufWriter writer, int index, ref byte[]? raw, CancellationToken ct)
    {
        if (raw is null || raw.Length < CopyChunk) raw = new byte[Math.Max(CopyChunk, raw?.Length ?? 0)];
        for (long done = 0; done < t.ByteSize;)
        {
            ct.ThrowIfCancellationRequested();
            int n = (int)Math.Min(raw.Length, t.ByteSize - done);
            source.ReadTensorData(t, done, raw.AsSpan(0, n));
            writer.WriteTensorChunk(index, raw.AsSpan(0, n));
            done += n;
        }
    }

    private static (double Rmse, double Rel, long Bytes) QuantizeTensor(GgufFile source, TensorPlanItem p, GgufWriter writer, int index,
        QuantizeSettings settings, ref float[]? src, ref float[]? deq, ref byte[]? outBuf, ref byte[]? raw, CancellationToken ct)
    {
        var t = p.Tensor;
        var codec = CodecFor(p.Target, settings)!;
        var srcCodec = Codecs.Get(t.Type);
        int ne0 = checked((int)t.RowLength);
        long rows = t.Rows;
        long rowsPerExpert = t.Shape.Length >= 2 ? t.Shape[1] : 1;
        int outRowBytes = checked((int)codec.Info.RowSize(ne0));
        int srcRowBytes = checked((int)t.RowSize);
        int chunkRows = (int)Math.Clamp(settings.ChunkValues / ne0, 1, rows);
        // Some quantizers decide over groups of rows (Q2_K's ternary check, as multi-threaded llama-quantize
        // chunks them): keep every work chunk a whole number of those groups so the bytes do not depend on it.
        int group = codec.ChunkRows(ne0, p.Imatrix is not null);
        if (group > 1 && chunkRows < rows) chunkRows = Math.Max(group, chunkRows / group * group);
        src ??= new float[Math.Max(settings.ChunkValues, ne0)];
        if (src.Length < chunkRows * ne0) src = new float[chunkRows * ne0];
        if (settings.MeasureError) { deq ??= new float[src.Length]; if (deq.Length < src.Length) deq = new float[src.Length]; }
        if (outBuf is null || outBuf.Length < chunkRows * outRowBytes) outBuf = new byte[chunkRows * outRowBytes];
        if (raw is null || raw.Length < chunkRows * srcRowBytes) raw = new byte[Math.Max(chunkRows * srcRowBytes, CopyChunk)];
        double sumSqErr = 0, sumSq = 0;
        long written = 0;
        for (long r0 = 0; r0 < rows;)
        {
            ct.ThrowIfCancellationRequested();
            // A chunk never crosses an expert boundary, so one imatrix slice serves all its rows.
            long expert = r0 / rowsPerExpert;
            long expertEnd = (expert + 1) * rowsPerExpert;
            int n = (int)Math.Min(chunkRows, Math.Min(rows, expertEnd) - r0);
            var srcBytes = raw.AsSpan(0, n * srcRowBytes);
            source.ReadTensorData(t, r0 * srcRowBytes, srcBytes);
            var x = src.AsSpan(0, n * ne0);
            RowQuantizer.Dequantize(srcCodec, srcBytes, ne0, x, settings.Threads, ct);
            ReadOnlySpan<float> im = p.Imatrix is { } imx ? imx.AsSpan((int)(expert % Math.Max(1, imx.Length / ne0)) * ne0, ne0) : default;
            var y = outBuf.AsSpan(0, n * outRowBytes);
            try
            {
                RowQuantizer.Quantize(codec, x, ne0, im, y, settings.Threads, ct);
            }
            catch (QuantizationInputException ex)
            {
                throw new QuantizePlanException(ex.ErrorId, t.Name, $"Tensor '{t.Name}' (rows {r0}..{r0 + n - 1}): {ex.Message}");
            }
            writer.WriteTensorChunk(index, y);
            written += y.Length;
            if (settings.MeasureError)
            {
                var d = deq!.AsSpan(0, n * ne0);
                RowQuantizer.Dequantize(codec, y, ne0, d, settings.Threads, ct);
                (double e, double s) = ErrorSums(x, d);
                sumSqErr += e; sumSq += s;
            }
            r0 += n;
        }
        double count = (double)t.Elements;
        double rmse = Math.Sqrt(sumSqErr / count);
        double rel = sumSq > 0 ? Math.Sqrt(sumSqErr / sumSq) : 0;
        return (rmse, rel, written);
    }

    /// <summary>Σ(x−y)² and Σx², in double.</summary>
    internal static (double Err, double Sq) ErrorSums(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        double e = 0, s = 0;
        int i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            int w = System.Numerics.Vector<float>.Count;
            var ve = System.Numerics.Vector<double>.Zero; var vs = System.Numerics.Vector<double>.Zero;
            var xs = MemoryMarshal.Cast<float, System.Numerics.Vector<float>>(x);
            var ys = MemoryMarshal.Cast<float, System.Numerics.Vector<float>>(y[..x.Length]);
            for (int k = 0; k < xs.Length; k++)
            {
                var d = xs[k] - ys[k];
                System.Numerics.Vector.Widen(d, out var d0, out var d1);
                System.Numerics.Vector.Widen(xs[k], out var x0, out var x1);
                ve += d0 * d0 + d1 * d1;
                vs += x0 * x0 + x1 * x1;
            }
            e = System.Numerics.Vector.Sum(ve); s = System.Numerics.Vector.Sum(vs);
            i = xs.Length * w;
        }
        for (; i < x.Length; i++) { double d = x[i] - y[i]; e += d * d; s += (double)x[i] * x[i]; }
        return (e, s);
    }

    /// <summary>
    /// The output metadata as llama-quantize writes it (spec §8.5): the input KVs in order, split keys removed,
    /// general.quantization_version = 2, the imatrix keys, and general.file_type (overwritten in place or appended).
    /// </summary>
    public static List<GgufMetadataEntry> BuildMetadata(IReadOnlyList<GgufMetadataEntry> input, LlamaFileType? fileType, ImatrixFile? imatrix,
        IEnumerable<GgufMetadataEntry>? extra = null)
    {
        var list = input.Where(e => e.Key is not ("split.no" or "split.count" or "split.tensors.count")).ToList();
        void Set(GgufMetadataEntry e)
        {
            int i = list.FindIndex(x => x.Key == e.Key);
            if (i >= 0) list[i] = e; else list.Add(e);
        }
        Set(GgufMetadataEntry.UInt32("general.quantization_version", 2));
        if (imatrix is not null)
        {
            Set(GgufMetadataEntry.String("quantize.imatrix.file", imatrix.Path));
            if (!string.IsNullOrEmpty(imatrix.Dataset)) Set(GgufMetadataEntry.String("quantize.imatrix.dataset", imatrix.Dataset));
            Set(GgufMetadataEntry.Int32("quantize.imatrix.entries_count", imatrix.Entries.Count));
            if (imatrix.Chunks > 0) Set(GgufMetadataEntry.Int32("quantize.imatrix.chunks_count", imatrix.Chunks));
        }
        if (extra is not null) foreach (var e in extra) Set(e);
        if (fileType is { } ft) Set(GgufMetadataEntry.UInt32("general.file_type", (uint)ft));
        return list;
    }
}
