using IQuant.Core.Types;

namespace IQuant.Core.Quants;

/// <summary>Thrown for input a quantizer refuses (NaN/Inf values, a bad imatrix, a bad row length).</summary>
public sealed class QuantizationInputException(string errorId, string message) : ArgumentException(message)
{
    /// <summary>Stable id for PowerShell ErrorRecords.</summary>
    public string ErrorId { get; } = errorId;
}

/// <summary>
/// Quantizes and dequantizes many rows: validates the arguments once, then spreads rows over threads.
/// Rows are independent in every ggml quantizer, so the result does not depend on the thread count.
/// </summary>
public static class RowQuantizer
{
    /// <summary>Checks row length, values and importance weights; throws <see cref="QuantizationInputException"/>.</summary>
    public static void Validate(QuantCodec codec, ReadOnlySpan<float> src, int nPerRow, ReadOnlySpan<float> imatrix)
    {
        var info = codec.Info;
        if (nPerRow <= 0 || nPerRow % info.BlockSize != 0)
            throw new QuantizationInputException("RowLengthNotMultipleOfBlock",
                $"Row length {nPerRow} is not a positive multiple of the {info.DisplayName} block size {info.BlockSize}.");
        if (src.Length % nPerRow != 0)
            throw new QuantizationInputException("InputNotWholeRows", $"Input of {src.Length} values is not a whole number of {nPerRow}-value rows.");
        if (!imatrix.IsEmpty)
        {
            if (imatrix.Length != nPerRow)
                throw new QuantizationInputException("ImatrixLengthMismatch",
                    $"Importance matrix has {imatrix.Length} values but rows have {nPerRow}.");
            for (int i = 0; i < imatrix.Length; i++)
            {
                float w = imatrix[i];
                if (!float.IsFinite(w) || w < 0)
                    throw new QuantizationInputException("ImatrixValueInvalid",
                        $"Importance weight {i} is {w}; weights must be finite and non-negative.");
            }
        }
        int bad = IndexOfNonFinite(src);
        if (bad >= 0)
            throw new QuantizationInputException("InputValueNotFinite",
                $"Input value at row {bad / nPerRow}, column {bad % nPerRow} is {src[bad]}; quantization needs finite values.");
    }

    /// <summary>Index of the first NaN or infinity, or -1.</summary>
    public static int IndexOfNonFinite(ReadOnlySpan<float> x)
    {
        // |x| bits >= 0x7F800000 means Inf or NaN.
        var bits = System.Runtime.InteropServices.MemoryMarshal.Cast<float, uint>(x);
        int i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated && bits.Length >= System.Numerics.Vector<uint>.Count)
        {
            var mask = new System.Numerics.Vector<uint>(0x7FFFFFFFu);
            var lim = new System.Numerics.Vector<uint>(0x7F800000u);
            int w = System.Numerics.Vector<uint>.Count;
            for (; i <= bits.Length - w; i += w)
            {
                var v = new System.Numerics.Vector<uint>(bits.Slice(i, w)) & mask;
                if (System.Numerics.Vector.GreaterThanOrEqualAny(v, lim)) break;
            }
        }
        for (; i < bits.Length; i++)
            if ((bits[i] & 0x7FFFFFFFu) >= 0x7F800000u) return i;
        return -1;
    }

    /// <summary>
    /// Quantizes <c>src.Length / nPerRow</c> rows into <paramref name="dst"/> (row-major, each row
    /// <see cref="TypeInfo.RowSize"/> bytes), using up to <paramref name="threads"/> threads (0 = all cores).
    /// </summary>
    public static unsafe void Quantize(QuantCodec codec, ReadOnlySpan<float> src, int nPerRow, ReadOnlySpan<float> imatrix,
        Span<byte> dst, int threads = 0, CancellationToken cancellationToken = default)
    {
        Validate(codec, src, nPerRow, imatrix);
        long rows = src.Length / nPerRow;
        int rowBytes = checked((int)codec.Info.RowSize(nPerRow));
        if (dst.Length < rows * rowBytes)
            throw new ArgumentException($"Destination has {dst.Length} bytes; {rows * rowBytes} needed.", nameof(dst));
        int chunk = Math.Max(1, codec.ChunkRows(nPerRow, !imatrix.IsEmpty));
        fixed (float* ps = src) fixed (float* pw = imatrix) fixed (byte* pd = dst)
        {
            float* s = ps; float* w = pw; byte* d = pd; int wl = imatrix.Length;
            if (chunk == 1)
            {
                ForRows(rows, threads, cancellationToken, r =>
                {
                    codec.QuantizeRow(new ReadOnlySpan<float>(s + r * nPerRow, nPerRow),
                        new Span<byte>(d + r * rowBytes, rowBytes), new ReadOnlySpan<float>(w, wl));
                });
            }
            else
            {
                // Row-dependent encoders (Q2_K without imatrix): chunks of `chunk` consecutive rows, as llama-quantize.
                ForRows((rows + chunk - 1) / chunk, threads, cancellationToken, c =>
                {
                    long r0 = c * chunk, nr = Math.Min(chunk, rows - r0);
                    codec.QuantizeChunk(new ReadOnlySpan<float>(s + r0 * nPerRow, checked((int)(nr * nPerRow))), nPerRow,
                        new Span<byte>(d + r0 * rowBytes, checked((int)(nr * rowBytes))), new ReadOnlySpan<float>(w, wl));
                });
            }
        }
    }

    /// <summary>Dequantizes rows of <paramref name="nPerRow"/> elements; <c>dst.Length</c> must be a multiple of it.</summary>
    public static unsafe void Dequantize(QuantCodec codec, ReadOnlySpan<byte> src, int nPerRow, Span<float> dst,
        int threads = 0, CancellationToken cancellationToken = default)
    {
        long rows = dst.Length / nPerRow;
        int rowBytes = checked((int)codec.Info.RowSize(nPerRow));
        if (src.Length < rows * rowBytes)
            throw new ArgumentException($"Source has {src.Length} bytes; {rows * rowBytes} needed.", nameof(src));
        fixed (byte* ps = src) fixed (float* pd = dst)
        {
            byte* s = ps; float* d = pd;
            ForRows(rows, threads, cancellationToken, r =>
                codec.DequantizeRow(new ReadOnlySpan<byte>(s + r * rowBytes, rowBytes), new Span<float>(d + r * nPerRow, nPerRow)));
        }
    }

    /// <summary>Runs <paramref name="body"/> for every row, in contiguous chunks over the threads.</summary>
    internal static void ForRows(long rows, int threads, CancellationToken ct, Action<long> body)
    {
        int n = threads <= 0 ? Environment.ProcessorCount : threads;
        if (n == 1 || rows < 2)
        {
            for (long r = 0; r < rows; r++) { ct.ThrowIfCancellationRequested(); body(r); }
            return;
        }
        long next = -1;
        var opts = new ParallelOptions { MaxDegreeOfParallelism = n, CancellationToken = ct };
        try
        {
            Parallel.For(0, n, opts, _ =>
            {
                long r;
                while ((r = Interlocked.Increment(ref next)) < rows)
                {
                    ct.ThrowIfCancellationRequested();
                    body(r);
                }
            });
        }
        catch (AggregateException ae) when (ae.InnerExceptions.Count > 0 && ae.InnerExceptions.All(e => e is QuantizationInputException))
        {
            // Surface input errors found by a codec (e.g. a scale that overflows fp16) as themselves.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ae.InnerExceptions[0]).Throw();
        }
    }
}
