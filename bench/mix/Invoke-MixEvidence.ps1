#requires -Version 7.4
<#
.SYNOPSIS
    Evidence for automatic mixes (issue 6): at the size of each of ik_llama.cpp's six default ftype recipes
    (shared/models/iquant-demo-<FTYPE>-im.gguf), an automatic mix of the demo model vs the recipe, by perplexity on
    eval-public.txt (-c 512, full text) with IQuant's engine. Writes bench/mix/out/ (models, analysis, logs) and prints
    the Markdown table recorded in bench/RESULTS-mix.md.
.EXAMPLE
    dotnet pwsh ./build.ps1 Build; dotnet pwsh bench/mix/Invoke-MixEvidence.ps1 -Shared /work/shared
#>
[CmdletBinding()]
param(
    [string] $Shared = $(if ($env:IQUANT_SHARED) { $env:IQUANT_SHARED } else { Join-Path $PSScriptRoot '../../../shared' }),
    [string[]] $FileType = @('IQ2_KS', 'IQ2_K', 'IQ3_KS', 'IQ3_K', 'IQ4_KS', 'IQ4_K'),
    [int] $CalibrationChunks = 8,
    [int] $Chunks = 0,            # PPL chunks (0 = the full text)
    [int] $ThrottleLimit = 2,
    [string] $Calibration,        # probe calibration text (default: shared/models/calibration.txt)
    [string] $OutDir              # default: bench/mix/out
)
$ErrorActionPreference = 'Stop'
$root = Resolve-Path (Join-Path $PSScriptRoot '../..')
Import-Module (Join-Path $root 'IQuant.psd1') -Force
$models = Join-Path $Shared 'models'
$f16 = Join-Path $root 'models/iquant-demo-f16.gguf'
$imatrix = Join-Path $models 'iquant-demo.imatrix'
$calib = if ($Calibration) { (Resolve-Path $Calibration).Path } else { Join-Path $models 'calibration.txt' }
$eval = Join-Path $models 'eval-public.txt'
$out = if ($OutDir) { $OutDir } else { Join-Path $PSScriptRoot 'out' }
New-Item -ItemType Directory -Force $out | Out-Null
$analysis = Join-Path $out 'analysis.json'
$kldRef = Join-Path $out 'f16-eval.kld'
$pplArgs = @{ Path = $eval; Context = 512; ThrottleLimit = $ThrottleLimit }
if ($Chunks -gt 0) { $pplArgs.Chunks = $Chunks }

$sw = [Diagnostics.Stopwatch]::StartNew()
$rows = foreach ($ft in $FileType) {
    $recipe = Join-Path $models "iquant-demo-$ft-im.gguf"
    $size = (Get-Item $recipe).Length
    $mix = Join-Path $out "iquant-demo-MIX-$ft.gguf"
    Write-Host "[$($sw.Elapsed.ToString('hh\:mm\:ss'))] $ft : mix for $size bytes" -ForegroundColor Cyan
    $res = ConvertTo-IQuant -Path $f16 -TargetSize $size -Imatrix $imatrix -CalibrationPath $calib -CalibrationChunks $CalibrationChunks `
        -AnalysisPath $analysis -OutFile $mix -Force -ThrottleLimit $ThrottleLimit
    $res | Where-Object { $_ -is [IQuant.IQuantTensorResult] } | Select-Object Name, TargetType, ResultBytes, Reason |
        Export-Csv (Join-Path $out "plan-$ft.csv") -NoTypeInformation
    $recipeTensors = (Get-GgufTensor $recipe | Measure-Object Size -Sum).Sum
    $mixTensors = (Get-GgufTensor $mix | Measure-Object Size -Sum).Sum
    Write-Host "[$($sw.Elapsed.ToString('hh\:mm\:ss'))] $ft : perplexity of the recipe and the mix" -ForegroundColor Cyan
    $pr = Measure-IQuantPerplexity -Model $recipe @pplArgs
    $pm = Measure-IQuantPerplexity -Model $mix @pplArgs
    Write-Host "[$($sw.Elapsed.ToString('hh\:mm\:ss'))] $ft : KL-divergence of both against F16 (reference logits cached in $kldRef)" -ForegroundColor Cyan
    $kr, $km = Get-Item $recipe, $mix | Compare-IQuantModel -Reference $f16 -Path $eval -Context 512 -ReferenceLogits $kldRef -ThrottleLimit $ThrottleLimit
    [pscustomobject]@{
        FileType = $ft; RecipeFileBytes = $size; MixFileBytes = (Get-Item $mix).Length
        RecipeTensorBytes = $recipeTensors; MixTensorBytes = $mixTensors
        RecipePPL = $pr.PPL; RecipeError = $pr.Error; MixPPL = $pm.PPL; MixError = $pm.Error
        RecipeKld = $kr.MeanKld; MixKld = $km.MeanKld; RecipeSameTop = $kr.SameTop; MixSameTop = $km.SameTop
        Types = (($res | Where-Object { $_ -is [IQuant.IQuantTensorResult] -and $_.Quantized } | Group-Object TargetType |
                  Sort-Object Count -Descending | ForEach-Object { "$($_.Count)×$($_.Name)" }) -join ', ')
    }
}
$rows | Export-Csv (Join-Path $out 'results.csv') -NoTypeInformation
$f16ppl = Measure-IQuantPerplexity -Model $f16 @pplArgs
"| recipe (ik, -im) | file bytes recipe / mix | tensor bytes recipe / mix | PPL recipe | PPL mix | Δ PPL mix − recipe | mean KLD recipe / mix | same top recipe / mix |"
"|---|---:|---:|---:|---:|---:|---:|---:|"
foreach ($r in $rows) {
    "| $($r.FileType) | $($r.RecipeFileBytes) / $($r.MixFileBytes) | $($r.RecipeTensorBytes) / $($r.MixTensorBytes) | {0:F4} ± {1:F4} | {2:F4} ± {3:F4} | {4:+0.0000;-0.0000} | {5:F5} / {6:F5} | {7:P2} / {8:P2} |" -f $r.RecipePPL, $r.RecipeError, $r.MixPPL, $r.MixError, ($r.MixPPL - $r.RecipePPL), $r.RecipeKld, $r.MixKld, $r.RecipeSameTop, $r.MixSameTop
}
""
foreach ($r in $rows) { "- $($r.FileType) mix: $($r.Types)" }
"F16: {0:F4} ± {1:F4}. Total time {2}." -f $f16ppl.PPL, $f16ppl.Error, $sw.Elapsed
