@{
    Synopsis    = 'Measures how far quantized models are from a reference model: KL-divergence, top-token agreement and perplexity, as llama-perplexity --kl-divergence.'
    Description = @'
Compare-IQuantModel evaluates a reference model (usually the F16/BF16 original) and each -Model on the same text and compares their next-token distributions at the same positions. It uses llama-perplexity's chunking: the text is tokenized once (BOS first when the model adds one), cut into chunks of -Context tokens, each evaluated from an empty KV cache with its first token replaced by BOS, and the second half of each chunk scored (positions context/2 to context-2).

The reference's log-probabilities are stored on disk in exactly the format of llama-perplexity --kl-divergence-base (the text's tokens, then per scored position a row of 16-bit quantized log-probabilities over [max − 24, max]), so a reference is evaluated once and several models compare against it — also later, and also with files written by llama-perplexity (and llama-perplexity --kl-divergence reads the files IQuant writes). Without -ReferenceLogits the file is cached in the IQuant folder of the temp folder, keyed by the reference file, text, context and chunks; when it would exceed 2 GB it is kept only for the call. With -ReferenceLogits the file is reused when it matches the text and context, and written there otherwise. Given only -ReferenceLogits (the Logits parameter set), no reference model and no text are needed.

Each model emits an IQuant.IQuantComparison with llama-perplexity's statistics: MeanKld ± MeanKldError, MedianKld, Kld90, Kld95, Kld99, Kld999, MaxKld; SameTop ± SameTopError (the fraction of positions where both models rank the same token first); PPL ± PPLError of the model, ReferencePPL ± ReferencePPLError (from the stored log-probabilities), PPLRatio ± PPLRatioError, LnPPLRatio, Correlation; MeanDeltaP, RmsDeltaP ± RmsDeltaPError and MaxDeltaP (Δp = p(token) − p_reference(token)); Tokens, Chunks, Context, Time.
'@
    Parameters  = @{
        Model           = 'The models to compare. Wildcards are allowed. Accepts pipeline input, including file objects from Get-ChildItem.'
        Reference       = 'The reference model whose distributions the others are compared with, usually the unquantized original.'
        Path            = 'The text to evaluate. Not needed when -ReferenceLogits names an existing file and -Reference is not given.'
        ReferenceLogits = 'The reference log-probabilities file (llama-perplexity --kl-divergence-base format). Reused when it exists and matches the text and context; otherwise computed from -Reference and written there.'
        Context         = 'The chunk length in tokens (llama-perplexity -c). Default 512. With an existing -ReferenceLogits file its chunk length is used.'
        Chunks          = 'Evaluate at most this many chunks (llama-perplexity --chunks). Default: all.'
        ThrottleLimit   = 'The number of compute threads. Default: all logical processors.'
    }
    Examples    = @(
        @{ Title = 'How close is a 2-bit quantization?'; Code = 'Compare-IQuantModel -Reference model-f16.gguf -Model model-IQ2_KS.gguf -Path wiki.test.raw'; Remarks = 'Prints mean KLD, median and percentiles, same-top agreement and the PPL ratio.' }
        @{ Title = 'Rank several quantizations against one reference run'; Code = 'Get-ChildItem model-IQ*.gguf | Compare-IQuantModel -Reference model-f16.gguf -Path eval.txt -ReferenceLogits model-f16.kld | Sort-Object MeanKld | Format-Table Model, MeanKld, Kld99, SameTop, PPLRatio'; Remarks = 'The reference is evaluated once; model-f16.kld is kept for later comparisons.' }
        @{ Title = 'Reuse a reference file (also one written by llama-perplexity --kl-divergence-base)'; Code = 'Compare-IQuantModel -Model model-mix.gguf -ReferenceLogits model-f16.kld'; Remarks = '' }
    )
    Links       = @('Measure-IQuantPerplexity', 'ConvertTo-IQuant', 'New-IQuantImatrix')
}
