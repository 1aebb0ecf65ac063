using IQuant.Core.Gguf;
using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Core.Quantization;

/// <summary>What quantizing one tensor to one type would cost.</summary>
public sealed record QuantizationError(string Tensor, GgmlType SourceType, GgmlType Type, long Elements, long Bytes,
    double Rmse, double RelativeError, double Cosine, double WeightedError)
{
    /// <summary>Bits per weight of the quantized tensor (row meta included).</summary>
    public double Bpw => Elements == 0 ? 0 : 8.0 * Bytes / Elements;
}

/// <summary>
/// Quantizes a tensor to a candidate type in memory (chunk by chunk, never written) and measures the error:
/// RMSE, relative error ‖x̂−x‖/‖x‖, cosine similarity, and the importance-weighted squared error Σ w·(x̂−x)² / Σ w·x²
/// (w from the imatrix, 1 without) that automatic mixes minimise.
/// </summary>
public static class ErrorMeasurement
{
    /// <summary>Measures <paramref name="types"/> on one tensor. <paramref name="rowStride"/> &gt; 1 samples every n-th row.</summary>
    public static unsafe IReadOnlyList<QuantizationError> Measure(GgufFile file, GgufTensorInfo t, IReadOnlyList<GgmlType> types,
        float[]? imatrix = null, int threads = 0, int rowStride = 1, CancellationToken ct = default)
    {
        var srcCodec = Codecs.TryGet(t.Type) ?? throw new NotSupportedException($"IQuant cannot read {t.TypeInfo?.DisplayName ?? "type " + t.TypeId} tensors ('{t.Name}').");
        int ne0 = checked((int)t.RowLength);
        int srcRowBytes = checked((int)t.RowSize);
        long rows = t.Rows;
        long rowsPerExpert = t.Shape.Length >= 2 ? t.Shape[1] : 1;
        rowStride = Math.Max(1, rowStride);
        var results = new List<QuantizationError>(types.Count);
        var codecs = types.Select(ty => (ty, Codecs.TryGet(ty) ?? throw new NotSupportedException($"IQuant cannot quantize to {ty}."))).ToList();
        int chunkRows = (int)Math.Clamp((1 << 21) / ne0, 1, Math.Max(1, rows));
        var x = new float[(long)chunkRows * ne0];
        var y = new float[x.Length];
        byte* basePtr = file.GetTensorPointer(t);
        var acc = new double[types.Count, 5]; // err², x², y², xy, weighted err²
        var wacc = new double[types.Count];
        var byteBufs = codecs.Select(c => new byte[chunkRows * c.Item2.Info.RowSize(ne0 % c.Item2.Info.BlockSize == 0 ? ne0 : c.Item2.Info.BlockSize)]).ToArray();
        long measuredRows = 0;
        for (long r0 = 0; r0 < rows; r0 += (long)chunkRows * rowStride)
        {
            ct.ThrowIfCancellationRequested();
            // Gather up to chunkRows rows, every rowStride-th one, not crossing an expert boundary.
            long expert = r0 / rowsPerExpert;
            int n = 0;
            for (long r = r0; r < rows && n < chunkRows && r / rowsPerExpert == expert; r += rowStride)
            {
                RowQuantizer.Dequantize(srcCodec, new ReadOnlySpan<byte>(basePtr + r * srcRowBytes, srcRowBytes), ne0, x.AsSpan(n * ne0, ne0), 1, ct);
                n++;
            }
            if (n == 0) continue;
            measuredRows += n;
            var xs = x.AsSpan(0, n * ne0);
            ReadOnlySpan<float> w = imatrix is null ? default : imatrix.AsSpan((int)(expert % Math.Max(1, imatrix.Length / ne0)) * ne0, ne0);
            for (int k = 0; k < codecs.Count; k++)
            {
                var (ty, codec) = codecs[k];
                if (ne0 % codec.Info.BlockSize != 0) continue;
                var q = byteBufs[k].AsSpan(0, n * (int)codec.Info.RowSize(ne0));
                RowQuantizer.Quantize(codec, xs, ne0, w, q, threads, ct);
                var ys = y.AsSpan(0, n * ne0);
                RowQuantizer.Dequantize(codec, q, ne0, ys, threads, ct);
                for (int i = 0; i < xs.Length; i++)
                {
                    double a = xs[i], b = ys[i], d = b - a;
                    double wi = w.IsEmpty ? 1.0 : w[i % ne0];
                    acc[k, 0] += d * d; acc[k, 1] += a * a; acc[k, 2] += b * b; acc[k, 3] += a * b; acc[k, 4] += wi * d * d;
                    wacc[k] += wi * a * a;
                }
            }
        }
        for (int k = 0; k < codecs.Count; k++)
        {
            var (ty, codec) = codecs[k];
            if (ne0 % codec.Info.BlockSize != 0) continue;
            double cnt = measuredRows * (double)ne0;
            double rmse = Math.Sqrt(acc[k, 0] / cnt);
            double rel = acc[k, 1] > 0 ? Math.Sqrt(acc[k, 0] / acc[k, 1]) : 0;
            double cos = acc[k, 1] > 0 && acc[k, 2] > 0 ? acc[k, 3] / Math.Sqrt(acc[k, 1] * acc[k, 2]) : 1;
            double werr = wacc[k] > 0 ? acc[k, 4] / wacc[k] : 0;
            results.Add(new QuantizationError(t.Name, t.Type, ty, t.Elements, codec.Info.RowSize(ne0) * rows, rmse, rel, cos, werr));
        }
        return results;
    }
}
