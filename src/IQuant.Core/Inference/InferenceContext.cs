using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using IQuant.Core.Kernels;

namespace IQuant.Core.Inference;

/// <summary>Element type of the KV cache.</summary>
public enum KvCacheType
{
    /// <summary>Half precision (llama.cpp's default).</summary>
    F16,
    /// <summary>Single precision.</summary>
    F32,
}

/// <summary>Settings of an <see cref="InferenceContext"/>.</summary>
public sealed record InferenceOptions
{
    /// <summary>Default cap of the context length when <see cref="ContextLength"/> is 0 (see there).</summary>
    public const int DefaultContextCap = 8192;

    /// <summary>Tokens the KV cache holds. 0 = the model's training context, capped at <see cref="DefaultContextCap"/>
    /// (a 128k-context model would otherwise need tens of GB of cache); set it explicitly to go beyond.</summary>
    public int ContextLength { get; init; }
    /// <summary>Compute threads (0 = all logical processors).</summary>
    public int Threads { get; init; }
    /// <summary>KV cache element type.</summary>
    public KvCacheType KvCacheType { get; init; } = KvCacheType.F16;
    /// <summary>Most tokens evaluated in one forward pass (longer inputs are split); 0 = 512.</summary>
    public int BatchSize { get; init; }
}

/// <summary>
/// An evaluation context of a <see cref="LlamaModel"/>: the KV cache of one sequence, the compute pool and all
/// scratch buffers, preallocated so that generating a token allocates nothing. Not thread-safe: one caller at a time.
/// </summary>
public sealed unsafe class InferenceContext : IDisposable
{
    private readonly LlamaModel _model;
    private readonly ModelConfig _c;
    private readonly ComputePool _pool;
    private readonly bool _ownsPool;
    private readonly int _qDim, _kvDim, _hd;
    // Scratch, sized for BatchSize tokens.
    private readonly float[] _x, _xb, _q, _k, _v, _att, _hb, _hb2, _rope, _logitsBuf;
    private readonly int[] _outRows;
    // KV cache: per layer, [kv head][position][head dim].
    private readonly float[][]? _kF32, _vF32;
    private readonly Half[][]? _kF16, _vF16;
    private readonly AttentionJob _attnJob;

    /// <summary>Creates a context; <paramref name="pool"/> may be shared (else one with <see cref="InferenceOptions.Threads"/> threads is created and owned).</summary>
    public InferenceContext(LlamaModel model, InferenceOptions? options = null, ComputePool? pool = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        options ??= new InferenceOptions();
        _model = model;
        _c = model.Config;
        int ctx = options.ContextLength > 0 ? options.ContextLength : Math.Min(_c.ContextLength > 0 ? _c.ContextLength : 2048, InferenceOptions.DefaultContextCap);
        ContextLength = ctx;
        BatchSize = Math.Min(options.BatchSize > 0 ? options.BatchSize : 512, ctx);
        KvCacheType = options.KvCacheType;
        _pool = pool ?? new ComputePool(options.Threads);
        _ownsPool = pool is null;

        _hd = _c.HeadDimK;
        _qDim = _c.HeadCount * _hd;
        _kvDim = _c.HeadCountKv * _hd;
        int b = BatchSize;
        _x = new float[b * _c.EmbeddingLength];
        _xb = new float[b * Math.Max(_c.EmbeddingLength, _qDim)];
        _q = new float[b * _qDim];
        _k = new float[b * _kvDim];
        _v = new float[b * _kvDim];
        _att = new float[b * _qDim];
        _hb = new float[b * _c.FeedForwardLength];
        _hb2 = new float[b * _c.FeedForwardLength];
        _rope = new float[b * _c.RopeDimensions];
        _logitsBuf = new float[_c.VocabSize];
        _outRows = new int[b];

        long perLayer = (long)_kvDim * ctx;
        if (perLayer > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(options), $"Context {ctx} is too long for one KV array.");
        int L = _c.BlockCount;
        if (KvCacheType == KvCacheType.F32)
        {
            _kF32 = new float[L][]; _vF32 = new float[L][];
            for (int i = 0; i < L; i++) { _kF32[i] = new float[perLayer]; _vF32[i] = new float[perLayer]; }
        }
        else
        {
            _kF16 = new Half[L][]; _vF16 = new Half[L][];
            for (int i = 0; i < L; i++) { _kF16[i] = new Half[perLayer]; _vF16[i] = new Half[perLayer]; }
        }
        _attnJob = new AttentionJob(this);
    }

    /// <summary>The model.</summary>
    public LlamaModel Model => _model;
    /// <summary>Positions the KV cache holds.</summary>
    public int ContextLength { get; }
    /// <summary>Most tokens per forward pass.</summary>
    public int BatchSize { get; }
    /// <summary>KV cache element type.</summary>
    public KvCacheType KvCacheType { get; }
    /// <summary>The compute pool.</summary>
    public ComputePool Pool => _pool;
    /// <summary>Compute threads.</summary>
    public int Threads => _pool.Threads;
    /// <summary>Vocabulary size (values per logits row).</summary>
    public int VocabSize => _c.VocabSize;
    /// <summary>Receives the inputs of every weight matrix multiplication (imatrix collection); null = none.</summary>
    public IActivationObserver? ActivationObserver { get; set; }
    /// <summary>Bytes held by the KV cache.</summary>
    public long KvCacheBytes => 2L * _c.BlockCount * _kvDim * ContextLength * (KvCacheType == KvCacheType.F32 ? 4 : 2);

    /// <summary>
    /// Evaluates <paramref name="tokens"/> at positions <paramref name="startPos"/>.. (the cache must hold positions
    /// 0..startPos−1 of the same sequence; a new sequence starts at 0) and writes the logits of the tokens from index
    /// <paramref name="firstOutput"/> on into <paramref name="logits"/> (row i = token firstOutput+i, VocabSize values).
    /// Pass firstOutput = tokens.Length to get no logits. Inputs longer than <see cref="BatchSize"/> are split.
    /// </summary>
    public void Evaluate(ReadOnlySpan<int> tokens, int startPos, int firstOutput, Span<float> logits, CancellationToken cancel = default)
    {
        if (startPos < 0) throw new ArgumentOutOfRangeException(nameof(startPos));
        if ((long)startPos + tokens.Length > ContextLength)
            throw new ArgumentException($"Positions {startPos}..{startPos + tokens.Length - 1} exceed the context length {ContextLength}.", nameof(tokens));
        if (firstOutput < 0 || firstOutput > tokens.Length) throw new ArgumentOutOfRangeException(nameof(firstOutput));
        long need = (long)(tokens.Length - firstOutput) * VocabSize;
        if (logits.Length < need) throw new ArgumentException($"logits has {logits.Length} values; {need} needed.", nameof(logits));
        foreach (int t in tokens)
            if ((uint)t >= (uint)_c.VocabSize) throw new ArgumentOutOfRangeException(nameof(tokens), $"Token id {t} is outside the vocabulary (0..{_c.VocabSize - 1}).");

        int done = 0;
        while (done < tokens.Length)
        {
            cancel.ThrowIfCancellationRequested();
            int n = Math.Min(BatchSize, tokens.Length - done);
            int outFrom = Math.Max(firstOutput - done, 0);
            int nOut = Math.Max(0, n - outFrom);
            var dst = nOut > 0 ? logits.Slice((done + outFrom - firstOutput) * VocabSize, nOut * VocabSize) : Span<float>.Empty;
            Forward(tokens.Slice(done, n), startPos + done, outFrom, dst);
            done += n;
        }
    }

    /// <summary>Evaluates tokens and returns the logits of the last one (a view of an internal buffer, valid until the next call).</summary>
    public ReadOnlySpan<float> EvaluateLast(ReadOnlySpan<int> tokens, int startPos, CancellationToken cancel = default)
    {
        if (tokens.Length == 0) throw new ArgumentException("No tokens.", nameof(tokens));
        Evaluate(tokens, startPos, tokens.Length - 1, _logitsBuf, cancel);
        return _logitsBuf;
    }

    private void Forward(ReadOnlySpan<int> tokens, int pos0, int outFrom, Span<float> logits)
    {
        int n = tokens.Length;
        int d = _c.EmbeddingLength;
        int ff = _c.FeedForwardLength;
        float eps = _c.RmsEpsilon;
        var rope = _model.Rope;
        int nRot = _c.RopeDimensions;

        for (int t = 0; t < n; t++)
        {
            _model.Embed(tokens[t], _x.AsSpan(t * d, d));
            rope.Fill(pos0 + t, _rope.AsSpan(t * nRot, nRot));
        }

        for (int l = 0; l < _c.BlockCount; l++)
        {
            var L = _model.Layers[l];
            // ---- attention ----
            for (int t = 0; t < n; t++)
                RmsNorm(_x.AsSpan(t * d, d), L.AttnNorm, _xb.AsSpan(t * d, d), eps);
            ActivationObserver?.Observe(l, ActivationSite.Attention, _xb.AsSpan(0, n * d), n, d);
            MatMul.Multiply(L.Wq, _xb, n, _q, _pool);
            MatMul.Multiply(L.Wk, _xb, n, _k, _pool);
            MatMul.Multiply(L.Wv, _xb, n, _v, _pool);
            for (int t = 0; t < n; t++)
            {
                var q = _q.AsSpan(t * _qDim, _qDim);
                var k = _k.AsSpan(t * _kvDim, _kvDim);
                var v = _v.AsSpan(t * _kvDim, _kvDim);
                if (L.Bq is not null) TensorPrimitives.Add(q, L.Bq, q);
                if (L.Bk is not null) TensorPrimitives.Add(k, L.Bk, k);
                if (L.Bv is not null) TensorPrimitives.Add(v, L.Bv, v);
                if (L.QNorm is not null)
                    for (int h = 0; h < _c.HeadCount; h++) { var s = q.Slice(h * _hd, _hd); RmsNorm(s, L.QNorm, s, eps); }
                if (L.KNorm is not null)
                    for (int h = 0; h < _c.HeadCountKv; h++) { var s = k.Slice(h * _hd, _hd); RmsNorm(s, L.KNorm, s, eps); }
                var rc = _rope.AsSpan(t * nRot, nRot);
                rope.Apply(q, _c.HeadCount, _hd, rc);
                rope.Apply(k, _c.HeadCountKv, _hd, rc);
                StoreKv(l, pos0 + t, k, v);
            }
            _attnJob.Set(l, pos0, n);
            _pool.Run(_attnJob, n * _c.HeadCount, 1);
            ActivationObserver?.Observe(l, ActivationSite.AttentionOutput, _att.AsSpan(0, n * _qDim), n, _qDim);
            MatMul.Multiply(L.Wo, _att, n, _xb, _pool);
            var xs = _x.AsSpan(0, n * d);
            var xbs = _xb.AsSpan(0, n * d);
            if (L.Bo is not null)
                for (int t = 0; t < n; t++) TensorPrimitives.Add(xbs.Slice(t * d, d), L.Bo, xbs.Slice(t * d, d));
            TensorPrimitives.Add(xs, xbs, xs);

            // ---- feed-forward (SwiGLU) ----
            for (int t = 0; t < n; t++)
                RmsNorm(_x.AsSpan(t * d, d), L.FfnNorm, _xb.AsSpan(t * d, d), eps);
            ActivationObserver?.Observe(l, ActivationSite.FeedForward, _xb.AsSpan(0, n * d), n, d);
            MatMul.Multiply(L.WGate, _xb, n, _hb, _pool);
            MatMul.Multiply(L.WUp, _xb, n, _hb2, _pool);
            var g = _hb.AsSpan(0, n * ff);
            var u = _hb2.AsSpan(0, n * ff);
            SwiGlu(g, u);
            ActivationObserver?.Observe(l, ActivationSite.FeedForwardDown, _hb.AsSpan(0, n * ff), n, ff);
            MatMul.Multiply(L.WDown, _hb, n, _xb, _pool);
            TensorPrimitives.Add(xs, xbs, xs);
        }

        int nOut = n - outFrom;
        if (nOut <= 0) return;
        for (int i = 0; i < nOut; i++)
            RmsNorm(_x.AsSpan((outFrom + i) * d, d), _model.OutputNorm, _xb.AsSpan(i * d, d), eps);
        ActivationObserver?.Observe(-1, ActivationSite.Output, _xb.AsSpan(0, nOut * d), nOut, d);
        MatMul.Multiply(_model.Output, _xb, nOut, logits, _pool);
    }

    /// <summary>g = silu(g) · u, in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SwiGlu(Span<float> g, ReadOnlySpan<float> u)
    {
        // silu(x) = x / (1 + e^-x); processed in slices so the temporary fits on the stack.
        Span<float> tmp = stackalloc float[1024];
        for (int i = 0; i < g.Length; i += tmp.Length)
        {
            int m = Math.Min(tmp.Length, g.Length - i);
            var gs = g.Slice(i, m);
            var ts = tmp.Slice(0, m);
            TensorPrimitives.Sigmoid(gs, ts);
            TensorPrimitives.Multiply(gs, ts, gs);
            TensorPrimitives.Multiply(gs, u.Slice(i, m), gs);
        }
    }

    /// <summary>RMSNorm as ggml computes it: x · 1/sqrt(mean(x²) + eps), then × w.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> dst, float eps)
    {
        double sum = 0;
        int i = 0;
        // Sum of squares in double, as ggml_compute_forward_rms_norm does.
        for (; i < x.Length; i++) sum += (double)(x[i] * x[i]);
        float mean = (float)(sum / x.Length);
        float scale = 1.0f / MathF.Sqrt(mean + eps);
        TensorPrimitives.Multiply(x, scale, dst);
        TensorPrimitives.Multiply(dst, w, dst);
    }

    private void StoreKv(int layer, int pos, ReadOnlySpan<float> k, ReadOnlySpan<float> v)
    {
        int ctx = ContextLength, hd = _hd;
        for (int h = 0; h < _c.HeadCountKv; h++)
        {
            long off = ((long)h * ctx + pos) * hd;
            if (_kF32 is not null)
            {
                k.Slice(h * hd, hd).CopyTo(_kF32[layer].AsSpan((int)off, hd));
                v.Slice(h * hd, hd).CopyTo(_vF32![layer].AsSpan((int)off, hd));
            }
            else
            {
                TensorPrimitives.ConvertToHalf(k.Slice(h * hd, hd), _kF16![layer].AsSpan((int)off, hd));
                TensorPrimitives.ConvertToHalf(v.Slice(h * hd, hd), _vF16![layer].AsSpan((int)off, hd));
            }
        }
    }

    /// <summary>Attention of (token, head) items: softmax(q·K/√d) · V over positions 0..pos.</summary>
    private sealed class AttentionJob : ComputeJob
    {
        private readonly InferenceContext _o;
        private readonly float[][] _scores;
        private readonly float[][] _tile;
        private int _layer, _pos0;

        public AttentionJob(InferenceContext o)
        {
            _o = o;
            int threads = o._pool.Threads;
            _scores = new float[threads][];
            _tile = new float[threads][];
            for (int i = 0; i < threads; i++)
            {
                _scores[i] = new float[o.ContextLength];
                _tile[i] = new float[AttentionKernels.Tile * o._hd];
            }
        }

        public void Set(int layer, int pos0, int n) { _layer = layer; _pos0 = pos0; }

        public override void Execute(int start, int end, int worker)
        {
            var o = _o;
            int nHead = o._c.HeadCount, hd = o._hd, ctx = o.ContextLength, gqa = o._c.GqaRatio;
            float scale = 1.0f / MathF.Sqrt(hd);
            var scores = _scores[worker];
            var tile = _tile[worker];
            bool simd = hd % 8 == 0 && IQuant.Core.Quants.SimdPolicy.Current != IQuant.Core.Quants.SimdLevel.Scalar;
            for (int item = start; item < end; item++)
            {
                int t = item / nHead, h = item % nHead, kvh = h / gqa;
                int nCtx = _pos0 + t + 1;
                var q = o._q.AsSpan(t * o._qDim + h * hd, hd);
                var outv = o._att.AsSpan(t * o._qDim + h * hd, hd);
                int baseOff = kvh * ctx * hd;
                var sc = scores.AsSpan(0, nCtx);
                if (o._kF32 is not null)
                {
                    var K = o._kF32[_layer].AsSpan(baseOff, nCtx * hd);
                    var V = o._vF32![_layer].AsSpan(baseOff, nCtx * hd);
                    AttentionKernels.ScoresF32(q, K, sc, hd, scale, simd);
                    TensorPrimitives.SoftMax(sc, sc);
                    AttentionKernels.WeightedSumF32(sc, V, outv, hd, simd);
                }
                else
                {
                    var K = o._kF16![_layer].AsSpan(baseOff, nCtx * hd);
                    var V = o._vF16![_layer].AsSpan(baseOff, nCtx * hd);
                    AttentionKernels.ScoresF16(q, K, sc, hd, scale, simd, tile);
                    TensorPrimitives.SoftMax(sc, sc);
                    AttentionKernels.WeightedSumF16(sc, V, outv, hd, simd, tile);
                }
            }
        }
    }

    /// <summary>Releases the compute pool when owned.</summary>
    public void Dispose()
    {
        if (_ownsPool) _pool.Dispose();
    }
}
