@{
    Synopsis    = 'Computes an importance matrix (imatrix) from calibration text, as ik_llama.cpp''s llama-imatrix does.'
    Description = @'
New-IQuantImatrix runs the model over calibration text and records, for every weight matrix of the transformer blocks (blk.*), the mean of the squared activations entering each input column. ConvertTo-IQuant -Imatrix (and llama-quantize --imatrix) uses these values to weight the quantization error, which matters most at 2 and 3 bits per weight.

The computation is llama-imatrix's: the whole text is tokenized once, with BOS first when the model adds one, and cut into chunks of -Context tokens (the tail that does not fill a chunk is not used; -Chunks takes only the first chunks). Each chunk is evaluated from an empty KV cache with its first token replaced by BOS. For every weight matrix, each activation row of a forward pass with at least 16 rows adds a² per column: attn_q, attn_k and attn_v see the normalized attention input, attn_output the attention result, ffn_gate and ffn_up the normalized feed-forward input, ffn_down silu(gate)·up. -ProcessOutput adds output.weight (llama-imatrix --process-output). The stored value per column is (Σa² / count) · ncall with ncall the number of forward passes (one per chunk up to 512 tokens), exactly as llama-imatrix stores it, so llama-quantize's division by ncall yields the mean.

-Format Dat (default) writes the legacy format that ik_llama.cpp and llama.cpp read, including the chunk count and the text's file name. -Format Gguf writes the mainline GGUF imatrix layout (imatrix.datasets, imatrix.chunk_count, imatrix.chunk_size, <name>.in_sum2 and <name>.counts), which ConvertTo-IQuant reads as well.

On the way the perplexity of the calibration text is computed from the second half of each chunk, as llama-imatrix prints it (-NoPerplexity skips it). A progress bar shows the chunk and the time left. The result is an IQuant.IQuantImatrixResult: Path, Model, Dataset, Format, Entries, Chunks, Context, Tokens, PPL, Error, Time, TokensPerSecond. The output appears only when complete; an existing file is replaced only with -Force.
'@
    Parameters  = @{
        Model         = 'The model: a GGUF file that IQuant can run (llama, qwen2, qwen3 architectures), usually the F16/BF16 original.'
        Path          = 'The calibration text file. It must hold at least two chunks of tokens.'
        OutFile       = 'The imatrix file to write. Default: <model base name>.imatrix (or .imatrix.gguf with -Format Gguf) beside the model.'
        Context       = 'The chunk length in tokens (llama-imatrix -c). Default 512.'
        Chunks        = 'Use at most this many chunks (llama-imatrix --chunks). Default: all.'
        Format        = 'Dat (default): the legacy .dat format of llama-imatrix, read by ik_llama.cpp. Gguf: the mainline GGUF imatrix format.'
        ProcessOutput = 'Also collect the input of output.weight (llama-imatrix --process-output).'
        NoPerplexity  = 'Do not compute the perplexity of the calibration text (llama-imatrix --no-ppl). Saves the output projection of half the positions.'
        Force         = 'Replace an existing output file.'
        ThrottleLimit = 'The number of compute threads. Default: all logical processors.'
        WhatIf        = 'Show what would be computed and where it would be written, without evaluating the model.'
        Confirm       = 'Ask before computing.'
    }
    Examples    = @(
        @{ Title = 'An importance matrix for quantization'; Code = 'New-IQuantImatrix -Model model-f16.gguf -Path calibration.txt -OutFile model.imatrix'; Remarks = 'Then: ConvertTo-IQuant -Path model-f16.gguf -Type IQ2_KS -Imatrix model.imatrix' }
        @{ Title = 'The demo model'; Code = 'New-IQuantImatrix models/iquant-demo-f16.gguf -Path calibration.txt -Context 512 -OutFile demo.imatrix'; Remarks = 'On the shared calibration.txt this reproduces the iquant-demo.imatrix that ik_llama.cpp''s llama-imatrix computed (146 chunks).' }
        @{ Title = 'A quick matrix in the mainline GGUF format'; Code = 'New-IQuantImatrix model-f16.gguf calibration.txt -Chunks 20 -Format Gguf -OutFile model.imatrix.gguf'; Remarks = '' }
    )
    Links       = @('ConvertTo-IQuant', 'Compare-IQuantModel', 'Measure-IQuantPerplexity')
}
