@{
    Synopsis    = 'Computes statistics of tensor values: min, max, mean, standard deviation, absmax, RMS, kurtosis, outlier fraction, and an optional histogram.'
    Description = @'
Measure-GgufTensor reads the values of piped tensors (or the tensors of -Path matching -Name). It dequantizes any type IQuant reads and emits one IQuant.GgufTensorStats per tensor.

Kurtosis is the plain fourth standardised moment (3 for a normal distribution): heavy-tailed weights, which quantize worse, score higher. Outliers is the fraction of values more than 6 standard deviations from the mean. NaN and infinite values are counted in NonFinite and left out of every other statistic.

The work runs in chunks of rows, so memory stays bounded. The reductions use SIMD (System.Numerics.Tensors) and run in parallel on -ThrottleLimit threads.
'@
    Parameters  = @{
        InputObject   = 'Tensors from Get-GgufTensor.'
        Path          = 'Model files (wildcards allowed); used with -Name instead of piping tensors.'
        Name          = 'With -Path: tensor names to measure (wildcards). Default: every tensor.'
        Histogram     = 'The number of equal-width histogram bins between Min and Max. Default 0: no histogram.'
        ThrottleLimit = 'The number of threads. Default: all logical processors.'
    }
    Examples    = @(
        @{ Title = 'Which tensors have heavy tails?'; Code = 'Get-GgufTensor model.gguf -Name ''blk.*'' | Measure-GgufTensor | Sort-Object Kurtosis -Descending | Select-Object -First 5 Name, Kurtosis, Outliers'; Remarks = '' }
        @{ Title = 'A histogram'; Code = '$s = Measure-GgufTensor -Path model.gguf -Name token_embd.weight -Histogram 20; $s.Histogram'; Remarks = '' }
    )
    Links       = @('Get-GgufTensor', 'Measure-IQuantError')
}
