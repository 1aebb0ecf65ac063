namespace IQuant;

/// <summary>One answer of Invoke-IQuantChat.</summary>
public sealed class IQuantChatResponse
{
    /// <summary>The user's prompt.</summary>
    public required string Prompt { get; init; }
    /// <summary>The generated answer.</summary>
    public required string Text { get; init; }
    /// <summary>Tokens of the whole formatted prompt (history, system and template included).</summary>
    public int PromptTokens { get; init; }
    /// <summary>Tokens generated (the end token excluded).</summary>
    public int GeneratedTokens { get; init; }
    /// <summary>Generation speed.</summary>
    public double TokensPerSecond { get; init; }
    /// <summary>Prompt processing speed (tokens evaluated / time; 0 when the whole prompt came from the cache).</summary>
    public double PromptTokensPerSecond { get; init; }
    /// <summary>Stop (end token), Length (-MaxTokens), ContextFull or Cancelled.</summary>
    public required string FinishReason { get; init; }
    /// <summary>The sampler seed (repeat a run with -Seed).</summary>
    public ulong Seed { get; init; }
    /// <summary>Chat format used (Plain for -Raw).</summary>
    public required string Template { get; init; }
    /// <summary>The model file.</summary>
    public required string Model { get; init; }
    /// <summary>Wall time of prompt evaluation and generation.</summary>
    public TimeSpan Duration { get; init; }
    /// <inheritdoc/>
    public override string ToString() => Text;
}

/// <summary>One token of Get-IQuantToken.</summary>
public sealed class IQuantToken
{
    /// <summary>Position in the token sequence.</summary>
    public int Index { get; init; }
    /// <summary>Token id.</summary>
    public int Id { get; init; }
    /// <summary>The text the token decodes to (control tokens show their text, e.g. &lt;s&gt;; byte tokens their byte
    /// as far as it is valid UTF-8 on its own).</summary>
    public required string Piece { get; init; }
    /// <summary>The token's vocabulary entry as stored (e.g. ▁world, &lt;0x0A&gt;).</summary>
    public required string Text { get; init; }
    /// <summary>Normal, Control, UserDefined, Byte, Unknown or Unused.</summary>
    public required string Type { get; init; }
    /// <inheritdoc/>
    public override string ToString() => $"{Id}:{Piece}";
}

/// <summary>Result of Measure-IQuantPerplexity.</summary>
public sealed class IQuantPerplexity
{
    /// <summary>The model file.</summary>
    public required string Model { get; init; }
    /// <summary>The text file.</summary>
    public required string Path { get; init; }
    /// <summary>Perplexity: exp(mean negative log-likelihood of the scored tokens).</summary>
    public double PPL { get; init; }
    /// <summary>The ± estimate llama-perplexity prints.</summary>
    public double Error { get; init; }
    /// <summary>Tokens of the text (BOS included when the model adds one).</summary>
    public int Tokens { get; init; }
    /// <summary>Chunks evaluated.</summary>
    public int Chunks { get; init; }
    /// <summary>Chunk length.</summary>
    public int Context { get; init; }
    /// <summary>Tokens scored (the second half of each chunk).</summary>
    public int ScoredTokens { get; init; }
    /// <summary>Evaluation time.</summary>
    public TimeSpan Time { get; init; }
    /// <summary>Tokens evaluated per second.</summary>
    public double TokensPerSecond { get; init; }
    /// <summary>Compute threads.</summary>
    public int Threads { get; init; }
    /// <inheritdoc/>
    public override string ToString() => $"{PPL:F4} +/- {Error:F4}";
}
