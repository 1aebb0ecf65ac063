namespace IQuant.Core.Inference;

/// <summary>Where in the forward pass a batch of activations enters weight matrices.</summary>
public enum ActivationSite
{
    /// <summary>The normalised input of attn_q, attn_k and attn_v.</summary>
    Attention,
    /// <summary>The attention result entering attn_output.</summary>
    AttentionOutput,
    /// <summary>The normalised input of ffn_gate and ffn_up.</summary>
    FeedForward,
    /// <summary>silu(gate)·up entering ffn_down.</summary>
    FeedForwardDown,
    /// <summary>The normalised final hidden state entering output.weight (only the rows whose logits are computed).</summary>
    Output,
}

/// <summary>
/// Sees the f32 activations entering the weight matrix multiplications of a forward pass, as llama-imatrix's graph
/// callback does (<see cref="InferenceContext.ActivationObserver"/>). Called on the evaluating thread, once per site
/// per forward pass (a pass covers at most <see cref="InferenceContext.BatchSize"/> tokens).
/// </summary>
public interface IActivationObserver
{
    /// <summary>
    /// <paramref name="rows"/> activation rows of <paramref name="width"/> values (row-major) enter the matrices of
    /// <paramref name="site"/> in block <paramref name="layer"/> (−1 for <see cref="ActivationSite.Output"/>).
    /// The span is only valid during the call.
    /// </summary>
    void Observe(int layer, ActivationSite site, ReadOnlySpan<float> activations, int rows, int width);

    /// <summary>The weight names the matrices of a site have in a llama-family GGUF.</summary>
    public static IReadOnlyList<string> WeightNames(int layer, ActivationSite site) => site switch
    {
        ActivationSite.Attention => [$"blk.{layer}.attn_q.weight", $"blk.{layer}.attn_k.weight", $"blk.{layer}.attn_v.weight"],
        ActivationSite.AttentionOutput => [$"blk.{layer}.attn_output.weight"],
        ActivationSite.FeedForward => [$"blk.{layer}.ffn_gate.weight", $"blk.{layer}.ffn_up.weight"],
        ActivationSite.FeedForwardDown => [$"blk.{layer}.ffn_down.weight"],
        ActivationSite.Output => ["output.weight"],
        _ => [],
    };
}
