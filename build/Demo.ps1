# The main job on the bundled demo model. Run through `build.ps1 Demo` (which builds first).
$ErrorActionPreference = 'Stop'
$root = Split-Path $PSScriptRoot -Parent
Import-Module (Join-Path $root 'IQuant.psd1') -Force
$model = Join-Path $root 'models/iquant-demo-f16.gguf'

Write-Host "`n== The types IQuant writes ==" -ForegroundColor Cyan
Get-IQuantType | Where-Object CanQuantize | Format-Table | Out-Host

if (Get-Command Get-GgufModel -ErrorAction SilentlyContinue) {
    Write-Host "== Model summary ==" -ForegroundColor Cyan
    Get-GgufModel $model | Format-List | Out-Host
    Write-Host "== The ten largest tensors ==" -ForegroundColor Cyan
    Get-GgufTensor $model | Sort-Object Size -Descending | Select-Object -First 10 | Format-Table | Out-Host
}
