BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../IQuant.psd1') -Force
    $demo = (Resolve-Path (Join-Path $PSScriptRoot '../../models/iquant-demo-f16.gguf')).ProviderPath
    $shared = if ($env:IQUANT_SHARED) { $env:IQUANT_SHARED } else { Join-Path $PSScriptRoot '../../../shared' }
    $text = Join-Path $TestDrive 'text.txt'
    $eval = Join-Path $shared 'models/eval-public.txt'
    if (Test-Path $eval) { Set-Content -LiteralPath $text -Value ((Get-Content -Raw $eval).Substring(0, 12000)) }
    else { Set-Content -LiteralPath $text -Value ((1..300 | ForEach-Object { "And the LORD spoke unto Moses, saying, Speak unto the children of Israel. $_" }) -join "`n") }
    # A quantized candidate: the feed-forward matrices at 2 bits.
    $q2 = Join-Path $TestDrive 'demo-q2.gguf'
    Get-GgufTensor $demo -Name 'blk.*.ffn_*' | ConvertTo-IQuant -Type IQ2_KS -OutFile $q2 | Out-Null
    $logits = Join-Path $TestDrive 'ref.kld'
}

Describe 'Compare-IQuantModel' {
    BeforeAll {
        $r = Compare-IQuantModel -Reference $demo -Model $q2 -Path $text -Context 128 -Chunks 3 -ReferenceLogits $logits
    }
    It 'emits llama-perplexity''s KL-divergence statistics' {
        $r | Should -BeOfType ([IQuant.IQuantComparison])
        $r.Model | Should -Be $q2
        $r.Chunks | Should -Be 3
        $r.Tokens | Should -Be (3 * 63)
        $r.MeanKld | Should -BeGreaterThan 0.001
        $r.MeanKldError | Should -BeGreaterThan 0
        $r.MedianKld | Should -BeLessThan $r.Kld99
        $r.Kld99 | Should -BeLessOrEqual $r.MaxKld
        $r.SameTop | Should -BeGreaterThan 0.5
        $r.SameTop | Should -BeLessOrEqual 1
        $r.PPL | Should -BeGreaterThan $r.ReferencePPL
        [math]::Abs($r.PPLRatio - $r.PPL / $r.ReferencePPL) | Should -BeLessThan 1e-9
    }
    It 'stores the reference in llama-perplexity''s format and reuses it' {
        $bytes = [IO.File]::ReadAllBytes($logits)
        [Text.Encoding]::ASCII.GetString($bytes, 0, 8) | Should -Be '_logits_'
        [BitConverter]::ToInt32($bytes, 8) | Should -Be 128
        [BitConverter]::ToInt32($bytes, 16) | Should -Be 3
        $before = (Get-Item $logits).LastWriteTimeUtc
        $again = Compare-IQuantModel -Reference $demo -Model $q2 -Path $text -Context 128 -Chunks 3 -ReferenceLogits $logits
        (Get-Item $logits).LastWriteTimeUtc | Should -Be $before
        $again.MeanKld | Should -Be $r.MeanKld
        $only = Compare-IQuantModel -Model $q2 -ReferenceLogits $logits
        $only.MeanKld | Should -Be $r.MeanKld
        $only.Reference | Should -Be $logits
    }
    It 'gives the reference''s perplexity for the reference itself, with zero divergence' {
        $self = Compare-IQuantModel -Model $demo -ReferenceLogits $logits
        $self.MeanKld | Should -BeLessThan 1e-5
        $self.SameTop | Should -Be 1
        $ppl = Measure-IQuantPerplexity $demo -Path $text -Context 128 -Chunks 3
        [math]::Abs($self.PPL / $ppl.PPL - 1) | Should -BeLessThan 1e-6   # f32 vs f64 log-sum-exp, as in llama-perplexity
        [math]::Abs($self.ReferencePPL / $ppl.PPL - 1) | Should -BeLessThan 1e-3
    }
    It 'compares several models against one reference run' {
        $all = Get-Item $demo, $q2 | Compare-IQuantModel -Reference $demo -Path $text -Context 128 -Chunks 2 -ReferenceLogits (Join-Path $TestDrive 'two.kld')
        $all.Count | Should -Be 2
        $all[0].MeanKld | Should -BeLessThan $all[1].MeanKld
    }
    It 'refuses a file that is not a logits file' {
        $bad = Join-Path $TestDrive 'bad.kld'
        Set-Content $bad 'not logits'
        { Compare-IQuantModel -Model $q2 -ReferenceLogits $bad -ErrorAction Stop } | Should -Throw -ErrorId 'LogitsFileBadMagic*'
        { Compare-IQuantModel -Model $q2 -ReferenceLogits (Join-Path $TestDrive 'missing.kld') -ErrorAction Stop } | Should -Throw -ErrorId 'ReferenceLogitsNotFound*'
    }
}
