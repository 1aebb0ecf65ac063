#requires -Version 7.4
<#
.SYNOPSIS
    IQuant's one entry point: Build, Test, Demo, Bench.
.DESCRIPTION
    Build  publishes the module into ./bin (IQuant.PowerShell.dll in bin/, IQuant.Core and its NuGet
           dependencies in bin/lib/, loaded into a private AssemblyLoadContext), so that
           `Import-Module ./IQuant.psd1` works from the repository root.
    Test   builds, runs the xunit suite (tests/IQuant.Core.Tests) and the Pester suite (tests/pester),
           prints one summary line and exits non-zero if anything failed.
    Demo   builds and runs the main job on the bundled demo model (models/iquant-demo-f16.gguf).
    Bench  runs the BenchmarkDotNet suite in bench/ (pass filters with -BenchArgs).
.EXAMPLE
    dotnet tool restore; dotnet pwsh ./build.ps1 Test
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('Build', 'Test', 'Demo', 'Bench')]
    [string] $Task = 'Build',

    [ValidateSet('Release', 'Debug')]
    [string] $Configuration = 'Release',

    # Extra arguments for the benchmark runner, e.g. -BenchArgs '--filter','*Gguf*'.
    [string[]] $BenchArgs = @(),

    # Test filter for xunit (dotnet test --filter syntax).
    [string] $XunitFilter,

    # Run only the Pester tests (skip xunit), or only xunit.
    [switch] $PesterOnly,
    [switch] $XunitOnly
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$root = $PSScriptRoot
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'
$env:DOTNET_SKIP_FIRST_TIME_EXPERIENCE = '1'

function Invoke-Native {
    param([string] $File, [string[]] $Arguments)
    Write-Host "> $File $($Arguments -join ' ')" -ForegroundColor DarkGray
    & $File @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$File exited with code $LASTEXITCODE" }
}

function Get-NuGetPackageRoot {
    if ($env:NUGET_PACKAGES) { return $env:NUGET_PACKAGES }
    $line = (& dotnet nuget locals global-packages --list) | Select-Object -Last 1
    return ($line -replace '^\s*global-packages:\s*', '').Trim()
}

# Starts a child PowerShell, whether this one is a native pwsh or the .NET tool (dotnet pwsh.dll).
function Invoke-ChildPwsh {
    param([string[]] $Arguments)
    $exe = [Environment]::ProcessPath
    if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') {
        & $exe (Join-Path $PSHOME 'pwsh.dll') @Arguments
    } else {
        & $exe @Arguments
    }
}

function Invoke-Build {
    $publish = Join-Path $root 'out/publish'
    if (Test-Path $publish) { Remove-Item $publish -Recurse -Force }
    Invoke-Native dotnet @('publish', (Join-Path $root 'src/IQuant.PowerShell/IQuant.PowerShell.csproj'),
        '-c', $Configuration, '-o', $publish, '--nologo', '-v', 'quiet')

    $bin = Join-Path $root 'bin'
    $helpOut = Join-Path $root 'en-US'
    if (Test-Path $helpOut) { Remove-Item $helpOut -Recurse -Force }
    $lib = Join-Path $bin 'lib'
    if (Test-Path $bin) { Remove-Item $bin -Recurse -Force }
    New-Item -ItemType Directory -Path $lib -Force | Out-Null
    foreach ($f in Get-ChildItem $publish -File) {
        if ($f.Name -like 'IQuant.PowerShell.*') {
            if ($f.Extension -ne '.json') { Copy-Item $f.FullName $bin }
        } else {
            Copy-Item $f.FullName $lib
        }
    }
    Copy-Item (Join-Path $root 'src/IQuant.PowerShell/IQuant.Format.ps1xml') $bin
    # Help (MAML) is generated from the built cmdlets plus src/IQuant.PowerShell/help/*.psd1, in a child
    # PowerShell so that this session never loads the module's assemblies.
    Invoke-ChildPwsh @('-NoLogo', '-NoProfile', '-NonInteractive', '-File', (Join-Path $root 'build/New-MamlHelp.ps1'), '-Root', $root)
    if ($LASTEXITCODE -ne 0) { throw "Help generation failed ($LASTEXITCODE)" }
    Write-Host "Built module into $bin" -ForegroundColor Green
}

function Get-PesterModulePath {
    $version = '5.7.1'
    $pkgRoot = Get-NuGetPackageRoot
    $psd1 = Join-Path $pkgRoot "pester/$version/tools/Pester.psd1"
    if (-not (Test-Path $psd1)) {
        Invoke-Native dotnet @('restore', (Join-Path $root 'build/Tools.proj'), '--nologo', '-v', 'quiet')
    }
    if (-not (Test-Path $psd1)) { throw "Pester $version was not restored to $psd1" }
    return $psd1
}

function Invoke-Test {
    Invoke-Build
    $passed = 0; $failed = 0; $skipped = 0

    if (-not $PesterOnly) {
        $trx = Join-Path $root 'out/test-results'
        if (Test-Path $trx) { Remove-Item $trx -Recurse -Force }
        $testArgs = @('test', (Join-Path $root 'tests/IQuant.Core.Tests/IQuant.Core.Tests.csproj'), '-c', $Configuration,
            '--nologo', '--logger', 'console;verbosity=minimal', '--logger', "trx;LogFileName=xunit.trx", '--results-directory', $trx)
        if ($XunitFilter) { $testArgs += @('--filter', $XunitFilter) }
        Write-Host "> dotnet $($testArgs -join ' ')" -ForegroundColor DarkGray
        & dotnet @testArgs
        $xunitExit = $LASTEXITCODE
        $trxFile = Get-ChildItem $trx -Filter *.trx -Recurse -ErrorAction SilentlyContinue | Select-Object -First 1
        if ($trxFile) {
            [xml] $x = Get-Content $trxFile.FullName -Raw
            $c = $x.TestRun.ResultSummary.Counters
            $passed += [int]$c.passed; $failed += [int]$c.failed + [int]$c.error + [int]$c.timeout
            $skipped += [int]$c.total - [int]$c.executed   # xunit v3's trx leaves notExecuted at 0 for skips
        } elseif ($xunitExit -ne 0) { $failed += 1 }
        if ($xunitExit -ne 0 -and $failed -eq 0) { $failed += 1 }
    }

    if (-not $XunitOnly) {
        $pester = Get-PesterModulePath
        $resultFile = Join-Path $root 'out/pester-result.json'
        $script = @"
`$ErrorActionPreference = 'Stop'
Import-Module '$pester' -MinimumVersion 5.7.1
`$c = New-PesterConfiguration
`$c.Run.Path = '$(Join-Path $root 'tests/pester')'
`$c.Run.PassThru = `$true
`$c.Output.Verbosity = 'Normal'
`$r = Invoke-Pester -Configuration `$c
@{ Passed = `$r.PassedCount; Failed = `$r.FailedCount + `$r.FailedBlocksCount + `$r.FailedContainersCount; Skipped = `$r.SkippedCount } |
    ConvertTo-Json | Set-Content '$resultFile'
"@
        # A child process: the module's DLLs are loaded fresh and nothing leaks into this session.
        Invoke-ChildPwsh @('-NoLogo', '-NoProfile', '-NonInteractive', '-Command', $script)
        if (Test-Path $resultFile) {
            $r = Get-Content $resultFile -Raw | ConvertFrom-Json
            $passed += $r.Passed; $failed += $r.Failed; $skipped += $r.Skipped
        } else { $failed += 1 }
    }

    Write-Host ''
    Write-Host "$passed passed, $failed failed, $skipped skipped"
    if ($failed -gt 0) { exit 1 }
}

function Invoke-Demo {
    Invoke-Build
    Invoke-ChildPwsh @('-NoLogo', '-NoProfile', '-NonInteractive', '-File', (Join-Path $root 'build/Demo.ps1'))
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}

function Invoke-Bench {
    $benchArgs = @('run', '-c', 'Release', '--project', (Join-Path $root 'bench/IQuant.Bench/IQuant.Bench.csproj'), '--') + $BenchArgs
    Invoke-Native dotnet $benchArgs
}

switch ($Task) {
    'Build' { Invoke-Build }
    'Test' { Invoke-Test }
    'Demo' { Invoke-Demo }
    'Bench' { Invoke-Bench }
}
