@{
    Synopsis    = 'Measures what quantizing tensors to given types would cost (bpw, RMSE, relative error, cosine similarity) without writing anything.'
    Description = @'
Measure-IQuantError quantizes each piped tensor to each -Type in memory, dequantizes the result, and compares it with the source values. It emits one IQuant.IQuantErrorResult per tensor and type: bits per weight (row scales included), bytes, RMSE, relative error (the norm of the error over the norm of the tensor), cosine similarity, and the importance-weighted error. Sort or group the results to choose types.

With -Imatrix, the quantizer uses the importance weights, as ConvertTo-IQuant would, and WeightedError weights each column by them. The quantized bytes are the bytes ConvertTo-IQuant would write.
'@
    Parameters  = @{
        InputObject   = 'Tensors from Get-GgufTensor.'
        Path          = 'Model files (wildcards allowed); used with -Name instead of piping tensors.'
        Name          = 'With -Path: tensor names to measure (wildcards). Default: every tensor.'
        Type          = 'The candidate types, e.g. IQ2_K, IQ3_KS, IQ4_KS. A type is skipped, with a warning, for tensors whose rows do not fit its block size.'
        Imatrix       = 'An importance matrix (.dat or GGUF). It weights the quantizer and the WeightedError column.'
        RowStride     = 'Measure every n-th row only: faster on big tensors, at the price of a sampled estimate. Default 1: every row.'
        ThrottleLimit = 'The number of threads. Default: all logical processors.'
    }
    Examples    = @(
        @{ Title = 'Compare three types on the feed-forward tensors'; Code = "Get-GgufTensor model.gguf -Name 'blk.*.ffn_*' | Measure-IQuantError -Type IQ2_K,IQ3_KS,IQ4_KS | Sort-Object Name, Bpw | Format-Table Name, Type, Bpw, RelativeError, Cosine"; Remarks = '' }
        @{ Title = 'Error per bit, averaged per type'; Code = 'Get-GgufTensor model.gguf | Where Size -gt 1MB | Measure-IQuantError -Type IQ2_KS,IQ3_KS,IQ4_KS | Group-Object Type | ForEach-Object { [pscustomobject]@{ Type = $_.Name; MeanRelErr = ($_.Group | Measure-Object RelativeError -Average).Average } }'; Remarks = '' }
    )
    Links       = @('ConvertTo-IQuant', 'Measure-GgufTensor', 'Get-IQuantType')
}
