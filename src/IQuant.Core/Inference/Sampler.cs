namespace IQuant.Core.Inference;

/// <summary>Sampling settings (llama.cpp's defaults).</summary>
public sealed record SamplingOptions
{
    /// <summary>Softmax temperature; ≤ 0 = greedy (argmax after the repetition penalty).</summary>
    public float Temperature { get; init; } = 0.8f;
    /// <summary>Keep the K most likely tokens (≤ 0 = all).</summary>
    public int TopK { get; init; } = 40;
    /// <summary>Nucleus: keep the smallest set whose probability reaches P (≥ 1 = off).</summary>
    public float TopP { get; init; } = 0.95f;
    /// <summary>Drop tokens whose probability is below MinP × that of the most likely one (≤ 0 = off).</summary>
    public float MinP { get; init; } = 0.05f;
    /// <summary>Repetition penalty for tokens among the last <see cref="RepeatLastN"/> (1 = off): logits &gt; 0 are
    /// divided by it, others multiplied.</summary>
    public float RepeatPenalty { get; init; } = 1.0f;
    /// <summary>How many recent tokens the repetition penalty looks at.</summary>
    public int RepeatLastN { get; init; } = 64;
    /// <summary>Random seed; null = a random one. The same seed, prompt and settings give the same text.</summary>
    public ulong? Seed { get; init; }

    /// <summary>Greedy decoding.</summary>
    public static SamplingOptions Greedy { get; } = new() { Temperature = 0 };
}

/// <summary>
/// Token sampler with llama.cpp's chain: repetition penalty → top-k → top-p → min-p → temperature → draw.
/// Preallocated for one vocabulary: sampling allocates nothing. Deterministic for a given seed (own xoshiro256**
/// generator, independent of the .NET version).
/// </summary>
public sealed class Sampler
{
    private readonly float[] _logits;
    private readonly int[] _ids;
    private readonly float[] _probs;
    private readonly int _vocab;
    private readonly SamplingOptions _o;
    private readonly HashSet<int> _seen = [];
    private readonly DescComparer _cmp;
    private ulong _s0, _s1, _s2, _s3;

    /// <summary>Creates a sampler for a vocabulary of <paramref name="vocabSize"/> tokens.</summary>
    public Sampler(int vocabSize, SamplingOptions? options = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocabSize);
        _vocab = vocabSize;
        _o = options ?? new SamplingOptions();
        _logits = new float[vocabSize];
        _ids = new int[vocabSize];
        _probs = new float[vocabSize];
        _cmp = new DescComparer(_logits);
        Seed = _o.Seed ?? (ulong)Random.Shared.NextInt64();
        Reseed(Seed);
    }

    /// <summary>The settings.</summary>
    public SamplingOptions Options => _o;

    /// <summary>The seed in use (the given one or the random one drawn).</summary>
    public ulong Seed { get; private set; }

    /// <summary>Restarts the random sequence from <paramref name="seed"/>.</summary>
    public void Reseed(ulong seed)
    {
        Seed = seed;
        ulong x = seed;
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private ulong Next()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3; _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform double in [0, 1).</summary>
    private double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Picks the next token from <paramref name="logits"/> given the tokens so far (<paramref name="history"/>,
    /// for the repetition penalty).</summary>
    public int Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> history)
    {
        if (logits.Length < _vocab) throw new ArgumentException($"logits has {logits.Length} values; {_vocab} expected.", nameof(logits));
        var lg = _logits.AsSpan();
        logits.Slice(0, _vocab).CopyTo(lg);

        // ---- repetition penalty (llama.cpp: once per distinct token of the window) ----
        if (_o.RepeatPenalty != 1f && _o.RepeatLastN != 0 && history.Length > 0)
        {
            int n = _o.RepeatLastN < 0 ? history.Length : Math.Min(_o.RepeatLastN, history.Length);
            _seen.Clear();
            foreach (int t in history.Slice(history.Length - n))
            {
                if ((uint)t >= (uint)_vocab || !_seen.Add(t)) continue;
                lg[t] = lg[t] > 0 ? lg[t] / _o.RepeatPenalty : lg[t] * _o.RepeatPenalty;
            }
        }

        if (_o.Temperature <= 0) return ArgMax(lg);

        // ---- top-k (sorted descending) ----
        int count = SelectTopK(_logits, _o.TopK > 0 ? Math.Min(_o.TopK, _vocab) : _vocab);

        // ---- top-p on softmax(logits) ----
        if (_o.TopP < 1f && count > 1)
        {
            Softmax(count, 1f);
            double cum = 0;
            int keep = count;
            for (int i = 0; i < count; i++)
            {
                cum += _probs[i];
                if (cum >= _o.TopP) { keep = i + 1; break; }
            }
            count = keep;
        }

        // ---- min-p: p_i ≥ min_p · p_max ⇔ logit_i ≥ logit_max + ln(min_p) ----
        if (_o.MinP > 0f && count > 1)
        {
            float threshold = _logits[_ids[0]] + MathF.Log(_o.MinP);
            int keep = 1;
            while (keep < count && _logits[_ids[keep]] >= threshold) keep++;
            count = keep;
        }

        // ---- temperature, draw ----
        Softmax(count, 1f / _o.Temperature);
        double r = NextDouble();
        double acc = 0;
        for (int i = 0; i < count; i++)
        {
            acc += _probs[i];
            if (r < acc) return _ids[i];
        }
        return _ids[count - 1];
    }

    /// <summary>Index of the largest value (first on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        float bv = v[0];
        for (int i = 1; i < v.Length; i++) if (v[i] > bv) { bv = v[i]; best = i; }
        return best;
    }

    /// <summary>Puts the ids of the k largest logits into _ids[0..k) sorted by logit descending (ties: lower id first).</summary>
    private int SelectTopK(float[] lg, int k)
    {
        var ids = _ids;
        if (k >= _vocab)
        {
            for (int i = 0; i < _vocab; i++) ids[i] = i;
            Array.Sort(ids, 0, _vocab, _cmp);
            return _vocab;
        }
        // Min-heap of size k on (logit, -id).
        int n = 0;
        for (int i = 0; i < _vocab; i++)
        {
            if (n < k) { ids[n] = i; SiftUp(lg, n++); continue; }
            if (Less(lg, ids[0], i)) { ids[0] = i; SiftDown(lg, 0, n); }
        }
        Array.Sort(ids, 0, k, _cmp);
        return k;
    }

    // a ranks below b: smaller logit, or equal logit and larger id.
    private static bool Less(float[] lg, int a, int b) => lg[a] < lg[b] || (lg[a] == lg[b] && a > b);

    private void SiftUp(float[] lg, int i)
    {
        var h = _ids;
        while (i > 0)
        {
            int p = (i - 1) / 2;
            if (!Less(lg, h[i], h[p])) break;
            (h[i], h[p]) = (h[p], h[i]);
            i = p;
        }
    }

    private void SiftDown(float[] lg, int i, int n)
    {
        var h = _ids;
        while (true)
        {
            int l = 2 * i + 1, r = l + 1, m = i;
            if (l < n && Less(lg, h[l], h[m])) m = l;
            if (r < n && Less(lg, h[r], h[m])) m = r;
            if (m == i) return;
            (h[i], h[m]) = (h[m], h[i]);
            i = m;
        }
    }

    private sealed class DescComparer(float[] lg) : IComparer<int>
    {
        public int Compare(int a, int b)
        {
            int c = lg[b].CompareTo(lg[a]);
            return c != 0 ? c : a.CompareTo(b);
        }
    }

    /// <summary>_probs[0..count) = softmax(logits[_ids[i]] · invTemp).</summary>
    private void Softmax(int count, float invTemp)
    {
        float max = _logits[_ids[0]] * invTemp;
        double sum = 0;
        for (int i = 0; i < count; i++)
        {
            float e = MathF.Exp(_logits[_ids[i]] * invTemp - max);
            _probs[i] = e;
            sum += e;
        }
        float inv = (float)(1.0 / sum);
        for (int i = 0; i < count; i++) _probs[i] *= inv;
    }
}
