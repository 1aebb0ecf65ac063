@{
    RootModule           = 'bin/IQuant.PowerShell.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '6b0f3c2e-8d4a-4f5e-9a71-3c9e2f1d7b42'
    Author               = 'IQuant developers'
    CompanyName          = 'IQuant'
    Copyright            = '(c) IQuant developers. MIT licence.'
    Description          = 'Inspect, measure, quantize (IQ*_K / IQ*_KS, byte-exact with ik_llama.cpp) and run GGUF language models from PowerShell.'
    PowerShellVersion    = '7.6'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('bin/IQuant.Format.ps1xml')
    CmdletsToExport      = @(
        'Get-GgufModel', 'Get-GgufMetadata', 'Get-GgufTensor', 'Measure-GgufTensor',
        'Get-IQuantType', 'Measure-IQuantError', 'ConvertTo-IQuant',
        'Invoke-IQuantChat', 'Get-IQuantToken', 'Measure-IQuantPerplexity',
        'New-IQuantImatrix', 'Compare-IQuantModel'
    )
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('GGUF', 'LLM', 'quantization', 'llama.cpp', 'ik_llama.cpp')
            ProjectUri = 'https://example.invalid/iquant'
        }
    }
}
