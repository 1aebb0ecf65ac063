<#
.SYNOPSIS
    Writes the MAML help file of the module's binary cmdlets (en-US/IQuant.PowerShell.dll-Help.xml beside the manifest).
.DESCRIPTION
    Syntax, parameter types, positions, pipeline and wildcard flags come from the built cmdlets themselves
    (Get-Command); the prose comes from src/IQuant.PowerShell/help/<Cmdlet>.psd1 (Synopsis, Description,
    Parameters = @{ Name = 'text' }, Examples = @(@{ Title; Code; Remarks }), Notes, Links).
    Run by build.ps1 in a child PowerShell after the module is built.
#>
param([Parameter(Mandatory)] [string] $Root)
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $Root 'IQuant.psd1') -Force
$helpDir = Join-Path $Root 'src/IQuant.PowerShell/help'
$common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters

function X([string] $s) { [System.Security.SecurityElement]::Escape($s) }
function Para([string] $text) {
    ($text -split "(`r?`n){2,}" | Where-Object { $_.Trim() } | ForEach-Object { "<maml:para>$(X $_.Trim())</maml:para>" }) -join ''
}
function TypeName([type] $t) { if ($t -eq [System.Management.Automation.SwitchParameter]) { 'SwitchParameter' } else { $t.Name } }

$sb = [System.Text.StringBuilder]::new()
[void]$sb.Append('<?xml version="1.0" encoding="utf-8"?><helpItems schema="maml" xmlns="http://msh" xmlns:maml="http://schemas.microsoft.com/maml/2004/10" xmlns:command="http://schemas.microsoft.com/maml/dev/command/2004/10" xmlns:dev="http://schemas.microsoft.com/maml/dev/2004/10">')
foreach ($cmd in Get-Command -Module IQuant -CommandType Cmdlet | Sort-Object Name) {
    $file = Join-Path $helpDir "$($cmd.Name).psd1"
    $h = if (Test-Path $file) { Import-PowerShellDataFile $file } else { @{ Synopsis = $cmd.Name; Description = ''; Parameters = @{}; Examples = @() } }
    $verb, $noun = $cmd.Name -split '-', 2
    [void]$sb.Append("<command:command><command:details><command:name>$($cmd.Name)</command:name><maml:description>$(Para $h.Synopsis)</maml:description><command:verb>$verb</command:verb><command:noun>$noun</command:noun></command:details>")
    [void]$sb.Append("<maml:description>$(Para $h.Description)</maml:description><command:syntax>")
    foreach ($set in $cmd.ParameterSets) {
        [void]$sb.Append("<command:syntaxItem><maml:name>$($cmd.Name)</maml:name>")
        foreach ($p in $set.Parameters | Where-Object Name -notin $common) {
            $pos = if ($p.Position -ge 0) { $p.Position } else { 'named' }
            [void]$sb.Append("<command:parameter required=`"$($p.IsMandatory.ToString().ToLower())`" position=`"$pos`"><maml:name>$($p.Name)</maml:name>")
            if ($p.ParameterType -ne [System.Management.Automation.SwitchParameter]) {
                [void]$sb.Append("<command:parameterValue required=`"true`">$(X (TypeName $p.ParameterType))</command:parameterValue>")
            }
            [void]$sb.Append('</command:parameter>')
        }
        [void]$sb.Append('</command:syntaxItem>')
    }
    [void]$sb.Append('</command:syntax><command:parameters>')
    foreach ($name in $cmd.Parameters.Keys | Where-Object { $_ -notin $common } | Sort-Object) {
        $meta = $cmd.Parameters[$name]
        $attrs = $meta.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] }
        $required = [bool]($attrs | Where-Object Mandatory)
        $pipe = @()
        if ($attrs | Where-Object ValueFromPipeline) { $pipe += 'ByValue' }
        if ($attrs | Where-Object ValueFromPipelineByPropertyName) { $pipe += 'ByPropertyName' }
        $pipeText = if ($pipe) { "True ($($pipe -join ', '))" } else { 'False' }
        $posAttr = $attrs | Where-Object { $_.Position -ge 0 } | Select-Object -First 1
        $pos = if ($posAttr) { $posAttr.Position } else { 'named' }
        $wild = [bool]($meta.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
        $desc = if ($h.Parameters -and $h.Parameters.ContainsKey($name)) { $h.Parameters[$name] } else { '' }
        $aliases = $meta.Aliases -join ', '
        [void]$sb.Append("<command:parameter required=`"$($required.ToString().ToLower())`" globbing=`"$($wild.ToString().ToLower())`" pipelineInput=`"$pipeText`" position=`"$pos`" aliases=`"$(X $aliases)`"><maml:name>$name</maml:name><maml:description>$(Para $desc)</maml:description>")
        [void]$sb.Append("<command:parameterValue required=`"true`">$(X (TypeName $meta.ParameterType))</command:parameterValue><dev:type><maml:name>$(X $meta.ParameterType.FullName)</maml:name></dev:type></command:parameter>")
    }
    [void]$sb.Append('</command:parameters><command:returnValues>')
    foreach ($o in $cmd.OutputType) {
        [void]$sb.Append("<command:returnValue><dev:type><maml:name>$(X $o.Name)</maml:name></dev:type></command:returnValue>")
    }
    [void]$sb.Append('</command:returnValues>')
    if ($h.Notes) { [void]$sb.Append("<maml:alertSet><maml:alert>$(Para $h.Notes)</maml:alert></maml:alertSet>") }
    [void]$sb.Append('<command:examples>')
    $i = 0
    foreach ($ex in $h.Examples) {
        $i++
        $title = if ($ex.Title) { "-------------------------- Example ${i}: $($ex.Title) --------------------------" } else { "-------------------------- Example $i --------------------------" }
        [void]$sb.Append("<command:example><maml:title>$(X $title)</maml:title><dev:code>$(X $ex.Code)</dev:code><dev:remarks>$(Para $ex.Remarks)</dev:remarks></command:example>")
    }
    [void]$sb.Append('</command:examples><command:relatedLinks>')
    foreach ($l in $h.Links) { [void]$sb.Append("<maml:navigationLink><maml:linkText>$(X $l)</maml:linkText></maml:navigationLink>") }
    [void]$sb.Append('</command:relatedLinks></command:command>')
}
[void]$sb.Append('</helpItems>')
# PowerShell looks for a binary module's help beside the manifest (ModuleBase/<culture>), not beside the DLL.
$out = Join-Path $Root 'en-US'
New-Item -ItemType Directory -Force -Path $out | Out-Null
[xml]$check = $sb.ToString()   # fails the build on malformed XML
$check.Save((Join-Path $out 'IQuant.PowerShell.dll-Help.xml'))
