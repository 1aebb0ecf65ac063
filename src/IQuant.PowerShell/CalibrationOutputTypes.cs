namespace IQuant;

/// <summary>Summary of New-IQuantImatrix.</summary>
public sealed class IQuantImatrixResult
{
    /// <summary>The imatrix file written (or that would be written, with -WhatIf).</summary>
    public required string Path { get; init; }
    /// <summary>The model.</summary>
    public required string Model { get; init; }
    /// <summary>The calibration text.</summary>
    public required string Dataset { get; init; }
    /// <summary>Dat (legacy ik/llama.cpp format) or Gguf (mainline imatrix GGUF).</summary>
    public required string Format { get; init; }
    /// <summary>Entries (weight matrices) in the file.</summary>
    public int Entries { get; init; }
    /// <summary>Chunks evaluated.</summary>
    public int Chunks { get; init; }
    /// <summary>Chunk length in tokens.</summary>
    public int Context { get; init; }
    /// <summary>Tokens of the calibration text.</summary>
    public int Tokens { get; init; }
    /// <summary>Perplexity of the calibration text (second half of each chunk, as llama-imatrix prints it); NaN with -NoPerplexity.</summary>
    public double PPL { get; init; }
    /// <summary>± of <see cref="PPL"/>.</summary>
    public double Error { get; init; }
    /// <summary>Wall time of the evaluation.</summary>
    public TimeSpan Time { get; init; }
    /// <summary>Tokens evaluated per second.</summary>
    public double TokensPerSecond { get; init; }
    /// <summary>False with -WhatIf.</summary>
    public bool Written { get; init; }
}

/// <summary>
/// Result of Compare-IQuantModel: the statistics llama-perplexity --kl-divergence prints, for one model against the
/// reference's stored log-probabilities. Fractions (SameTop, DeltaP) are 0..1.
/// </summary>
public sealed class IQuantComparison
{
    /// <summary>The compared model.</summary>
    public required string Model { get; init; }
    /// <summary>The reference model, or the logits file when the reference was given only as -ReferenceLogits.</summary>
    public required string Reference { get; init; }
    /// <summary>The reference log-probabilities file used.</summary>
    public required string ReferenceLogits { get; init; }
    /// <summary>The text, when given.</summary>
    public string? Path { get; init; }
    /// <summary>Chunks evaluated.</summary>
    public int Chunks { get; init; }
    /// <summary>Chunk length.</summary>
    public int Context { get; init; }
    /// <summary>Scored positions.</summary>
    public int Tokens { get; init; }
    /// <summary>Mean KL-divergence (reference ‖ model), in nats.</summary>
    public double MeanKld { get; init; }
    /// <summary>± of <see cref="MeanKld"/>.</summary>
    public double MeanKldError { get; init; }
    /// <summary>Median KLD.</summary>
    public double MedianKld { get; init; }
    /// <summary>90th percentile KLD.</summary>
    public double Kld90 { get; init; }
    /// <summary>95th percentile KLD.</summary>
    public double Kld95 { get; init; }
    /// <summary>99th percentile KLD.</summary>
    public double Kld99 { get; init; }
    /// <summary>99.9th percentile KLD.</summary>
    public double Kld999 { get; init; }
    /// <summary>Largest KLD.</summary>
    public double MaxKld { get; init; }
    /// <summary>Fraction of positions where the model's most probable token is the reference's.</summary>
    public double SameTop { get; init; }
    /// <summary>± of <see cref="SameTop"/>.</summary>
    public double SameTopError { get; init; }
    /// <summary>PPL of the model.</summary>
    public double PPL { get; init; }
    /// <summary>± of <see cref="PPL"/>.</summary>
    public double PPLError { get; init; }
    /// <summary>PPL of the reference (from its stored log-probabilities).</summary>
    public double ReferencePPL { get; init; }
    /// <summary>± of <see cref="ReferencePPL"/>.</summary>
    public double ReferencePPLError { get; init; }
    /// <summary>PPL(model) / PPL(reference).</summary>
    public double PPLRatio { get; init; }
    /// <summary>± of <see cref="PPLRatio"/>.</summary>
    public double PPLRatioError { get; init; }
    /// <summary>Mean ln(PPL(model)/PPL(reference)).</summary>
    public double LnPPLRatio { get; init; }
    /// <summary>Correlation of ln PPL between model and reference.</summary>
    public double Correlation { get; init; }
    /// <summary>Mean Δp: p(token) − p_ref(token).</summary>
    public double MeanDeltaP { get; init; }
    /// <summary>RMS Δp.</summary>
    public double RmsDeltaP { get; init; }
    /// <summary>± of <see cref="RmsDeltaP"/>.</summary>
    public double RmsDeltaPError { get; init; }
    /// <summary>Largest |Δp|.</summary>
    public double MaxDeltaP { get; init; }
    /// <summary>Wall time of the model's evaluation.</summary>
    public TimeSpan Time { get; init; }
}
