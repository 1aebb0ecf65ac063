BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../IQuant.psd1') -Force
    $demo = Join-Path $PSScriptRoot '../../models/iquant-demo-f16.gguf'
    $shared = if ($env:IQUANT_SHARED) { $env:IQUANT_SHARED } else { Join-Path $PSScriptRoot '../../../shared' }
}

Describe 'Get-IQuantToken' {
    It 'tokenizes with BOS as the model says' {
        $t = Get-IQuantToken -Model $demo -Text 'Hello world'
        $t[0] | Should -BeOfType ([IQuant.IQuantToken])
        $t[0].Id | Should -Be 1
        $t[0].Type | Should -Be 'Control'
        ($t | Select-Object -Skip 1 | ForEach-Object Piece) -join '' | Should -Be ' Hello world'
        $t.Index | Should -Be (0..($t.Count - 1))
    }
    It 'honours -AddBos:$false and -Count' {
        $n = Get-IQuantToken $demo 'Hello world' -Count
        $m = Get-IQuantToken $demo 'Hello world' -Count -AddBos:$false
        $n | Should -Be ($m + 1)
        (Get-IQuantToken $demo 'Hello world' -AddBos:$false)[0].Id | Should -Not -Be 1
    }
    It 'tokenizes each piped string' {
        $c = 'a', 'b c' | Get-IQuantToken $demo -Count
        @($c).Count | Should -Be 2
    }
    It 'parses special-token text unless -NoParseSpecial' {
        (Get-IQuantToken $demo '</s>' -AddBos:$false).Id | Should -Be 2
        (Get-IQuantToken $demo '</s>' -AddBos:$false -NoParseSpecial).Count | Should -BeGreaterThan 1
    }
    It 'gives the llama.cpp ids of a vocab-only file' {
        $v = Join-Path $shared 'vocab/ggml-vocab-llama-spm.gguf'
        if (-not (Test-Path $v)) { Set-ItResult -Skipped -Because 'the shared vocab files are not present'; return }
        $inp = Get-Content -Raw "$v.inp"
        $out = Get-Content "$v.out"
        $first = ($inp -split "`n__ggml_vocab_test__`n")[0]
        $expected = [int[]](-split $out[0])
        (Get-IQuantToken $v $first -AddBos:$false).Id | Should -Be $expected
    }
    It 'counts the 64,899 tokens of eval-public.txt' {
        $f = Join-Path $shared 'models/eval-public.txt'
        if (-not (Test-Path $f)) { Set-ItResult -Skipped -Because 'the shared models folder is not present'; return }
        Get-IQuantToken $demo -Text (Get-Content -Raw $f) -AddBos:$false -Count | Should -Be 64899
    }
    It 'reports a file without vocabulary with NoVocabulary' {
        $f = Join-Path $TestDrive 'empty.gguf'
        # a valid GGUF v3 with no KVs and no tensors
        [IO.File]::WriteAllBytes($f, [byte[]](0x47,0x47,0x55,0x46, 3,0,0,0, 0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0))
        { Get-IQuantToken $f 'x' -ErrorAction Stop } | Should -Throw -ErrorId 'NoVocabulary*'
    }
}
