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

if (Get-Command Invoke-IQuantChat -ErrorAction SilentlyContinue) {
    # Quantize, then run: a one-prompt chat and a short perplexity run on the quantized model and its source.
    $outDir = Join-Path $root 'out/demo'
    New-Item -ItemType Directory -Force -Path $outDir | Out-Null
    $quantized = Join-Path $outDir 'iquant-demo-IQ4_KS.gguf'
    Write-Host "== ConvertTo-IQuant -Path models/iquant-demo-f16.gguf -Type IQ4_KS ==" -ForegroundColor Cyan
    ConvertTo-IQuant -Path $model -Type IQ4_KS -OutFile $quantized -Force | Select-Object -Last 1 | Format-List | Out-Host

    Write-Host "== Invoke-IQuantChat (the demo model is a base model: plain completion) ==" -ForegroundColor Cyan
    Write-Host "> In the beginning" -ForegroundColor Green
    $r = Invoke-IQuantChat -Model $quantized -Prompt 'In the beginning' -Raw -Temperature 0 -MaxTokens 48
    $r | Format-Table GeneratedTokens, TokensPerSecond, FinishReason | Out-Host

    Write-Host "== Measure-IQuantPerplexity (first 8 chunks of 512 tokens) ==" -ForegroundColor Cyan
    $shared = if ($env:IQUANT_SHARED) { $env:IQUANT_SHARED } else { Join-Path $root '../shared' }
    $text = Join-Path $shared 'models/eval-public.txt'
    if (-not (Test-Path $text)) {
        # Without the shared folder: a text written by the model itself (a perplexity run still shows the method).
        $text = Join-Path $outDir 'demo-text.txt'
        $gen = Invoke-IQuantChat -Model $model -Prompt 'And it came to pass' -Raw -Seed 1 -MaxTokens 0 -Context 512 -NoStream
        $gen2 = Invoke-IQuantChat -Model $model -Prompt 'And God said' -Raw -Seed 2 -MaxTokens 0 -Context 512 -NoStream
        $gen3 = Invoke-IQuantChat -Model $model -Prompt 'Blessed is the man' -Raw -Seed 3 -MaxTokens 0 -Context 512 -NoStream
        Set-Content -LiteralPath $text -Value ($gen.Text, $gen2.Text, $gen3.Text -join "`n")
    }
    $chunks = 8
    $ctx = 512
    $n = Get-IQuantToken -Model $model -Text (Get-Content -Raw $text) -Count
    if ($n -lt 2 * $ctx) { $ctx = 128 }
    Measure-IQuantPerplexity -Model $model, $quantized -Path $text -Context $ctx -Chunks $chunks | Format-Table | Out-Host
}
