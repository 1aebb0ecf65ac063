BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../IQuant.psd1') -Force
    $demo = Join-Path $PSScriptRoot '../../models/iquant-demo-f16.gguf'
    $shared = if ($env:IQUANT_SHARED) { $env:IQUANT_SHARED } else { Join-Path $PSScriptRoot '../../../shared' }
    function pwsh_child([string] $command) {
        $exe = [Environment]::ProcessPath
        if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') {
            '' | & $exe (Join-Path $PSHOME 'pwsh.dll') -NoProfile -NonInteractive -Command $command 2>&1
        } else {
            '' | & $exe -NoProfile -NonInteractive -Command $command 2>&1
        }
    }
}

Describe 'Invoke-IQuantChat' {
    It 'completes a prompt greedily with -Raw and emits a response object' {
        $r = Invoke-IQuantChat $demo -Prompt 'In the beginning' -Raw -Temperature 0 -MaxTokens 16 -NoStream
        $r | Should -BeOfType ([IQuant.IQuantChatResponse])
        $r.Prompt | Should -Be 'In the beginning'
        $r.GeneratedTokens | Should -Be 16
        $r.FinishReason | Should -Be 'Length'
        $r.PromptTokens | Should -Be 4
        $r.Text | Should -Match '^\s?\w'
        $r.TokensPerSecond | Should -BeGreaterThan 0
        $r.Template | Should -Be 'Plain'
    }
    It 'is deterministic at temperature 0 and for a fixed seed' {
        $a = Invoke-IQuantChat $demo -Prompt 'And God said' -Raw -Temperature 0 -MaxTokens 12 -NoStream
        $b = Invoke-IQuantChat $demo -Prompt 'And God said' -Raw -Temperature 0 -MaxTokens 12 -NoStream
        $a.Text | Should -Be $b.Text
        $c = Invoke-IQuantChat $demo -Prompt 'And God said' -Raw -Seed 7 -MaxTokens 12 -NoStream
        $d = Invoke-IQuantChat $demo -Prompt 'And God said' -Raw -Seed 7 -MaxTokens 12 -NoStream
        $c.Text | Should -Be $d.Text
        $c.Seed | Should -Be 7
    }
    It 'answers each piped prompt once' {
        $r = 'The LORD is', 'Blessed are' | Invoke-IQuantChat $demo -Temperature 0 -MaxTokens 8 -NoStream
        @($r).Count | Should -Be 2
        $r[0].Prompt | Should -Be 'The LORD is'
        $r[1].Prompt | Should -Be 'Blessed are'
        $r | ForEach-Object { $_.GeneratedTokens | Should -BeGreaterThan 0 }
    }
    It 'uses the Plain format for a model without chat template and a forced one with -Template' {
        (Invoke-IQuantChat $demo -Prompt 'Hi' -MaxTokens 2 -NoStream -Temperature 0).Template | Should -Be 'Plain'
        (Invoke-IQuantChat $demo -Prompt 'Hi' -MaxTokens 2 -NoStream -Temperature 0 -Template ChatML).Template | Should -Be 'ChatML'
    }
    It 'writes the answer to the host while generating' {
        $out = pwsh_child "Import-Module '$((Resolve-Path (Join-Path $PSScriptRoot '../../IQuant.psd1')).Path)'; `$null = Invoke-IQuantChat '$demo' -Prompt 'In the beginning' -Raw -Temperature 0 -MaxTokens 8"
        ($out -join "`n") | Should -Match '\w+'
    }
    It 'refuses interactive mode without a terminal' {
        $out = pwsh_child "Import-Module '$((Resolve-Path (Join-Path $PSScriptRoot '../../IQuant.psd1')).Path)'; try { Invoke-IQuantChat '$demo' } catch { `$_.FullyQualifiedErrorId }"
        ($out -join "`n") | Should -Match 'NotInteractive'
    }
    It 'reports a missing model' {
        { Invoke-IQuantChat (Join-Path $TestDrive 'nope.gguf') -Prompt x -ErrorAction Stop } | Should -Throw -ErrorId 'PathNotFound*'
    }
    It 'names an unsupported architecture' {
        $vocab = Join-Path $shared 'vocab/ggml-vocab-gpt-2.gguf'
        if (-not (Test-Path $vocab)) { Set-ItResult -Skipped -Because 'the shared vocab files are not present'; return }
        { Invoke-IQuantChat $vocab -Prompt x -ErrorAction Stop } | Should -Throw '*gpt2*'
    }
    It 'runs a quantized reference file' {
        $f = Join-Path $shared 'models/iquant-demo-IQ4_KS.gguf'
        if (-not (Test-Path $f)) { Set-ItResult -Skipped -Because 'the shared reference models are not present'; return }
        $r = Invoke-IQuantChat $f -Prompt 'In the beginning' -Raw -Temperature 0 -MaxTokens 8 -NoStream
        $r.GeneratedTokens | Should -Be 8
    }
}

