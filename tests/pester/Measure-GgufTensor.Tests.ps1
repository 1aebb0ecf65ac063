BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../IQuant.psd1') -Force
    $demo = (Resolve-Path (Join-Path $PSScriptRoot '../../models/iquant-demo-f16.gguf')).ProviderPath
}

Describe 'Measure-GgufTensor' {
    It 'computes statistics that agree with a direct computation' {
        # blk.0.attn_norm.weight is F32: read its 256 values straight from the file to check against.
        $t = Get-GgufTensor $demo -Name blk.0.attn_norm.weight
        $s = $t | Measure-GgufTensor
        $fs = [IO.File]::OpenRead($demo)
        try {
            $buf = [byte[]]::new(1024); $null = $fs.Seek($t.FileOffset, 'Begin'); $null = $fs.Read($buf, 0, 1024)
        } finally { $fs.Dispose() }
        $v = 0..255 | ForEach-Object { [double][BitConverter]::ToSingle($buf, 4 * $_) }
        $m = ($v | Measure-Object -Average -Minimum -Maximum)
        $s.Mean | Should -BeGreaterThan ($m.Average - 1e-6); $s.Mean | Should -BeLessThan ($m.Average + 1e-6)
        $s.Min | Should -Be $m.Minimum
        $s.Max | Should -Be $m.Maximum
        $s.Count | Should -Be 256
        $s.Min | Should -BeLessOrEqual $s.Mean
        $s.Max | Should -BeGreaterOrEqual $s.Mean
        $s.AbsMax | Should -Be ([Math]::Max([Math]::Abs($s.Min), [Math]::Abs($s.Max)))
        $s.Rms * $s.Rms | Should -BeGreaterOrEqual ($s.Mean * $s.Mean - 1e-9)
        [Math]::Abs($s.Rms * $s.Rms - ($s.Std * $s.Std + $s.Mean * $s.Mean)) | Should -BeLessThan 1e-6
    }
    It 'measures F16 weights with plausible values and a histogram that counts every value' {
        $s = Measure-GgufTensor -Path $demo -Name blk.0.ffn_up.weight -Histogram 16
        $s.Count | Should -Be (256 * 768)
        $s.Std | Should -BeGreaterThan 0
        $s.Kurtosis | Should -BeGreaterThan 1
        $s.Histogram.Count | Should -Be 16
        $s.HistogramEdges.Count | Should -Be 17
        ($s.Histogram | Measure-Object -Sum).Sum | Should -Be $s.Count
        $s.HistogramEdges[0] | Should -Be $s.Min
    }
    It 'measures quantized tensors by dequantizing them' {
        $q = Join-Path $TestDrive 'q.gguf'
        Get-GgufTensor $demo -Name blk.0.ffn_up.weight | ConvertTo-IQuant -Type IQ4_KS -OutFile $q | Out-Null
        $a = Measure-GgufTensor -Path $demo -Name blk.0.ffn_up.weight
        $b = Measure-GgufTensor -Path $q -Name blk.0.ffn_up.weight
        $b.Type | Should -Be 'IQ4_KS'
        [Math]::Abs($b.Std - $a.Std) / $a.Std | Should -BeLessThan 0.05
    }
}

Describe 'Measure-IQuantError' {
    BeforeAll {
        $rows = Get-GgufTensor $demo -Name 'blk.0.ffn_*.weight' | Measure-IQuantError -Type IQ2_K, IQ3_KS, IQ4_KS
    }
    It 'emits one row per tensor and type' {
        $rows.Count | Should -Be 9
        ($rows | Select-Object -ExpandProperty Type -Unique | Sort-Object) | Should -Be @('IQ2_K', 'IQ3_KS', 'IQ4_KS')
    }
    It 'orders the types by error as their bit widths say' {
        foreach ($g in $rows | Group-Object Name) {
            $byBpw = $g.Group | Sort-Object Bpw
            $byBpw[0].RelativeError | Should -BeGreaterThan $byBpw[1].RelativeError
            $byBpw[1].RelativeError | Should -BeGreaterThan $byBpw[2].RelativeError
            $byBpw[2].Cosine | Should -BeGreaterThan 0.99
        }
    }
    It 'agrees with what ConvertTo-IQuant reports for the same tensor and type' {
        $o = Join-Path $TestDrive 'cmp.gguf'
        $written = Get-GgufTensor $demo -Name blk.0.ffn_up.weight | ConvertTo-IQuant -Type IQ3_KS -OutFile $o | Where-Object Quantized
        $measured = $rows | Where-Object { $_.Name -eq 'blk.0.ffn_up.weight' -and $_.Type -eq 'IQ3_KS' }
        $measured.Bytes | Should -Be $written.ResultBytes
        [Math]::Abs($measured.RelativeError - $written.RelativeError) | Should -BeLessThan 1e-9
    }
    It 'skips types whose block does not fit, with a warning' {
        # ffn_down rows are 768 long: fine for 256-blocks; token_embd rows are 256: all fit. Use a 1-D tensor: skipped.
        $r = Get-GgufTensor $demo -Name blk.0.attn_norm.weight | Measure-IQuantError -Type IQ4_KS -WarningVariable w -WarningAction SilentlyContinue
        $r | Should -BeNullOrEmpty
        $w.Count | Should -Be 1
    }
}
