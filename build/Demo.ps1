# The main job on the bundled demo model: look, measure, quantize, run. Run through `build.ps1 Demo`.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$root = Split-Path $PSScriptRoot -Parent
Import-Module (Join-Path $root 'IQuant.psd1') -Force
$model = Join-Path $root 'models/iquant-demo-f16.gguf'
$work = Join-Path $root 'out/demo'
New-Item -ItemType Directory -Force -Path $work | Out-Null
$quantized = Join-Path $work 'iquant-demo-IQ4_KS.gguf'
$eval = Join-Path $root 'models/demo-eval.txt'

function Section([string] $title) { Write-Host "`n== $title ==" -ForegroundColor Cyan }

Section 'Model summary: Get-GgufModel'
Get-GgufModel $model | Format-List Name, Architecture, Parameters, FileType, Bpw, FileSize, ContextLength, TensorCount | Out-Host

Section 'The ten largest tensors: Get-GgufTensor | Sort-Object Size -Descending'
Get-GgufTensor $model | Sort-Object Size -Descending | Select-Object -First 10 | Format-Table | Out-Host

Section 'What each type would cost on layer 0: Measure-IQuantError'
Get-GgufTensor $model -Name 'blk.0.ffn_[gud]*.weight' | Measure-IQuantError -Type IQ2_KS, IQ3_KS, IQ4_KS |
    Sort-Object Name, Bpw | Format-Table | Out-Host

Section 'Quantize: Get-GgufTensor | Where Size -gt 100KB | ConvertTo-IQuant -Type IQ4_KS'
$results = Get-GgufTensor $model | Where-Object Size -gt 100KB | ConvertTo-IQuant -Type IQ4_KS -OutFile $quantized -Force
$results | Where-Object { $_ -is [IQuant.IQuantTensorResult] -and $_.Quantized } | Select-Object -First 8 | Format-Table | Out-Host
$results | Where-Object { $_ -is [IQuant.IQuantFileResult] } | Format-List | Out-Host

Section 'Chat with the quantized model: Invoke-IQuantChat -Raw (the demo model is a Bible-text completion model)'
$answer = Invoke-IQuantChat -Model $quantized -Prompt 'In the beginning God created' -Raw -MaxTokens 48 -Temperature 0 -RepeatPenalty 1.15
$answer | Format-List PromptTokens, GeneratedTokens, TokensPerSecond, FinishReason | Out-Host

Section 'Perplexity: F16 and IQ4_KS on held-out text (4 chunks of 512 tokens)'
Measure-IQuantPerplexity -Model $model, $quantized -Path $eval -Context 512 -Chunks 4 |
    Format-Table Model, PPL, Error, Chunks, Tokens | Out-Host
