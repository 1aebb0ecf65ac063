namespace IQuant.Core.Inference;

/// <summary>
/// Rotary position embedding as ggml applies it (<c>ggml_rope_ext</c>): the angle of pair i at position p is
/// p · base^(−2i/n_rot), computed the way ggml's rope cache does (theta multiplied by theta_scale step by step in
/// binary32), divided by the optional per-pair frequency factor (llama3 <c>rope_freqs.weight</c>), scaled by
/// freq_scale (linear) or YaRN-mixed; pairs are adjacent (<see cref="RopeKind.Normal"/>) or halves
/// (<see cref="RopeKind.Neox"/>); dimensions past n_rot pass through.
/// </summary>
public sealed class Rope
{
    private readonly int _nRot;
    private readonly float _thetaScale;
    private readonly float[]? _freqFactors;
    private readonly float _freqScale;
    private readonly float _extFactor;
    private readonly float _attnFactor;
    private readonly float _corr0, _corr1;

    /// <summary>Creates the rotation for a model.</summary>
    public Rope(int nRot, float freqBase, RopeKind kind, float[]? freqFactors = null, float freqScale = 1f,
        bool yarn = false, int originalContext = 0, float attnFactor = 1f)
    {
        if (nRot <= 0 || nRot % 2 != 0) throw new ArgumentOutOfRangeException(nameof(nRot));
        if (freqFactors is not null && freqFactors.Length < nRot / 2)
            throw new ArgumentException($"rope_freqs has {freqFactors.Length} values; {nRot / 2} needed.", nameof(freqFactors));
        _nRot = nRot;
        Kind = kind;
        _thetaScale = MathF.Pow(freqBase, -2.0f / nRot);
        _freqFactors = freqFactors;
        _freqScale = freqScale;
        _attnFactor = attnFactor;
        _extFactor = yarn ? 1f : 0f;
        if (yarn)
        {
            // ggml_rope_yarn_corr_dims with beta_fast 32, beta_slow 1 (llama.cpp defaults).
            static float CorrDim(int nDims, int nCtxOrig, float nRotations, float b) =>
                nDims * MathF.Log(nCtxOrig / (nRotations * 2 * MathF.PI)) / (2 * MathF.Log(b));
            float start = MathF.Floor(CorrDim(nRot, originalContext, 32f, freqBase));
            float end = MathF.Ceiling(CorrDim(nRot, originalContext, 1f, freqBase));
            _corr0 = MathF.Max(0, start);
            _corr1 = MathF.Min(nRot - 1, end);
        }
    }

    /// <summary>Creates the rotation described by a model's hyper-parameters.</summary>
    public static Rope For(ModelConfig c, float[]? freqFactors) =>
        new(c.RopeDimensions, c.RopeFreqBase, c.RopeKind, freqFactors, c.RopeFreqScale,
            c.RopeScaling == RopeScalingKind.Yarn, c.RopeOriginalContext, c.RopeAttnFactor);

    /// <summary>Pairing kind.</summary>
    public RopeKind Kind { get; }

    /// <summary>Rotated dimensions per head.</summary>
    public int Dimensions => _nRot;

    /// <summary>Fills <paramref name="cache"/> (n_rot values: cos, sin per pair) for position <paramref name="pos"/>.</summary>
    public void Fill(int pos, Span<float> cache)
    {
        if (cache.Length < _nRot) throw new ArgumentException("cache too small", nameof(cache));
        float theta = pos;
        for (int i0 = 0; i0 < _nRot; i0 += 2)
        {
            float ff = _freqFactors is null ? 1f : _freqFactors[i0 / 2];
            float thetaExtrap = theta / ff;
            float thetaInterp = _freqScale * thetaExtrap;
            float t = thetaInterp;
            float mscale = _attnFactor;
            if (_extFactor != 0f)
            {
                float y = (i0 / 2 - _corr0) / MathF.Max(0.001f, _corr1 - _corr0);
                float rampMix = (1 - MathF.Min(1, MathF.Max(0, y))) * _extFactor;
                t = thetaInterp * (1 - rampMix) + thetaExtrap * rampMix;
                mscale *= 1.0f + 0.1f * MathF.Log(1.0f / _freqScale);
            }
            cache[i0] = MathF.Cos(t) * mscale;
            cache[i0 + 1] = MathF.Sin(t) * mscale;
            theta *= _thetaScale;
        }
    }

    /// <summary>Rotates <paramref name="heads"/> consecutive heads of <paramref name="headDim"/> values in place with a
    /// cache from <see cref="Fill"/>.</summary>
    public void Apply(Span<float> x, int heads, int headDim, ReadOnlySpan<float> cache)
    {
        int n = _nRot;
        int half = n / 2;
        for (int h = 0; h < heads; h++)
        {
            var v = x.Slice(h * headDim, headDim);
            if (Kind == RopeKind.Normal)
            {
                for (int i0 = 0; i0 < n; i0 += 2)
                {
                    float c = cache[i0], s = cache[i0 + 1];
                    float x0 = v[i0], x1 = v[i0 + 1];
                    v[i0] = x0 * c - x1 * s;
                    v[i0 + 1] = x0 * s + x1 * c;
                }
            }
            else
            {
                for (int i0 = 0; i0 < n; i0 += 2)
                {
                    float c = cache[i0], s = cache[i0 + 1];
                    int a = i0 / 2, b = i0 / 2 + half;
                    float x0 = v[a], x1 = v[b];
                    v[a] = x0 * c - x1 * s;
                    v[b] = x0 * s + x1 * c;
                }
            }
        }
    }
}
