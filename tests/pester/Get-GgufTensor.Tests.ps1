BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot '../../IQuant.psd1') -Force
    $cmdlets = Get-Command -Module IQuant -CommandType Cmdlet | ForEach-Object { @{ Name = $_.Name } }
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../IQuant.psd1') -Force
    $demo = Join-Path $PSScriptRoot '../../models/iquant-demo-f16.gguf'
}

Describe 'Get-GgufTensor' {
    BeforeAll { $all = Get-GgufTensor $demo }
    It 'lists every tensor with the documented properties' {
        $all.Count | Should -Be (Get-GgufModel $demo).TensorCount
        $t = $all | Where-Object Name -eq 'blk.0.ffn_down.weight'
        $t | Should -BeOfType ([IQuant.GgufTensor])
        $t.Type | Should -Be 'F16'
        $t.Shape | Should -Be @(768, 256)
        $t.Elements | Should -Be (768 * 256)
        $t.Size | Should -Be (768 * 256 * 2)
        $t.Size | Should -BeOfType ([long])
        $t.Bpw | Should -Be 16
        $t.Layer | Should -Be 0
        $t.Path | Should -Be (Resolve-Path $demo).ProviderPath
        ($all | Where-Object Name -eq 'token_embd.weight').Layer | Should -BeNullOrEmpty
    }
    It 'filters with Where Size -gt 1MB' {
        $big = Get-GgufTensor $demo | Where-Object Size -gt 1MB
        $big.Count | Should -BeGreaterThan 0
        $big.Count | Should -BeLessThan $all.Count
        $big | ForEach-Object { $_.Size | Should -BeGreaterThan 1MB }
    }
    It 'filters names with wildcards' {
        $ffn = Get-GgufTensor $demo -Name 'blk.*.ffn_*'
        $ffn.Count | Should -Be (6 * 4)   # gate, up, down, norm per layer
        $ffn.Name | ForEach-Object { $_ | Should -BeLike 'blk.*.ffn_*' }
    }
    It 'filters by type' {
        (Get-GgufTensor $demo -Type F32).Type | Sort-Object -Unique | Should -Be 'F32'
    }
    It 'completes -Name from the file''s tensor names' {
        $line = "Get-GgufTensor -Path '$demo' -Name blk.0.ffn_d"
        $r = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        $r.CompletionMatches.CompletionText | Should -Contain 'blk.0.ffn_down.weight'
    }
    It 'completes type names' {
        $line = 'Get-IQuantType -Name IQ4_K'
        $r = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        $r.CompletionMatches.CompletionText | Should -Contain 'IQ4_KS'
    }
    It 'has a default table view' {
        $text = Get-GgufTensor $demo -Name token_embd.weight | Out-String
        $text | Should -Match 'token_embd.weight'
        $text | Should -Match 'Size'
    }
}

Describe 'Get-GgufMetadata' {
    It 'returns typed entries in file order' {
        $m = Get-GgufMetadata $demo
        $m[0].Key | Should -Be 'general.architecture'
        ($m | Where-Object Key -eq 'general.architecture').Value | Should -Be 'llama'
        $tok = $m | Where-Object Key -eq 'tokenizer.ggml.tokens'
        $tok.Type | Should -Be 'Array[String]'
        $tok.Count | Should -Be 4096
    }
    It 'filters keys and returns bare values with -ValueOnly' {
        Get-GgufMetadata $demo -Key 'llama.context_length' -ValueOnly | Should -Be 512
        (Get-GgufMetadata $demo -Key 'tokenizer.*').Key | ForEach-Object { $_ | Should -BeLike 'tokenizer.*' }
    }
}

Describe 'Help' {
    It '<Name> has a synopsis, an example and a description of every parameter' -ForEach $cmdlets {
        $h = Get-Help $Name -Full
        $h.Synopsis | Should -Not -BeNullOrEmpty
        $h.Synopsis | Should -Not -Be $Name
        $h.Synopsis | Should -Not -Match '^\s*\S+-\S+ \[' -Because 'an auto-generated synopsis means the help file was not found'
        ($h.Description | Out-String).Trim() | Should -Not -BeNullOrEmpty
        @($h.Examples.Example).Count | Should -BeGreaterThan 0
        foreach ($p in $h.Parameters.Parameter) {
            ($p.Description | Out-String).Trim() | Should -Not -BeNullOrEmpty -Because "parameter $($p.Name) needs a description"
        }
    }
}
