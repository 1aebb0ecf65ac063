@{
    Synopsis    = 'Lists the tensors of GGUF files: name, type, shape, size in bytes, bits per weight, layer.'
    Description = @'
Get-GgufTensor emits one IQuant.GgufTensor per tensor (of every shard, for split models). Size is a [long] in bytes, per-row scales of the KS types included, so `Where Size -gt 1MB` works. Shape lists the ggml dimensions, row length first. Layer is the block index of 'blk.N.' tensors, else null.

The objects carry the model path and the tensor name, so they can be piped to ConvertTo-IQuant, Measure-GgufTensor and Measure-IQuantError. Reading tensor infos never reads tensor data.
'@
    Parameters  = @{
        Path        = 'GGUF files to read. Wildcards are allowed. Accepts pipeline input.'
        LiteralPath = 'GGUF files to read, taken literally. Bound from the PSPath property of piped file objects.'
        Name        = 'Tensor names to show; wildcards are allowed (e.g. ''blk.*.ffn_*''). Tab completion offers the tensor names of the file given by -Path. Default: every tensor.'
        Type        = 'Only tensors stored in these types (e.g. F16, Q8_0, IQ4_KS); wildcards are allowed.'
    }
    Examples    = @(
        @{ Title = 'The ten largest tensors'; Code = 'Get-GgufTensor model.gguf | Sort-Object Size -Descending | Select-Object -First 10'; Remarks = '' }
        @{ Title = 'Feed-forward tensors of every layer'; Code = "Get-GgufTensor model.gguf -Name 'blk.*.ffn_*'"; Remarks = '' }
        @{ Title = 'Quantize the big tensors'; Code = 'Get-GgufTensor model.gguf | Where Size -gt 1MB | ConvertTo-IQuant -Type IQ4_KS'; Remarks = 'Tensors that arrive are converted; the rest of the file is copied unchanged.' }
        @{ Title = 'Bytes per type'; Code = 'Get-GgufTensor model.gguf | Group-Object Type | Select-Object Name, Count, @{ n = ''MB''; e = { ($_.Group | Measure-Object Size -Sum).Sum / 1MB } }'; Remarks = '' }
    )
    Links       = @('Get-GgufModel', 'ConvertTo-IQuant', 'Measure-GgufTensor')
}
