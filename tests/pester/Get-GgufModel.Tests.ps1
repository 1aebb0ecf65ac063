BeforeAll {
    Import-Module (Join-Path $PSScriptRoot '../../IQuant.psd1') -Force
    $demo = Join-Path $PSScriptRoot '../../models/iquant-demo-f16.gguf'
    $shared = if ($env:IQUANT_SHARED) { $env:IQUANT_SHARED } else { Join-Path $PSScriptRoot '../../../shared' }
}

Describe 'Get-GgufModel' {
    It 'summarises the demo model' {
        $m = Get-GgufModel $demo
        $m | Should -BeOfType ([IQuant.GgufModel])
        $m.Architecture | Should -Be 'llama'
        $m.FileType | Should -Be 'F16'
        $m.Parameters | Should -BeGreaterThan 7000000
        $m.Parameters | Should -BeLessThan 7500000
        $m.ContextLength | Should -Be 512
        $m.EmbeddingLength | Should -Be 256
        $m.BlockCount | Should -Be 6
        $m.FileSize | Should -Be (Get-Item $demo).Length
        $m.TensorCount | Should -Be ($m.TensorTypes.Values | Measure-Object -Sum).Sum
        $m.Metadata['general.architecture'] | Should -Be 'llama'
        $m.Bpw | Should -BeGreaterThan 15.9
        $m.Bpw | Should -BeLessThan 17
    }
    It 'accepts pipeline input from Get-ChildItem' {
        $models = Get-ChildItem (Split-Path $demo) -Filter *.gguf | Get-GgufModel
        @($models).Count | Should -BeGreaterOrEqual 1
        $models[0].Path | Should -Be (Resolve-Path $demo).ProviderPath
    }
    It 'expands wildcards in -Path and resolves PSDrive-relative paths' {
        New-PSDrive -Name IQDemo -PSProvider FileSystem -Root (Split-Path $demo) | Out-Null
        try {
            (Get-GgufModel 'IQDemo:\iquant-demo-*.gguf').Architecture | Should -Be 'llama'
        } finally { Remove-PSDrive IQDemo }
    }
    It 'reads a quantized reference file with its ik_llama.cpp file type' {
        $f = Join-Path $shared 'models/iquant-demo-IQ4_KS.gguf'
        if (-not (Test-Path $f)) { Set-ItResult -Skipped -Because 'the shared reference models (../shared) are not present'; return }
        $m = Get-GgufModel -LiteralPath $f
        $m.FileType | Should -Be 'IQ4_KS'
        $m.TensorTypes['IQ4_KS'] | Should -BeGreaterThan 0
    }
    It 'reports a missing file as PathNotFound' {
        Get-GgufModel -LiteralPath (Join-Path $TestDrive 'nope.gguf') -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Match '^PathNotFound'
    }
}

Describe 'Bad input' {
    BeforeAll {
        function New-Bytes([string] $name, [byte[]] $bytes) {
            $p = Join-Path $TestDrive $name
            [IO.File]::WriteAllBytes($p, $bytes)
            $p
        }
        $header = [byte[]](0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0) + [byte[]]::new(16)
    }
    It 'gives <Id> for <Case>' -ForEach @(
        @{ Case = 'wrong magic'; Id = 'GgufBadMagic'; Bytes = [byte[]](0x4E, 0x4F, 0x50, 0x45) + [byte[]]::new(20) }
        @{ Case = 'version 1'; Id = 'GgufUnsupportedVersion'; Bytes = [byte[]](0x47, 0x47, 0x55, 0x46, 1, 0, 0, 0) + [byte[]]::new(16) }
        @{ Case = 'version 99'; Id = 'GgufUnsupportedVersion'; Bytes = [byte[]](0x47, 0x47, 0x55, 0x46, 99, 0, 0, 0) + [byte[]]::new(16) }
        @{ Case = 'a truncated header'; Id = 'GgufTruncated'; Bytes = [byte[]](0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0, 1, 0) }
        @{ Case = 'absurd tensor count'; Id = 'GgufTooManyTensors'; Bytes = [byte[]](0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0) + [byte[]](255, 255, 255, 255, 255, 255, 255, 127) + [byte[]]::new(8) }
    ) {
        $p = New-Bytes 'bad.gguf' $Bytes
        $sw = [Diagnostics.Stopwatch]::StartNew()
        Get-GgufModel -LiteralPath $p -ErrorVariable err -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 1
        $err.Count | Should -Be 1
        $err[0].FullyQualifiedErrorId | Should -Match "^$Id,"
        $err[0].CategoryInfo.Category | Should -Be 'InvalidData'
        $err[0].TargetObject | Should -Be $p
    }
    It 'gives GgufEmptyFile for an empty file' {
        $p = New-Bytes 'empty.gguf' ([byte[]]::new(0))
        Get-GgufTensor -LiteralPath $p -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Match '^GgufEmptyFile,'
    }
    It 'gives GgufNotAFile for a directory' {
        Get-GgufModel -LiteralPath $TestDrive -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].FullyQualifiedErrorId | Should -Match '^GgufNotAFile,'
    }
    It 'goes on with the next file after a bad one' {
        $p = New-Bytes 'bad2.gguf' ([byte[]](1, 2, 3, 4, 5, 6, 7, 8) * 4)
        $r = Get-GgufModel -LiteralPath $p, $demo -ErrorAction SilentlyContinue -ErrorVariable err
        @($r).Count | Should -Be 1
        $err.Count | Should -Be 1
    }
    It 'reports an unreadable file as access denied' -Skip:($IsWindows -or (id -u) -eq '0') {
        $p = New-Bytes 'locked.gguf' ([IO.File]::ReadAllBytes($demo)[0..1000])
        chmod 000 $p
        Get-GgufModel -LiteralPath $p -ErrorVariable err -ErrorAction SilentlyContinue
        $err[0].CategoryInfo.Category | Should -Be 'PermissionDenied'
    }
}
