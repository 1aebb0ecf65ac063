<#
.SYNOPSIS
    Full-text perplexity of the demo model and every reference quantization against ik_llama.cpp's figures.
.DESCRIPTION
    Runs Measure-IQuantPerplexity (-Context 512, all 126 chunks of eval-public.txt) on each file of
    ../shared/models (or $env:IQUANT_SHARED/models) and compares with the llama-perplexity figures listed in
    that folder's README.md. Fails (exit 1) when any PPL is more than 0.5% away. Build first
    (dotnet pwsh ./build.ps1 Build). Takes a few minutes per file on two cores.
.EXAMPLE
    dotnet pwsh ./bench/Test-PerplexityConformance.ps1 -Files f16, IQ4_KS
#>
param(
    [string[]] $Files = @('f16', 'IQ2_K', 'IQ2_K-im', 'IQ2_KS', 'IQ2_KS-im', 'IQ3_K', 'IQ3_K-im', 'IQ3_KS', 'IQ3_KS-im',
                          'IQ4_K', 'IQ4_K-im', 'IQ4_KS', 'IQ4_KS-im'),
    [int] $ThrottleLimit = 0
)
$ErrorActionPreference = 'Stop'
$root = Split-Path $PSScriptRoot -Parent
Import-Module (Join-Path $root 'IQuant.psd1') -Force
$shared = if ($env:IQUANT_SHARED) { $env:IQUANT_SHARED } else { Join-Path $root '../shared' }
$models = Join-Path $shared 'models'

# The reference table of the README: | file | PPL | ± |
$ik = @{}
foreach ($line in Get-Content (Join-Path $models 'README.md')) {
    if ($line -match '^\|\s*([\w-]+)\s*\|\s*(\d+\.\d+)\s*\|\s*(\d+\.\d+)\s*\|$') { $ik[$Matches[1]] = [double]$Matches[2], [double]$Matches[3] }
}
$text = Join-Path $models 'eval-public.txt'
$failed = $false
$rows = foreach ($f in $Files) {
    $p = @{ Model = Join-Path $models "iquant-demo-$f.gguf"; Path = $text; Context = 512 }
    if ($ThrottleLimit -gt 0) { $p.ThrottleLimit = $ThrottleLimit }
    $r = Measure-IQuantPerplexity @p
    $ref = $ik[$f]
    $rel = $r.PPL / $ref[0] - 1
    if ([math]::Abs($rel) -gt 0.005) { $failed = $true }
    [pscustomobject]@{ File = $f; PPL = [math]::Round($r.PPL, 4); Error = [math]::Round($r.Error, 4); IkPPL = $ref[0]; IkError = $ref[1]
                       Diff = '{0:+0.000;-0.000}%' -f (100 * $rel); Seconds = [math]::Round($r.Time.TotalSeconds, 1) }
}
$rows | Format-Table | Out-Host
if ($failed) { Write-Error 'A PPL is more than 0.5% away from ik_llama.cpp''s.'; exit 1 }
