BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../IQuant.psd1') -Force
    $demo = Join-Path $PSScriptRoot '../../models/iquant-demo-f16.gguf'
    $shared = if ($env:IQUANT_SHARED) { $env:IQUANT_SHARED } else { Join-Path $PSScriptRoot '../../../shared' }
    $text = Join-Path $TestDrive 'text.txt'
    # Enough text for a few short chunks: verses made of the demo model's own greedy output are not needed, any English works.
    $eval = Join-Path $shared 'models/eval-public.txt'
    if (Test-Path $eval) { Set-Content -LiteralPath $text -Value ((Get-Content -Raw $eval).Substring(0, 20000)) }
    else { Set-Content -LiteralPath $text -Value ((1..300 | ForEach-Object { "And the LORD spoke unto Moses, saying, Speak unto the children of Israel. $_" }) -join "`n") }
}

Describe 'Measure-IQuantPerplexity' {
    It 'measures a few chunks and emits the result object' {
        $r = Measure-IQuantPerplexity -Model $demo -Path $text -Context 128 -Chunks 3
        $r | Should -BeOfType ([IQuant.IQuantPerplexity])
        $r.Chunks | Should -Be 3
        $r.Context | Should -Be 128
        $r.ScoredTokens | Should -Be (3 * 63)
        $r.PPL | Should -BeGreaterThan 1
        $r.PPL | Should -BeLessThan 1000
        $r.Error | Should -BeGreaterThan 0
        $r.Model | Should -Be (Resolve-Path $demo).ProviderPath
    }
    It 'is reproducible and independent of the thread count' {
        $a = Measure-IQuantPerplexity $demo -Path $text -Context 64 -Chunks 2 -ThrottleLimit 1
        $b = Measure-IQuantPerplexity $demo -Path $text -Context 64 -Chunks 2 -ThrottleLimit 2
        $b.PPL | Should -Be $a.PPL
    }
    It 'accepts model files from Get-ChildItem' {
        $r = Get-Item $demo | Measure-IQuantPerplexity -Path $text -Context 64 -Chunks 1
        $r.Chunks | Should -Be 1
    }
    It 'refuses a text shorter than two chunks' {
        $short = Join-Path $TestDrive 'short.txt'
        Set-Content $short 'In the beginning'
        { Measure-IQuantPerplexity $demo -Path $short -ErrorAction Stop } | Should -Throw '*needs at least*'
    }
    It 'reports a missing text file' {
        { Measure-IQuantPerplexity $demo -Path (Join-Path $TestDrive 'none.txt') -ErrorAction Stop } | Should -Throw -ErrorId 'PathNotFound*'
    }
    It 'gives the F16 figure of ik_llama.cpp on the first 8 chunks of eval-public.txt' {
        $f = Join-Path $shared 'models/eval-public.txt'
        if (-not (Test-Path $f)) { Set-ItResult -Skipped -Because 'the shared models folder is not present'; return }
        $r = Measure-IQuantPerplexity $demo -Path $f -Chunks 8
        $r.Tokens | Should -Be 64900
        [math]::Round($r.PPL, 2) | Should -Be 30.17
    }
}
