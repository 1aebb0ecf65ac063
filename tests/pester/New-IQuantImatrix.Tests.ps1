BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../IQuant.psd1') -Force
    $demo = (Resolve-Path (Join-Path $PSScriptRoot '../../models/iquant-demo-f16.gguf')).ProviderPath
    $shared = if ($env:IQUANT_SHARED) { $env:IQUANT_SHARED } else { Join-Path $PSScriptRoot '../../../shared' }
    $text = Join-Path $TestDrive 'calib.txt'
    $eval = Join-Path $shared 'models/calibration.txt'
    if (Test-Path $eval) { Set-Content -LiteralPath $text -Value ((Get-Content -Raw $eval).Substring(0, 12000)) }
    else { Set-Content -LiteralPath $text -Value ((1..300 | ForEach-Object { "And the LORD spoke unto Moses, saying, Speak unto the children of Israel. $_" }) -join "`n") }
}

Describe 'New-IQuantImatrix' {
    BeforeAll {
        $out = Join-Path $TestDrive 'demo.imatrix'
        $r = New-IQuantImatrix -Model $demo -Path $text -OutFile $out -Context 128 -Chunks 3
    }
    It 'computes the matrix and emits a summary' {
        $r | Should -BeOfType ([IQuant.IQuantImatrixResult])
        $r.Path | Should -Be $out
        $r.Format | Should -Be 'Dat'
        $r.Entries | Should -Be 42                      # 7 matrices × 6 blocks
        $r.Chunks | Should -Be 3
        $r.Context | Should -Be 128
        $r.PPL | Should -BeGreaterThan 1
        $r.Written | Should -BeTrue
        Test-Path $out | Should -BeTrue
    }
    It 'writes a file ConvertTo-IQuant uses' {
        $plan = ConvertTo-IQuant -Path $demo -Type IQ2_KS -Imatrix $out -OutFile (Join-Path $TestDrive 'x.gguf') -WhatIf
        ($plan | Where-Object { $_ -is [IQuant.IQuantFileResult] }).Written | Should -BeFalse
        $q = Join-Path $TestDrive 'q.gguf'
        Get-GgufTensor $demo -Name 'blk.0.ffn_down.weight' | ConvertTo-IQuant -Type IQ2_KS -Imatrix $out -OutFile $q | Out-Null
        Get-GgufMetadata $q -Key 'quantize.imatrix.chunks_count' -ValueOnly | Should -Be 3
        Get-GgufMetadata $q -Key 'quantize.imatrix.dataset' -ValueOnly | Should -Be 'calib.txt'
    }
    It 'writes the GGUF imatrix format' {
        $g = Join-Path $TestDrive 'demo.imatrix.gguf'
        $rg = New-IQuantImatrix $demo $text -OutFile $g -Context 128 -Chunks 3 -Format Gguf -NoPerplexity
        $rg.Format | Should -Be 'Gguf'
        [double]::IsNaN($rg.PPL) | Should -BeTrue
        Get-GgufMetadata $g -Key 'general.type' -ValueOnly | Should -Be 'imatrix'
        Get-GgufMetadata $g -Key 'imatrix.chunk_count' -ValueOnly | Should -Be 3
        (Get-GgufTensor $g -Name '*.in_sum2').Count | Should -Be 42
    }
    It 'collects output.weight with -ProcessOutput' {
        $o = Join-Path $TestDrive 'out.imatrix'
        (New-IQuantImatrix $demo $text -OutFile $o -Context 64 -Chunks 2 -ProcessOutput).Entries | Should -Be 43
    }
    It 'does not replace a file without -Force' {
        { New-IQuantImatrix $demo $text -OutFile $out -Context 128 -Chunks 1 -ErrorAction Stop } | Should -Throw -ErrorId 'OutputExists*'
        (New-IQuantImatrix $demo $text -OutFile $out -Context 128 -Chunks 1 -Force).Chunks | Should -Be 1
    }
    It 'writes nothing with -WhatIf' {
        $w = Join-Path $TestDrive 'whatif.imatrix'
        $res = New-IQuantImatrix $demo $text -OutFile $w -WhatIf
        $res.Written | Should -BeFalse
        Test-Path $w | Should -BeFalse
    }
    It 'reports a text shorter than two chunks' {
        $short = Join-Path $TestDrive 'short.txt'
        Set-Content $short 'In the beginning'
        { New-IQuantImatrix $demo $short -OutFile (Join-Path $TestDrive 's.imatrix') -ErrorAction Stop } | Should -Throw -ErrorId 'CalibrationTooShort*'
        { New-IQuantImatrix $demo (Join-Path $TestDrive 'none.txt') -ErrorAction Stop } | Should -Throw -ErrorId 'TextNotFound*'
    }
}
