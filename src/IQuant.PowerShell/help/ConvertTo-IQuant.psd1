@{
    Synopsis    = 'Quantizes piped tensors, or a whole model with llama-quantize''s recipe, into a new GGUF file that ik_llama.cpp loads.'
    Description = @'
ConvertTo-IQuant writes a new GGUF file. Its bytes are the bytes ik_llama.cpp's llama-quantize writes for the same input, type and importance matrix.

Pipeline mode: tensors piped from Get-GgufTensor are converted to -Type. Every other tensor of the same file is copied unchanged. One output file is written per source file, at the end. Tensors that llama.cpp never quantizes (1-D tensors, norms) are copied with a warning. Rows that are not a multiple of the type's block get llama-quantize's fallback type (IQ4_NL, Q5_0, Q6_0 or Q8_0), also with a warning.

Model mode (-Path): applies the per-tensor recipe of `llama-quantize model.gguf out.gguf TYPE`: the output tensor, the token embedding, attn_v, attn_output and ffn_down rules, and the row-length fallbacks. -Pure, -TensorType (like --custom-q), -OutputTensorType, -TokenEmbeddingType and -LeaveOutputTensor change that recipe. The file gets general.file_type, general.quantization_version and, with -Imatrix, the quantize.imatrix.* keys.

Automatic mixes (-TargetBpw or -TargetSize, with -Path): instead of a recipe, IQuant chooses a type per quantizable tensor from -CandidateType (default IQ2_KS, IQ2_K, IQ2_KL, IQ3_KS, IQ3_K, IQ4_KSS, IQ4_KS, IQ4_K, IQ5_KS, IQ5_K, IQ6_K, Q6_K, Q8_0) so that the output meets the budget and the predicted loss is minimal. First every tensor is quantized in memory to every candidate and its error measured: Σ w·(x̂ − x)² / Σ w·x², with w the imatrix values of the tensor (so the error is that of the matrix's output on typical activations), the squared gains of the preceding norm when there is no imatrix entry (output.weight: output_norm), or 1. Then the errors are turned into predicted loss. With -CalibrationPath, IQuant measures each tensor's sensitivity: for each -ProbeType it writes a model with only that tensor quantized and measures the mean KL-divergence against the source model on -CalibrationChunks chunks of the calibration text; the loss of the other types follows a power law in the error through these points. Tensors without an imatrix entry (output.weight, token_embd.weight) are probed at every candidate: they are the most sensitive, and their error measure ranks types less reliably. Without calibration text a prior per tensor class is used (output and token embedding most sensitive, then ffn_down and attn_v), which is much less accurate. Finally the allocation is solved as a multiple-choice knapsack (convex-hull greedy and an exact dynamic programme; the better wins). Each tensor's Reason explains its choice: the predicted loss, the error, what the next smaller and larger candidate would save or cost, and the budget's price per KiB. -TensorType, -OutputTensorType and -TokenEmbeddingType fix types that the mix keeps; -LeaveOutputTensor copies output.weight. The measurements and probes are cached (-AnalysisPath, default the IQuant folder in the temp folder), so mixes for other budgets of the same model are planned in seconds. The types are written with the codecs and importance weights llama-quantize would use, so every tensor is what `llama-quantize --custom-q` with the chosen type gives; general.file_type is the ftype of the type holding most bytes. -TargetSize is the size of the output file, header and alignment included; -TargetBpw is bits per weight over all tensor data (norms included), as the file result's Bpw reports it.

The default output is <source base name>-<TYPE>.gguf (for a mix <source base name>-MIX-<bpw>bpw.gguf) beside the source (a trailing -f16/-f32/-bf16 and a split suffix are dropped from the base name). The output appears only when complete: data goes to a hidden temp file in the target folder, which is renamed when done. Ctrl+C, an error or a full disk leaves no output and no temp file. The input is never written over, even with -Force.

Work streams tensor by tensor, and in chunks of rows inside a tensor, so memory stays bounded whatever the model size. Each tensor emits an IQuant.IQuantTensorResult (types, bytes, bpw, RMSE and relative error against the source values, time). Each file then emits an IQuant.IQuantFileResult. -WhatIf prints the plan (per-tensor type, size and reason, then the totals) without quantizing, like llama-quantize --dry-run.
'@
    Parameters  = @{
        InputObject        = 'Tensors from Get-GgufTensor (pipeline mode). Tensors of several files produce one output per file.'
        Path               = 'The model to quantize with the recipe of -Type (model mode). Wildcards are allowed. For a split model, give the first shard.'
        Type               = 'The target type. In pipeline mode, any type IQuant writes (see Get-IQuantType). In model mode, the llama-quantize file type whose recipe is applied: IQ2_K, IQ2_KS, IQ3_K, IQ3_KS, IQ4_K, IQ4_KS, and the single-type recipes IQ5_K, IQ5_KS, IQ6_K, IQ4_KSS, IQ2_KL, Q8_0, Q6_0, Q5_0, Q4_0, IQ4_NL, IQ4_XS, Q6_K.'
        OutFile            = 'The output file. Default: <source base name>-<TYPE>.gguf beside the source.'
        Force              = 'Replace an existing output file. The input is never replaced.'
        Imatrix            = 'An importance matrix: the legacy .dat format of llama-imatrix, or the GGUF imatrix format. Entries are matched to tensors by name, with llama-quantize''s fallbacks.'
        AllowRequantize    = 'Accept source tensors that are already quantized: they are dequantized, then quantized again (llama-quantize --allow-requantize).'
        Pure               = 'Model mode: give every quantizable tensor the default type of -Type, without per-tensor rules (llama-quantize --pure).'
        TensorType         = 'Model mode: per-tensor overrides as a hashtable of regular expression to type, e.g. [ordered]@{ ''ffn_down'' = ''Q6_K''; ''attn_.*'' = ''IQ4_KS'' }. The first pattern that matches anywhere in the name wins (llama-quantize --custom-q). Use [ordered] when several patterns can match.'
        OutputTensorType   = 'Model mode: the type of output.weight (llama-quantize --output-tensor-type).'
        TokenEmbeddingType = 'Model mode: the type of token_embd.weight (llama-quantize --token-embedding-type).'
        LeaveOutputTensor  = 'Model mode: copy output.weight unchanged (llama-quantize --leave-output-tensor).'
        MaxShardSize       = 'Split the output into shards of at most this many bytes of tensor data, e.g. 2GB (gguf-split --split-max-size).'
        MaxShardTensors    = 'Split the output into shards of at most this many tensors (gguf-split --split-max-tensors).'
        ThrottleLimit      = 'The number of threads. Default: all logical processors.'
        ScalarIq2Ks        = 'Use ik_llama.cpp''s scalar IQ2_KS encoder instead of the default AVX2-path encoder that x86 llama-quantize uses.'
        TargetBpw          = 'Automatic mix: the average bits per weight over all tensor data. The mix stays at or below it.'
        TargetSize         = 'Automatic mix: the size of the output file in bytes, e.g. 2.5GB. The file stays at or below it.'
        CandidateType      = 'Automatic mix: the types a tensor may get. Default IQ2_KS, IQ2_K, IQ2_KL, IQ3_KS, IQ3_K, IQ4_KSS, IQ4_KS, IQ4_K, IQ5_KS, IQ5_K, IQ6_K, Q6_K, Q8_0. Rows that are not a multiple of a type''s block get its llama-quantize fallback.'
        CalibrationPath    = 'Automatic mix: calibration text for sensitivity probes (recommended). Each tensor is quantized alone to each -ProbeType and the KL-divergence against the source model measured, so the model must be one IQuant can run. Costs one short evaluation per tensor and probe type.'
        CalibrationChunks  = 'Automatic mix: chunks of calibration text evaluated per probe. Default 4. More chunks give steadier sensitivities and take longer.'
        CalibrationContext = 'Automatic mix: the chunk length of the probes in tokens. Default 512.'
        ProbeType          = 'Automatic mix: the types each tensor is probed at. Default: the smallest candidate, the candidates nearest 4.5 and 6.5 bpw, and the largest.'
        AnalysisPath       = 'Automatic mix: the file where the measurements and probes are cached (JSON). Default: mix-<hash>.json in the IQuant folder of the temp folder. Reused when the model, imatrix, candidates and calibration are the same.'
        WhatIf             = 'Show the plan (per tensor: type, size, reason; then the totals) without quantizing or writing anything. For a mix the measurements and probes still run (or come from the cache).'
        Confirm            = 'Ask before writing each output file.'
    }
    Examples    = @(
        @{ Title = 'Quantize the big tensors'; Code = 'Get-GgufTensor model.gguf | Where Size -gt 1MB | ConvertTo-IQuant -Type IQ4_KS'; Remarks = 'Writes model-IQ4_KS.gguf beside model.gguf. The small tensors are copied unchanged.' }
        @{ Title = 'Reproduce llama-quantize'; Code = 'ConvertTo-IQuant -Path model-f16.gguf -Type IQ4_KS -Imatrix model.imatrix'; Remarks = 'The same bytes as `llama-quantize --imatrix model.imatrix model-f16.gguf model-IQ4_KS.gguf IQ4_KS`.' }
        @{ Title = 'Dry run'; Code = 'ConvertTo-IQuant -Path model-f16.gguf -Type IQ2_KS -WhatIf | Format-Table Name, TargetType, ResultBytes, Reason'; Remarks = 'Shows the type each tensor would get and the resulting size, without quantizing.' }
        @{ Title = 'Keep the feed-forward down projection at higher precision'; Code = "ConvertTo-IQuant model-f16.gguf IQ3_KS -TensorType ([ordered]@{ 'ffn_down' = 'IQ4_KS' })"; Remarks = '' }
        @{ Title = 'An automatic mix for a size'; Code = 'ConvertTo-IQuant -Path model-f16.gguf -TargetSize 2.5GB -Imatrix model.imatrix -CalibrationPath calibration.txt'; Remarks = 'Chooses a type per tensor so that the file is at most 2.5 GB and the predicted KL-divergence minimal.' }
        @{ Title = 'Explain a mix without writing it'; Code = 'ConvertTo-IQuant -Path model-f16.gguf -TargetBpw 3.5 -Imatrix model.imatrix -WhatIf | Format-Table Name, TargetType, Bpw, Reason -Wrap'; Remarks = 'Each tensor''s Reason says what the next smaller and larger candidate would save or cost.' }
        @{ Title = 'Unattended'; Code = 'Get-ChildItem models/*-f16.gguf | ForEach-Object { ConvertTo-IQuant -Path $_.FullName -Type IQ4_KS -Force -ErrorAction Stop | Where-Object { $_ -is [IQuant.IQuantFileResult] } } | Export-Csv quantized.csv'; Remarks = 'No prompts; errors stop the script; the file results are logged.' }
    )
    Links       = @('Get-GgufTensor', 'Get-IQuantType', 'Measure-IQuantError')
}
