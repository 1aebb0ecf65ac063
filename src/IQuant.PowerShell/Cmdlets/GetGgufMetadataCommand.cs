using System.Management.Automation;
using IQuant.Core.Gguf;
using IQuant.PowerShell.Internal;

namespace IQuant.PowerShell.Cmdlets;

/// <summary>Get-GgufMetadata: the metadata entries of GGUF files.</summary>
[Cmdlet(VerbsCommon.Get, "GgufMetadata", DefaultParameterSetName = "Path")]
[OutputType(typeof(GgufMetadataEntry))]
public sealed class GetGgufMetadataCommand : GgufFileCmdlet
{
    /// <summary>Keys to show (wildcards), e.g. 'tokenizer.*'. Default: all.</summary>
    [Parameter(Position = 1)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(MetadataKeyCompleter))]
    public string[]? Key { get; set; }

    /// <summary>Emit only the value(s), not entry objects (with a single exact -Key, e.g. for scripts).</summary>
    [Parameter]
    public SwitchParameter ValueOnly { get; set; }

    /// <inheritdoc/>
    protected override void ProcessFile(GgufFile file)
    {
        var patterns = (Key ?? ["*"]).Select(k => new WildcardPattern(k, WildcardOptions.IgnoreCase)).ToArray();
        foreach (var e in file.Metadata)
        {
            if (!patterns.Any(p => p.IsMatch(e.Key))) continue;
            if (ValueOnly) { WriteObject(e.Value, enumerateCollection: false); continue; }
            WriteObject(new GgufMetadataEntry
            {
                Key = e.Key,
                Type = e.ElementType is { } et ? $"Array[{et}]" : e.Type.ToString(),
                Value = e.Value,
                Count = e.Value is Array a ? a.Length : 1,
                Path = file.Path,
            });
        }
    }
}
