using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Core.Kernels;

/// <summary>Matrix × activations products directly on quantized weights.</summary>
public static unsafe class MatMul
{
    /// <summary>
    /// <c>y[v*Rows + r] = Σ_c W[r,c] * x[v*Cols + c]</c> for v in [0, <paramref name="nVec"/>): nVec activation rows
    /// (1 = token generation, many = prompt processing). Rows of W are spread over <paramref name="pool"/>'s threads
    /// (null = the calling thread only). Does not allocate in steady state: scratch lives in the pool (or, without a
    /// pool, in thread-static storage).
    /// </summary>
    public static void Multiply(WeightMatrix w, ReadOnlySpan<float> x, int nVec, Span<float> y, ComputePool? pool)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentOutOfRangeException.ThrowIfNegative(nVec);
        if (x.Length < (long)nVec * w.Cols) throw new ArgumentException($"x has {x.Length} values; {(long)nVec * w.Cols} needed.", nameof(x));
        if (y.Length < (long)nVec * w.Rows) throw new ArgumentException($"y has {y.Length} values; {(long)nVec * w.Rows} needed.", nameof(y));
        if (nVec == 0 || w.Rows == 0) return;
        var ctx = Context.For(pool);
        fixed (float* px = x) fixed (float* py = y)
        {
            ctx.Job.Set(w, px, nVec, py);
            try
            {
                if (pool is null) ctx.Job.Execute(0, w.Rows, 0);
                else pool.Run(ctx.Job, w.Rows, 8);
            }
            finally { ctx.Job.Clear(); }
        }
    }

    /// <summary>Reference implementation: dequantize each weight row to floats, then float dot products.</summary>
    internal static void MultiplyReference(WeightMatrix w, ReadOnlySpan<float> x, int nVec, Span<float> y)
    {
        var row = new float[w.Cols];
        for (int r = 0; r < w.Rows; r++)
        {
            DequantizeRow(w, r, row);
            for (int v = 0; v < nVec; v++)
                y[v * w.Rows + r] = TensorPrimitives.Dot<float>(row, x.Slice(v * w.Cols, w.Cols));
        }
    }

    /// <summary>Dequantizes row <paramref name="r"/> of <paramref name="w"/> into <paramref name="dst"/> (Cols floats).</summary>
    internal static void DequantizeRow(WeightMatrix w, int r, Span<float> dst)
    {
        byte* p = w.Row(r);
        switch (w.Type)
        {
            case GgmlType.F32:
                new ReadOnlySpan<float>(p, w.Cols).CopyTo(dst);
                break;
            case GgmlType.F16:
                TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(p, w.Cols), dst);
                break;
            default:
                Codecs.Get(w.Type).DequantizeRow(new ReadOnlySpan<byte>(p, checked((int)w.RowBytes)), dst.Slice(0, w.Cols));
                break;
        }
    }

    /// <summary>True if <see cref="Multiply"/> supports weights of <paramref name="type"/>.</summary>
    public static bool Supports(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 || Codecs.CanDequantize(type);

    private sealed class Context
    {
        [ThreadStatic] private static Context? t_context;
        public readonly MatMulJob Job = new();

        public static Context For(ComputePool? pool)
        {
            if (pool is null) return t_context ??= new Context();
            if (pool.MatMulContext is Context c) return c;
            c = new Context();
            pool.MatMulContext = c;
            return c;
        }
    }

    /// <summary>The row-parallel job: rows [start, end) of W against all activation rows.</summary>
    private sealed class MatMulJob : ComputeJob
    {
        private WeightMatrix? _w;
        private float* _x, _y;
        private int _nVec;
        private float[]?[] _rowBuf = new float[]?[1];

        public void Set(WeightMatrix w, float* x, int nVec, float* y)
        {
            _w = w; _x = x; _nVec = nVec; _y = y;
        }

        public void Clear() { _w = null; _x = null; _y = null; }

        public override void Execute(int start, int end, int worker)
        {
            var w = _w!;
            var bufs = _rowBuf;
            if (worker >= bufs.Length)
            {
                lock (this)
                {
                    if (worker >= _rowBuf.Length) Array.Resize(ref _rowBuf, worker + 1);
                    bufs = _rowBuf;
                }
            }
            var row = bufs[worker];
            if (row is null || row.Length < w.Cols) bufs[worker] = row = new float[w.Cols];
            var rs = row.AsSpan(0, w.Cols);
            for (int r = start; r < end; r++)
            {
                DequantizeRow(w, r, rs);
                for (int v = 0; v < _nVec; v++)
                    _y[(long)v * w.Rows + r] = TensorPrimitives.Dot<float>(rs, new ReadOnlySpan<float>(_x + (long)v * w.Cols, w.Cols));
            }
        }
    }
}
