using IQuant.Core.Gguf;
using IQuant.Core.Inference;

namespace IQuant.Core.Tests.Inference;

/// <summary>
/// A deliberately plain reference of the llama / qwen2 / qwen3 graph (double accumulation, angles from Math.Pow,
/// full recomputation per sequence) to check <see cref="InferenceContext"/> against.
/// </summary>
internal sealed class NaiveLlama
{
    private readonly GgufFile _f;
    private readonly ModelConfig _c;

    public NaiveLlama(GgufFile f)
    {
        _f = f;
        _c = ModelConfig.FromGguf(f);
    }

    private float[] T(string name)
    {
        var t = _f.FindTensor(name)!;
        var v = new float[t.Elements];
        long per = t.RowLength;
        for (long r = 0; r < t.Rows; r++)
            LlamaModel.DequantizeRow(t.Type, _f.GetRows(t, r, 1), v.AsSpan((int)(r * per), (int)per));
        return v;
    }

    private float[]? TOpt(string name) => _f.FindTensor(name) is null ? null : T(name);

    private static float[] MatVec(float[] w, int cols, int rows, float[] x)
    {
        var y = new float[rows];
        for (int r = 0; r < rows; r++)
        {
            double s = 0;
            for (int c = 0; c < cols; c++) s += (double)w[r * cols + c] * x[c];
            y[r] = (float)s;
        }
        return y;
    }

    private static float[] Rms(float[] x, int off, int n, float[] w, float eps)
    {
        double ss = 0;
        for (int i = 0; i < n; i++) ss += (double)x[off + i] * x[off + i];
        double scale = 1.0 / Math.Sqrt(ss / n + eps);
        var y = new float[n];
        for (int i = 0; i < n; i++) y[i] = (float)(x[off + i] * scale * w[i]);
        return y;
    }

    private void Rope(float[] v, int heads, int hd, int pos, float[]? ff)
    {
        int n = _c.RopeDimensions;
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < n / 2; i++)
            {
                double theta = pos * Math.Pow(_c.RopeFreqBase, -2.0 * i / n) / (ff is null ? 1.0 : ff[i]) * _c.RopeFreqScale;
                double cs = Math.Cos(theta), sn = Math.Sin(theta);
                int a, b;
                if (_c.RopeKind == RopeKind.Normal) { a = h * hd + 2 * i; b = a + 1; }
                else { a = h * hd + i; b = a + n / 2; }
                double x0 = v[a], x1 = v[b];
                v[a] = (float)(x0 * cs - x1 * sn);
                v[b] = (float)(x0 * sn + x1 * cs);
            }
    }

    /// <summary>Logits of every position of <paramref name="tokens"/> (row t = after token t).</summary>
    public float[][] Forward(int[] tokens)
    {
        int d = _c.EmbeddingLength, hd = _c.HeadDimK, nH = _c.HeadCount, nKv = _c.HeadCountKv, ff = _c.FeedForwardLength;
        int n = tokens.Length, V = _c.VocabSize;
        float eps = _c.RmsEpsilon;
        var emb = T("token_embd.weight");
        var freqs = TOpt("rope_freqs.weight");
        var x = new float[n][];
        for (int t = 0; t < n; t++) x[t] = emb.AsSpan(tokens[t] * d, d).ToArray();
        for (int l = 0; l < _c.BlockCount; l++)
        {
            string p = $"blk.{l}.";
            var an = T(p + "attn_norm.weight");
            var wq = T(p + "attn_q.weight"); var wk = T(p + "attn_k.weight"); var wv = T(p + "attn_v.weight"); var wo = T(p + "attn_output.weight");
            var bq = TOpt(p + "attn_q.bias"); var bk = TOpt(p + "attn_k.bias"); var bv = TOpt(p + "attn_v.bias");
            var qn = TOpt(p + "attn_q_norm.weight"); var kn = TOpt(p + "attn_k_norm.weight");
            var fn = T(p + "ffn_norm.weight");
            var wg = T(p + "ffn_gate.weight"); var wu = T(p + "ffn_up.weight"); var wd = T(p + "ffn_down.weight");
            var Q = new float[n][]; var K = new float[n][]; var Vv = new float[n][];
            for (int t = 0; t < n; t++)
            {
                var h = Rms(x[t], 0, d, an, eps);
                Q[t] = MatVec(wq, d, nH * hd, h); K[t] = MatVec(wk, d, nKv * hd, h); Vv[t] = MatVec(wv, d, nKv * hd, h);
                if (bq is not null) for (int i = 0; i < Q[t].Length; i++) Q[t][i] += bq[i];
                if (bk is not null) for (int i = 0; i < K[t].Length; i++) K[t][i] += bk[i];
                if (bv is not null) for (int i = 0; i < Vv[t].Length; i++) Vv[t][i] += bv[i];
                if (qn is not null) for (int hh = 0; hh < nH; hh++) Rms(Q[t], hh * hd, hd, qn, eps).CopyTo(Q[t], hh * hd);
                if (kn is not null) for (int hh = 0; hh < nKv; hh++) Rms(K[t], hh * hd, hd, kn, eps).CopyTo(K[t], hh * hd);
                Rope(Q[t], nH, hd, t, freqs);
                Rope(K[t], nKv, hd, t, freqs);
            }
            for (int t = 0; t < n; t++)
            {
                var att = new float[nH * hd];
                for (int h = 0; h < nH; h++)
                {
                    int kvh = h / (nH / nKv);
                    var s = new double[t + 1];
                    double max = double.NegativeInfinity;
                    for (int j = 0; j <= t; j++)
                    {
                        double dot = 0;
                        for (int i = 0; i < hd; i++) dot += (double)Q[t][h * hd + i] * K[j][kvh * hd + i];
                        s[j] = dot / Math.Sqrt(hd);
                        max = Math.Max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= t; j++) { s[j] = Math.Exp(s[j] - max); sum += s[j]; }
                    for (int i = 0; i < hd; i++)
                    {
                        double o = 0;
                        for (int j = 0; j <= t; j++) o += s[j] / sum * Vv[j][kvh * hd + i];
                        att[h * hd + i] = (float)o;
                    }
                }
                var proj = MatVec(wo, nH * hd, d, att);
                for (int i = 0; i < d; i++) x[t][i] += proj[i];
                var h2 = Rms(x[t], 0, d, fn, eps);
                var g = MatVec(wg, d, ff, h2); var u = MatVec(wu, d, ff, h2);
                for (int i = 0; i < ff; i++) g[i] = (float)(g[i] / (1 + Math.Exp(-g[i])) * u[i]);
                var down = MatVec(wd, ff, d, g);
                for (int i = 0; i < d; i++) x[t][i] += down[i];
            }
        }
        var on = T("output_norm.weight");
        var wout = _f.FindTensor("output.weight") is null ? emb : T("output.weight");
        var logits = new float[n][];
        for (int t = 0; t < n; t++) logits[t] = MatVec(wout, d, V, Rms(x[t], 0, d, on, eps));
        return logits;
    }
}
