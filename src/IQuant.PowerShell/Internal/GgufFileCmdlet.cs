using System.Management.Automation;
using IQuant.Core.Gguf;

namespace IQuant.PowerShell.Internal;

/// <summary>
/// Base of the cmdlets that read GGUF files: -Path (wildcards, position 0, pipeline) and -LiteralPath
/// (alias PSPath, so Get-ChildItem output binds), each file opened, handed to <see cref="ProcessFile"/>,
/// and closed; a bad file becomes a non-terminating error with the reader's ErrorId.
/// </summary>
public abstract class GgufFileCmdlet : PSCmdlet
{
    /// <summary>Model files; wildcards allowed.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Path", ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    /// <summary>Model files, taken literally (no wildcards).</summary>
    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")]
    [ValidateNotNullOrEmpty]
    public string[] LiteralPath { get; set; } = [];

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        bool literal = ParameterSetName == "LiteralPath";
        foreach (var file in PathResolver.ResolveExisting(this, literal ? LiteralPath : Path, literal))
        {
            GgufFile gguf;
            try
            {
                WriteVerbose($"Opening {file}");
                gguf = GgufFile.Open(file);
            }
            catch (Exception ex) when (ex is not PipelineStoppedException)
            {
                WriteError(Errors.From(ex, file));
                continue;
            }
            using (gguf)
            {
                ProcessFile(gguf);
            }
        }
    }

    /// <summary>Emits objects for one opened file.</summary>
    protected abstract void ProcessFile(GgufFile file);
}
