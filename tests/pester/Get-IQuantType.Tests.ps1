BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../IQuant.psd1') -Force
}

Describe 'Get-IQuantType' {
    It 'lists every type with -All, including the IQ*_K / IQ*_KS ids' {
        $t = Get-IQuantType -All
        ($t | Where-Object Name -eq 'IQ4_KS').Id | Should -Be 144
        ($t | Where-Object Name -eq 'IQ2_KS').RowMetaBytes | Should -Be 2
        ($t | Where-Object Name -eq 'IQ4_K').Fallback | Should -Be 'Q5_0'
    }
    It 'filters by wildcard name' {
        $t = Get-IQuantType -All -Name 'iq3_k*'
        $t.Name | Sort-Object | Should -Be @('IQ3_K', 'IQ3_K_R4', 'IQ3_KS', 'IQ3_KT')
    }
    It 'loads IQuant.Core into its own AssemblyLoadContext' {
        $asm = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'IQuant.Core' }
        $asm | Should -Not -BeNullOrEmpty
        [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($asm[0]).Name | Should -Be 'IQuant'
    }
}
