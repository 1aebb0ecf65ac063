BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../IQuant.psd1') -Force
    $demo = (Resolve-Path (Join-Path $PSScriptRoot '../../models/iquant-demo-f16.gguf')).ProviderPath
    $shared = if ($env:IQUANT_SHARED) { $env:IQUANT_SHARED } else { Join-Path $PSScriptRoot '../../../shared' }
    $analysis = Join-Path $TestDrive 'analysis.json'
    $cands = 'IQ3_KS', 'IQ4_KS', 'Q8_0'
    # A probed mix of block 0 only (the rest pinned): 7 tensors × the probe types IQ3_KS and Q8_0. Returns the analysis.
    function Invoke-ProbedMix([hashtable] $Calibration, [string] $Json) {
        $p = ConvertTo-IQuant $demo -TargetBpw 5 -CandidateType $cands -TensorType @{ '^(?!blk\.0\.)' = 'IQ4_KS' } @Calibration `
            -CalibrationChunks 1 -CalibrationContext 64 -ProbeType IQ3_KS, Q8_0 -AnalysisPath $Json -WhatIf
        $mixed = $p | Where-Object { $_.Name -like 'blk.0.*' -and $_.Quantized }
        $mixed.Count | Should -Be 7
        $mixed | ForEach-Object { $_.Reason | Should -BeLike '*probes*KLD*' }
        $a = Get-Content $Json -Raw | ConvertFrom-Json
        $a.Sensitivity | Should -Be 'probes'
        $a.Tensors.Count | Should -Be 7
        $a
    }
}

Describe 'ConvertTo-IQuant automatic mixes' {
    BeforeAll {
        $plan = ConvertTo-IQuant -Path $demo -TargetBpw 4.5 -CandidateType $cands -AnalysisPath $analysis -WhatIf
        $tensors = $plan | Where-Object { $_ -is [IQuant.IQuantTensorResult] }
        $file = $plan | Where-Object { $_ -is [IQuant.IQuantFileResult] }
    }
    It 'plans a type per tensor within the budget and explains each choice (-WhatIf)' {
        $tensors.Count | Should -Be (Get-GgufTensor $demo).Count
        $file.Written | Should -BeFalse
        $file.Bpw | Should -BeLessOrEqual 4.5
        $file.Bpw | Should -BeGreaterThan 4.3
        $q = $tensors | Where-Object Quantized
        $q.Count | Should -Be 44
        $q | ForEach-Object { $_.TargetType | Should -BeIn $cands; $_.Reason | Should -BeLike 'mix: predicted loss*' }
        ($tensors | Where-Object { -not $_.Quantized }).Reason | Should -BeLike 'not quantized*'
        Test-Path $analysis | Should -BeTrue
        Get-ChildItem (Split-Path $demo) -Filter '*MIX*' | Should -BeNullOrEmpty
    }
    It 'writes a file no larger than -TargetSize, reusing the cached analysis' {
        $out = Join-Path $TestDrive 'mix.gguf'
        $budget = 4.2MB
        $res = ConvertTo-IQuant -Path $demo -TargetSize $budget -CandidateType $cands -AnalysisPath $analysis -OutFile $out -Verbose 4>&1
        ($res | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message -join "`n" | Should -BeLike '*Using the analysis cached*'
        $f = $res | Where-Object { $_ -is [IQuant.IQuantFileResult] }
        $f.Size | Should -BeLessOrEqual $budget
        $f.Size | Should -BeGreaterThan ($budget - 64KB)
        (Get-Item $out).Length | Should -Be $f.Size
        (Get-GgufModel $out).TensorCount | Should -Be (Get-GgufModel $demo).TensorCount
        (Get-GgufTensor $out | Where-Object Type -notin 'F32').Type | Sort-Object -Unique | ForEach-Object { $_ | Should -BeIn $cands }
    }
    It 'gives more bits to a larger budget' {
        $small = (ConvertTo-IQuant $demo -TargetBpw 4 -CandidateType $cands -AnalysisPath $analysis -WhatIf | Where-Object { $_ -is [IQuant.IQuantFileResult] })
        $large = (ConvertTo-IQuant $demo -TargetBpw 7 -CandidateType $cands -AnalysisPath $analysis -WhatIf | Where-Object { $_ -is [IQuant.IQuantFileResult] })
        $small.Bpw | Should -BeLessOrEqual 4
        $large.Bpw | Should -BeGreaterThan $small.Bpw
    }
    It 'keeps pinned types' {
        $p = ConvertTo-IQuant $demo -TargetBpw 4.5 -CandidateType $cands -TensorType @{ 'output' = 'Q8_0' } -AnalysisPath (Join-Path $TestDrive 'pinned.json') -WhatIf
        ($p | Where-Object Name -eq 'output.weight').TargetType | Should -Be 'Q8_0'
        ($p | Where-Object Name -eq 'output.weight').Reason | Should -BeLike 'pinned*'
    }
    It 'refuses a budget below the smallest mix' {
        { ConvertTo-IQuant $demo -TargetBpw 1 -CandidateType $cands -AnalysisPath $analysis -WhatIf -ErrorAction Stop } | Should -Throw -ErrorId 'BudgetTooSmall*'
    }
    It 'probes sensitivities on calibration text' {
        $calib = Join-Path $TestDrive 'calib.txt'
        $src = Join-Path $shared 'models/calibration.txt'
        if (Test-Path $src) { Set-Content -LiteralPath $calib -Value ((Get-Content -Raw $src).Substring(0, 4000)) }
        else { Set-Content -LiteralPath $calib -Value ((1..100 | ForEach-Object { "And the LORD spoke unto Moses, saying. $_" }) -join "`n") }
        $a = Invoke-ProbedMix @{ CalibrationPath = $calib } (Join-Path $TestDrive 'probed.json')
        # The type calibration measured the model at every candidate type; fewer bits, more KL-divergence.
        @($a.TypeMeasures.PSObject.Properties).Count | Should -Be @($cands).Count
        $byBits = $cands | Sort-Object { (Get-IQuantType $_).Bpw }
        $a.TypeMeasures.($byBits[0]).Kld | Should -BeGreaterThan $a.TypeMeasures.($byBits[-1]).Kld
    }
    It 'probes sensitivities on text sampled from the model with -GeneratedCalibration' {
        $a = Invoke-ProbedMix @{ GeneratedCalibration = $true } (Join-Path $TestDrive 'generated.json')
        # Lower-bit probes cost more: every tensor's IQ3_KS probe has a larger KL-divergence than its Q8_0 probe.
        foreach ($t in $a.Tensors) { $t.Probes.IQ3_KS | Should -BeGreaterThan $t.Probes.Q8_0 }
        @($a.TypeMeasures.PSObject.Properties).Count | Should -Be 0     # no type calibration on the model's own samples
    }
    It 'refuses -CalibrationPath together with -GeneratedCalibration' {
        { ConvertTo-IQuant $demo -TargetBpw 5 -CandidateType $cands -GeneratedCalibration -CalibrationPath $demo -WhatIf -ErrorAction Stop } |
            Should -Throw -ErrorId 'CalibrationConflict*'
    }
}
