using IQuant.Core.Inference;

namespace IQuant.Core.Calibration;

/// <summary>
/// Calibration tokens sampled from the model itself: chunks that each start with BOS, continued by sampling at
/// temperature 1 with no truncation (top-k, top-p and min-p off), so the text follows the model's own distribution.
/// End-of-generation tokens are not sampled (the chunk goes on). Deterministic for a seed and thread count-independent
/// (the forward pass gives the same logits at every thread count for quantized weights; for F16/F32 weights the
/// vector lanes' summation order is fixed per SIMD level).
/// </summary>
/// <remarks>
/// Why: sensitivity probes measure how much quantizing a tensor changes the model's predictions. Measured on text the
/// model was trained on, they also weigh how well it recalls that text, which held-out text does not reward; the
/// model's own samples are text it predicts well for the reasons it predicts any text. They need no file, so every
/// model can be probed.
/// </remarks>
public static class GeneratedCalibration
{
    /// <summary>Default sampler seed.</summary>
    public const ulong DefaultSeed = 0x1D0A;

    /// <summary>
    /// Samples <paramref name="chunks"/> chunks of <paramref name="context"/> tokens (BOS first) from
    /// <paramref name="model"/>; returns them concatenated (chunks × context tokens).
    /// </summary>
    public static List<int> Generate(LlamaModel model, int chunks, int context, ulong seed = DefaultSeed, int threads = 0,
        IProgress<MixProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunks, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(context, 2);
        var tok = model.Tokenizer;
        int vocab = model.Config.VocabSize;
        var excluded = new[] { tok.EosId, tok.EotId, tok.EomId }.Where(id => id >= 0 && id < vocab).Distinct().ToArray();
        var sampler = new Sampler(vocab, new SamplingOptions { Temperature = 1f, TopK = 0, TopP = 1f, MinP = 0f, Seed = seed });
        using var ctx = new InferenceContext(model, new InferenceOptions { ContextLength = context, Threads = threads, BatchSize = 1 });
        var tokens = new List<int>(chunks * context);
        var logits = new float[vocab];
        for (int c = 0; c < chunks; c++)
        {
            progress?.Report(new MixProgress("Generating calibration text", c, chunks, $"chunk {c + 1}"));
            int start = tokens.Count;
            tokens.Add(tok.BosId >= 0 ? tok.BosId : 0);
            for (int pos = 0; pos < context - 1; pos++)
            {
                cancel.ThrowIfCancellationRequested();
                ctx.EvaluateLast(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(tokens).Slice(start + pos, 1), pos, cancel).CopyTo(logits);
                foreach (int id in excluded) logits[id] = float.NegativeInfinity;
                var history = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(tokens).Slice(start, pos + 1);
                tokens.Add(sampler.Sample(logits, history));
            }
        }
        progress?.Report(new MixProgress("Generating calibration text", chunks, chunks, ""));
        return tokens;
    }
}
