using System.Numerics.Tensors;
using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Core.Kernels;

/// <summary>Matrix × activations products directly on quantized weights.</summary>
/// <remarks>
/// Activations are quantized once per call (Q8_K for the super-block types, Q8_0 blocks for the 32-weight block types;
/// spec §5.3)
/// into a buffer owned by the pool (or thread-static without a pool), then weight rows are split over the pool's
/// threads. Each super-block of a weight row is decoded once to integers and multiplied with every activation row
/// (exact int32 sums, spec §5.4), so prompt batches reuse each weight load. The SIMD level is read once per call from
/// <see cref="SimdPolicy.Current"/>; all levels give bit-identical results for the integer types.
/// </remarks>
public static unsafe class MatMul
{
    /// <summary>
    /// <c>y[v*Rows + r] = Σ_c W[r,c] * x[v*Cols + c]</c> for v in [0, <paramref name="nVec"/>): nVec activation rows
    /// (1 = token generation, many = prompt processing). Rows of W are spread over <paramref name="pool"/>'s threads
    /// (null = the calling thread only). Does not allocate in steady state. Thread-safe: calls sharing a pool are
    /// serialized; calls without a pool use thread-static scratch.
    /// </summary>
    public static void Multiply(WeightMatrix w, ReadOnlySpan<float> x, int nVec, Span<float> y, ComputePool? pool)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentOutOfRangeException.ThrowIfNegative(nVec);
        if (x.Length < (long)nVec * w.Cols) throw new ArgumentException($"x has {x.Length} values; {(long)nVec * w.Cols} needed.", nameof(x));
        if (y.Length < (long)nVec * w.Rows) throw new ArgumentException($"y has {y.Length} values; {(long)nVec * w.Rows} needed.", nameof(y));
        if (nVec == 0 || w.Rows == 0) return;
        var kernel = TypeKernel.Get(w.Type);
        var level = SimdPolicy.Current;
        if (pool != null && pool.IsInsideJob) pool = null;          // called from inside a pool job: run inline
        var ctx = Context.For(pool);
        var job = ctx.Job;
        // The pool's activation buffer and job are shared: one Multiply at a time per pool.
        lock (ctx)
        fixed (float* px = x) fixed (float* py = y)
        {
            byte* act = null;
            long actRowBytes = 0;
            switch (kernel.Act)
            {
                case ActivationKind.Q8K:
                    actRowBytes = (long)(w.Cols / 256) * Q8Activations.Q8KBlockBytes;
                    act = ctx.Activations(actRowBytes * nVec);
                    QuantizeActivations(ctx, pool, kernel.Act, px, w.Cols, nVec, act, actRowBytes, level);
                    break;
                case ActivationKind.Q80:
                    actRowBytes = (Q8Activations.Q80RowBytes(w.Cols / 32) + 63) & ~63L;
                    act = ctx.Activations(actRowBytes * nVec);
                    QuantizeActivations(ctx, pool, kernel.Act, px, w.Cols, nVec, act, actRowBytes, level);
                    break;
            }
            job.Set(w, kernel, level, px, act, actRowBytes, nVec, py);
            try
            {
                if (pool is null || pool.Threads == 1) job.Execute(0, w.Rows, 0);
                else pool.Run(job, w.Rows, 4);
            }
            finally { job.Clear(); }
        }
    }

    private static void QuantizeActivations(Context ctx, ComputePool? pool, ActivationKind kind, float* x, int cols, int nVec,
        byte* act, long actRowBytes, SimdLevel level)
    {
        var q = ctx.Quant;
        q.Set(kind, x, cols, act, actRowBytes, level);
        if (pool is null || pool.Threads == 1 || nVec < 8) q.Execute(0, nVec, 0);
        else pool.Run(q, nVec, 1);
    }

    /// <summary>Quantizes activation rows [start, end).</summary>
    private sealed class QuantJob : ComputeJob
    {
        private ActivationKind _kind;
        private float* _x;
        private int _cols;
        private byte* _act;
        private long _actRowBytes;
        private SimdLevel _level;

        public void Set(ActivationKind kind, float* x, int cols, byte* act, long actRowBytes, SimdLevel level)
        {
            _kind = kind; _x = x; _cols = cols; _act = act; _actRowBytes = actRowBytes; _level = level;
        }

        public override void Execute(int start, int end, int worker)
        {
            for (int v = start; v < end; v++)
            {
                if (_kind == ActivationKind.Q8K) Q8Activations.QuantizeQ8K(_x + (long)v * _cols, _cols / 256, _act + v * _actRowBytes, _level);
                else Q8Activations.QuantizeQ80(_x + (long)v * _cols, _cols / 32, _act + v * _actRowBytes, _level);
            }
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

    /// <summary>True if <paramref name="type"/> has a native (integer or float) kernel rather than the dequantizing fallback.</summary>
    public static bool HasNativeKernel(GgmlType type) => TypeKernel.HasKernel(type);

    private sealed class Context
    {
        [ThreadStatic] private static Context? t_context;
        public readonly MatMulJob Job = new();
        public readonly QuantJob Quant = new();
        private byte[] _act = [];
        private byte* _actAligned;

        public static Context For(ComputePool? pool)
        {
            if (pool is null) return t_context ??= new Context();
            if (pool.MatMulContext is Context c) return c;
            c = new Context();
            pool.MatMulContext = c;
            return c;
        }

        public byte* Activations(long bytes)
        {
            if (_act.Length < bytes + 64)
            {
                _act = GC.AllocateUninitializedArray<byte>(checked((int)(bytes + bytes / 4 + 64)), pinned: true);
                fixed (byte* p = _act) _actAligned = (byte*)(((nint)p + 63) & ~(nint)63);
            }
            return _actAligned;
        }
    }

    /// <summary>Per-worker scratch: one decoded super-block and per-activation-row accumulators.</summary>
    private sealed class Scratch
    {
        private readonly byte[] _buf;
        public readonly Decoded* Dec;
        public float* Acc;
        public float* Row;
        public int AccCap, RowCap;
        private float[] _acc = [], _row = [];

        public Scratch()
        {
            _buf = GC.AllocateUninitializedArray<byte>(sizeof(Decoded) + 64, pinned: true);
            fixed (byte* p = _buf) Dec = (Decoded*)(((nint)p + 63) & ~(nint)63);
        }

        public float* AccFor(int n)
        {
            if (AccCap < n)
            {
                _acc = GC.AllocateUninitializedArray<float>(n, pinned: true);
                fixed (float* p = _acc) Acc = p;
                AccCap = n;
            }
            return Acc;
        }

        public float* RowFor(int n)
        {
            if (RowCap < n)
            {
                _row = GC.AllocateUninitializedArray<float>(n + 16, pinned: true);
                fixed (float* p = _row) Row = (float*)(((nint)p + 63) & ~(nint)63);
                RowCap = n;
            }
            return Row;
        }
    }

    /// <summary>The row-parallel job: rows [start, end) of W against all activation rows.</summary>
    private sealed class MatMulJob : ComputeJob
    {
        private const int VecTile = 64;
        private WeightMatrix? _w;
        private TypeKernel? _k;
        private SimdLevel _level;
        private float* _x, _y;
        private byte* _act;
        private long _actRowBytes;
        private int _nVec;
        private Scratch?[] _scratch = new Scratch?[1];

        public void Set(WeightMatrix w, TypeKernel k, SimdLevel level, float* x, byte* act, long actRowBytes, int nVec, float* y)
        {
            _w = w; _k = k; _level = level; _x = x; _act = act; _actRowBytes = actRowBytes; _nVec = nVec; _y = y;
        }

        public void Clear() { _w = null; _x = null; _y = null; _act = null; }

        private Scratch ScratchFor(int worker)
        {
            var arr = _scratch;
            if (worker >= arr.Length)
            {
                lock (this)
                {
                    if (worker >= _scratch.Length) Array.Resize(ref _scratch, worker + 1);
                    arr = _scratch;
                }
            }
            return arr[worker] ??= new Scratch();
        }

        public override void Execute(int start, int end, int worker)
        {
            var w = _w!;
            var s = ScratchFor(worker);
            // Large batches: tiles of VecTile activation rows, so the activations a row pass reads stay in L2
            // (64 rows × 4096 columns of Q8_K = 300 KB) while each thread's weight rows are re-read once per tile.
            for (int v0 = 0; v0 < _nVec; v0 += VecTile)
            {
                int nv = Math.Min(VecTile, _nVec - v0);
                float* y = _y + (long)v0 * w.Rows;
                byte* act = _act + v0 * _actRowBytes;
                float* x = _x + (long)v0 * w.Cols;
                switch (_k!.Act)
                {
                    case ActivationKind.Q8K: RowsQ8K(w, _k, _level, act, _actRowBytes, nv, y, start, end, s); break;
                    case ActivationKind.Q80: _k.RowsQ80(w, _level, act, _actRowBytes, nv, y, start, end); break;
                    case ActivationKind.Float: RowsFloat(w, _level, x, nv, y, start, end, s); break;
                    default: RowsReference(w, x, nv, y, start, end, s); break;
                }
            }
        }
    }

    private static void RowsReference(WeightMatrix w, float* x, int nVec, float* y, int start, int end, Scratch s)
    {
        float* row = s.RowFor(w.Cols);
        var rs = new Span<float>(row, w.Cols);
        for (int r = start; r < end; r++)
        {
            DequantizeRow(w, r, rs);
            for (int v = 0; v < nVec; v++)
                y[(long)v * w.Rows + r] = TensorPrimitives.Dot<float>(rs, new ReadOnlySpan<float>(x + (long)v * w.Cols, w.Cols));
        }
    }

    private static void RowsFloat(WeightMatrix w, SimdLevel level, float* x, int nVec, float* y, int start, int end, Scratch s)
    {
        int n = w.Cols;
        if (level == SimdLevel.Scalar)
        {
            float* wf = s.RowFor(n);
            for (int r = start; r < end; r++)
            {
                byte* row = w.Row(r);
                float* pr = (float*)row;
                if (w.Type == GgmlType.F16) { RowDots.F16ToF32((ushort*)row, wf, n, level); pr = wf; }
                for (int v = 0; v < nVec; v++) y[(long)v * w.Rows + r] = RowDots.F32Scalar(pr, x + (long)v * n, n);
            }
            return;
        }
        if (nVec == 1)
        {
            for (int r = start; r < end; r++)
            {
                byte* row = w.Row(r);
                y[r] = w.Type == GgmlType.F16
                    ? (level == SimdLevel.Avx512 ? RowDots.F16Avx512((ushort*)row, x, n) : RowDots.F16Avx2((ushort*)row, x, n))
                    : level == SimdLevel.Avx512 ? RowDots.F32Avx512((float*)row, x, n) : RowDots.F32Avx2((float*)row, x, n);
            }
            return;
        }
        // Tiles of 4 weight rows (F16 rows converted once into scratch) × 2 or 4 activation rows.
        float* conv = w.Type == GgmlType.F16 ? s.RowFor(4 * n) : null;
        float** wr = stackalloc float*[4];
        for (int r0 = start; r0 < end; r0 += 4)
        {
            int nr = Math.Min(4, end - r0);
            for (int j = 0; j < 4; j++)
            {
                int r = r0 + Math.Min(j, nr - 1);
                if (conv != null)
                {
                    wr[j] = conv + (long)j * n;
                    if (j < nr) RowDots.F16ToF32((ushort*)w.Row(r), wr[j], n, level);
                }
                else wr[j] = (float*)w.Row(r);
            }
            int v = 0;
            if (level == SimdLevel.Avx512)
                for (; v + 4 <= nVec; v += 4) FloatTiles.Tile4x4Avx512(wr, x + (long)v * n, n, n, y + (long)v * w.Rows + r0, w.Rows, nr);
            for (; v + 2 <= nVec; v += 2) FloatTiles.Tile4x2Avx2(wr, x + (long)v * n, n, n, y + (long)v * w.Rows + r0, w.Rows, nr);
            if (v < nVec) FloatTiles.Tile4x1Avx2(wr, x + (long)v * n, n, y + (long)v * w.Rows + r0, nr);
        }
    }

    private static void RowsQ8K(WeightMatrix w, TypeKernel k, SimdLevel level, byte* act, long actRowBytes, int nVec, float* y,
        int start, int end, Scratch s)
    {
        var rows = k.Rows(level);
        if (rows != null)
        {
            rows(w, act, actRowBytes, nVec, y, start, end);
            return;
        }
        int nb = w.Cols / 256;
        var decode = k.DecodeScalar;
        bool hasMin = k.HasMin;
        Decoded* dec = s.Dec;
        float* acc = s.AccFor(nVec);
        for (int r = start; r < end; r++)
        {
            byte* row = w.Row(r);
            for (int v = 0; v < nVec; v++) acc[v] = 0;
            for (int b = 0; b < nb; b++)
            {
                decode(row, b, dec);
                byte* q8 = act + (long)b * Q8Activations.Q8KBlockBytes;
                for (int v = 0; v < nVec; v++, q8 += actRowBytes)
                {
                    int isum = SuperBlockDot.Scalar(dec, q8);
                    float dA = *(float*)q8;
                    float t = acc[v] + (dec->D * dA) * isum;
                    if (hasMin)
                    {
                        int msum = SuperBlockDot.MinSum(dec, q8);
                        t -= (dec->DMin * dA) * msum;
                    }
                    acc[v] = t;
                }
            }
            for (int v = 0; v < nVec; v++) y[(long)v * w.Rows + r] = acc[v];
        }
    }
}
