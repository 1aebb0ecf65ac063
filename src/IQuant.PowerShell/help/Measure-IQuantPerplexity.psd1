@{
    Synopsis    = 'Measures the perplexity of a model on a text file, exactly as ik_llama.cpp''s llama-perplexity does.'
    Description = @'
Measure-IQuantPerplexity uses llama-perplexity's method, so its figures can be compared with those of llama.cpp and ik_llama.cpp:

The whole text is tokenized once, with BOS first when the model adds one. The tokens are cut into chunks of -Context tokens (n_chunk = tokens / context); the tail that does not fill a chunk is not used. Each chunk is evaluated from an empty KV cache, with its first token replaced by BOS when the model adds BOS. Only the second half of each chunk is scored: the logits at positions context/2 to context-2 predict the next token. PPL = exp(mean negative log-likelihood). The error is llama-perplexity's ± estimate: PPL × sqrt((mean(nll²) - mean(nll)²) / (count - 1)).

A progress bar shows the chunk, the running PPL and the time left. The result is an IQuant.IQuantPerplexity: Model, Path, PPL, Error, Tokens, Chunks, Context, ScoredTokens, Time, TokensPerSecond, Threads.

Several models, or model files piped from Get-ChildItem, are measured one after the other on the same text. That is the way to see what a quantization cost.
'@
    Parameters  = @{
        Model         = 'The GGUF model files. Wildcards are allowed. Accepts pipeline input, including file objects from Get-ChildItem.'
        Path          = 'The text file to score, e.g. wiki.test.raw.'
        Context       = 'The chunk length in tokens (llama-perplexity -c). Default 512. The text must hold at least two chunks.'
        Chunks        = 'Evaluate at most this many chunks (llama-perplexity --chunks). Default: all.'
        ThrottleLimit = 'The number of compute threads. Default: all logical processors.'
        KvCacheType   = 'The element type of the KV cache: F16 (default, as llama.cpp) or F32.'
    }
    Examples    = @(
        @{ Title = 'Perplexity of a model'; Code = 'Measure-IQuantPerplexity -Model model-IQ4_KS.gguf -Path wiki.test.raw'; Remarks = '' }
        @{ Title = 'Compare quantizations on the first 20 chunks'; Code = "Get-ChildItem model-*.gguf | Measure-IQuantPerplexity -Path eval.txt -Chunks 20 | Sort-Object PPL | Format-Table Model, PPL, Error"; Remarks = '' }
        @{ Title = 'The bundled demo model'; Code = 'Measure-IQuantPerplexity models/iquant-demo-f16.gguf -Path eval-public.txt -Chunks 8'; Remarks = 'On the full eval-public.txt of the shared folder, the F16 demo model gives 36.1605, the figure that ik_llama.cpp gives.' }
    )
    Links       = @('Invoke-IQuantChat', 'ConvertTo-IQuant', 'Measure-IQuantError')
}
