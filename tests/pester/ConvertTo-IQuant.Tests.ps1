BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../IQuant.psd1') -Force
    $demo = (Resolve-Path (Join-Path $PSScriptRoot '../../models/iquant-demo-f16.gguf')).ProviderPath
    $shared = if ($env:IQUANT_SHARED) { $env:IQUANT_SHARED } else { Join-Path $PSScriptRoot '../../../shared' }
    $demoHash = (Get-FileHash $demo).Hash
}

Describe 'ConvertTo-IQuant (pipeline mode)' {
    BeforeAll {
        $out = Join-Path $TestDrive 'piped.gguf'
        $results = Get-GgufTensor $demo | Where-Object Size -gt 256KB | ConvertTo-IQuant -Type IQ4_KS -OutFile $out
        $tensorResults = $results | Where-Object { $_ -is [IQuant.IQuantTensorResult] }
        $fileResult = $results | Where-Object { $_ -is [IQuant.IQuantFileResult] }
    }
    It 'converts the piped tensors and copies the rest' {
        $before = Get-GgufTensor $demo
        $after = Get-GgufTensor $out
        $after.Count | Should -Be $before.Count
        foreach ($t in $before) {
            $a = $after | Where-Object Name -eq $t.Name
            if ($t.Size -gt 256KB) { $a.Type | Should -Be 'IQ4_KS' } else { $a.Type | Should -Be $t.Type; $a.Size | Should -Be $t.Size }
        }
    }
    It 'emits a result per tensor and one per file' {
        $tensorResults.Count | Should -Be (Get-GgufTensor $demo).Count
        $q = $tensorResults | Where-Object Quantized
        $q.Count | Should -Be (Get-GgufTensor $demo | Where-Object Size -gt 256KB).Count
        $q | ForEach-Object { $_.RelativeError | Should -BeGreaterThan 0; $_.RelativeError | Should -BeLessThan 0.1; $_.Bpw | Should -BeLessThan 4.5 }
        $fileResult.Path | Should -Be $out
        $fileResult.Size | Should -Be (Get-Item $out).Length
        $fileResult.QuantizedTensors | Should -Be $q.Count
    }
    It 'writes a file that Get-GgufModel reads, with general.file_type set' {
        (Get-GgufModel $out).FileType | Should -Be 'IQ4_KS'
        Get-GgufMetadata $out -Key general.quantization_version -ValueOnly | Should -Be 2
    }
    It 'names the output <base>-<TYPE>.gguf beside the source by default' {
        $copy = Join-Path $TestDrive 'tiny-f16.gguf'
        Copy-Item $demo $copy
        Get-GgufTensor $copy -Name 'blk.0.ffn_*' | ConvertTo-IQuant -Type IQ3_KS | Out-Null
        Join-Path $TestDrive 'tiny-IQ3_KS.gguf' | Should -Exist
        (Get-GgufTensor (Join-Path $TestDrive 'tiny-IQ3_KS.gguf') -Name 'blk.0.ffn_up.weight').Type | Should -Be 'IQ3_KS'
    }
    It 'never writes over its input' {
        Get-GgufTensor $demo -Name 'blk.0.attn_q.weight' | ConvertTo-IQuant -Type IQ4_KS -OutFile $demo -Force -ErrorVariable err -ErrorAction SilentlyContinue
        $err.Count | Should -BeGreaterThan 0
        (Get-FileHash $demo).Hash | Should -Be $demoHash
    }
    It 'refuses an existing output without -Force' {
        Get-GgufTensor $demo -Name 'blk.0.attn_q.weight' | ConvertTo-IQuant -Type IQ4_KS -OutFile $out -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Match '^OutputExists'
        Get-GgufTensor $demo -Name 'blk.0.attn_q.weight' | ConvertTo-IQuant -Type IQ4_KS -OutFile $out -Force | Should -Not -BeNullOrEmpty
    }
    It 'rejects an unknown type with the valid choices' {
        { Get-GgufTensor $demo -Name token_embd.weight | ConvertTo-IQuant -Type IQ9_Q -OutFile (Join-Path $TestDrive 'x.gguf') -ErrorAction Stop } |
            Should -Throw -ErrorId 'UnknownTargetType,*'
    }
    It 'copies 1-D tensors it cannot quantize, with a warning' {
        $o = Join-Path $TestDrive 'norm.gguf'
        Get-GgufTensor $demo -Name 'blk.0.attn_norm.weight' | ConvertTo-IQuant -Type IQ4_KS -OutFile $o -WarningVariable w -WarningAction SilentlyContinue | Out-Null
        $w.Count | Should -Be 1
        (Get-GgufTensor $o -Name 'blk.0.attn_norm.weight').Type | Should -Be 'F32'
    }
}

Describe 'ConvertTo-IQuant -WhatIf' {
    It 'reports the plan without writing' {
        $o = Join-Path $TestDrive 'plan.gguf'
        $plan = ConvertTo-IQuant -Path $demo -Type IQ2_KS -OutFile $o -WhatIf
        $o | Should -Not -Exist
        $rows = $plan | Where-Object { $_ -is [IQuant.IQuantTensorResult] }
        $rows.Count | Should -Be (Get-GgufTensor $demo).Count
        ($rows | Where-Object Name -eq 'blk.0.attn_v.weight').TargetType | Should -Be 'Q2_K'
        ($rows | Where-Object Name -eq 'output.weight').TargetType | Should -Be 'Q5_K'
        ($rows | Where-Object Name -eq 'blk.0.ffn_up.weight').TargetType | Should -Be 'IQ2_KS'
        $rows | ForEach-Object { $_.Written | Should -BeFalse }
        $total = $plan | Where-Object { $_ -is [IQuant.IQuantFileResult] }
        $total.Size | Should -Be ($rows | Measure-Object ResultBytes -Sum).Sum
    }
}

Describe 'ConvertTo-IQuant (model mode)' {
    It 'reproduces llama-quantize IQ4_KS with the imatrix, tensor for tensor' {
        $ref = Join-Path $shared 'models/iquant-demo-IQ4_KS-im.gguf'
        if (-not (Test-Path $ref)) { Set-ItResult -Skipped -Because 'the shared reference models (../shared) are not present'; return }
        $o = Join-Path $TestDrive 'model-IQ4_KS.gguf'
        $r = ConvertTo-IQuant -Path $demo -Type IQ4_KS -Imatrix (Join-Path $shared 'models/iquant-demo.imatrix') -OutFile $o
        ($r | Where-Object { $_ -is [IQuant.IQuantFileResult] }).FileType | Should -Be 'IQ4_KS'
        $mine = Get-GgufTensor $o; $theirs = Get-GgufTensor $ref
        ($mine | ForEach-Object { "$($_.Name):$($_.Type):$($_.Size)" }) | Should -Be ($theirs | ForEach-Object { "$($_.Name):$($_.Type):$($_.Size)" })
        Get-GgufMetadata $o -Key quantize.imatrix.entries_count -ValueOnly | Should -Be (Get-GgufMetadata $ref -Key quantize.imatrix.entries_count -ValueOnly)
    }
    It 'stops on a malformed imatrix before writing anything' {
        $bad = Join-Path $TestDrive 'bad.imatrix'
        [IO.File]::WriteAllBytes($bad, [byte[]](5, 0, 0, 0, 100, 0, 0, 0, 65))
        $o = Join-Path $TestDrive 'never.gguf'
        { ConvertTo-IQuant -Path $demo -Type IQ4_KS -Imatrix $bad -OutFile $o -ErrorAction Stop } | Should -Throw -ErrorId 'ImatrixTruncated,*'
        $o | Should -Not -Exist
        Get-ChildItem $TestDrive -Filter '*.tmp' -Force | Should -BeNullOrEmpty
    }
    It 'leaves no output and no temp file when stopped (Ctrl+C)' {
        $o = Join-Path $TestDrive 'stopped.gguf'
        $ps = [powershell]::Create()
        $null = $ps.AddScript("Import-Module '$((Resolve-Path (Join-Path $PSScriptRoot '../../IQuant.psd1')).ProviderPath)'; ConvertTo-IQuant -Path '$demo' -Type IQ2_K -OutFile '$o' -ThrottleLimit 1 -Pure")
        $async = $ps.BeginInvoke()
        $deadline = [DateTime]::UtcNow.AddSeconds(20)
        while (-not (Get-ChildItem $TestDrive -Filter '.stopped.gguf.*.tmp' -Force) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
        Get-ChildItem $TestDrive -Filter '.stopped.gguf.*.tmp' -Force | Should -Not -BeNullOrEmpty -Because 'the run must be under way when it is stopped'
        $ps.Stop()
        $ps.InvocationStateInfo.State | Should -Be 'Stopped'
        $o | Should -Not -Exist
        Get-ChildItem $TestDrive -Filter '.stopped.gguf.*' -Force | Should -BeNullOrEmpty
        $ps.Dispose()
    }
}

Describe 'ConvertTo-IQuant with split files' {
    It 'writes split output and reads split input as one model' {
        $o = Join-Path $TestDrive 'split.gguf'
        $r = Get-GgufTensor $demo | Where-Object Size -gt 256KB | ConvertTo-IQuant -Type IQ4_KS -OutFile $o -MaxShardTensors 20
        $file = $r | Where-Object { $_ -is [IQuant.IQuantFileResult] }
        $file.Paths.Count | Should -Be 3
        $file.Paths | ForEach-Object { $_ | Should -Exist }
        $file.Paths[0] | Should -BeLike '*split-00001-of-00003.gguf'
        $m = Get-GgufModel $file.Paths[0]
        $m.TensorCount | Should -Be (Get-GgufTensor $demo).Count
        $m.Shards | Should -Be 3
        # Requantize the split model into one file: IQ4_KS tensors need -AllowRequantize.
        $one = Join-Path $TestDrive 'joined.gguf'
        { Get-GgufTensor $file.Paths[0] -Name 'blk.0.ffn_up.weight' | ConvertTo-IQuant -Type Q8_0 -OutFile $one -ErrorAction Stop } |
            Should -Throw -ErrorId 'RequantizeNotAllowed,*'
        Get-GgufTensor $file.Paths[0] -Name 'blk.0.ffn_up.weight' | ConvertTo-IQuant -Type Q8_0 -OutFile $one -AllowRequantize | Out-Null
        (Get-GgufModel $one).Shards | Should -Be 1
        (Get-GgufTensor $one -Name 'blk.0.ffn_up.weight').Type | Should -Be 'Q8_0'
        (Get-GgufTensor $one).Count | Should -Be $m.TensorCount
    }
}
