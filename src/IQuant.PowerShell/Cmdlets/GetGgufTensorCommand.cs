using System.Management.Automation;
using IQuant.Core.Gguf;
using IQuant.PowerShell.Internal;

namespace IQuant.PowerShell.Cmdlets;

/// <summary>Get-GgufTensor: the tensor infos of GGUF files.</summary>
[Cmdlet(VerbsCommon.Get, "GgufTensor", DefaultParameterSetName = "Path")]
[OutputType(typeof(GgufTensor))]
public sealed class GetGgufTensorCommand : GgufFileCmdlet
{
    /// <summary>Tensor names to show (wildcards), e.g. 'blk.*.ffn_*'. Default: all.</summary>
    [Parameter(Position = 1)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(TensorNameCompleter))]
    public string[]? Name { get; set; }

    /// <summary>Only tensors of these types (e.g. F16, IQ4_KS; wildcards).</summary>
    [Parameter]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(TypeNameCompleter))]
    public string[]? Type { get; set; }

    /// <inheritdoc/>
    protected override void ProcessFile(GgufFile file)
    {
        var names = (Name ?? ["*"]).Select(n => new WildcardPattern(n, WildcardOptions.IgnoreCase)).ToArray();
        var types = Type?.Select(n => new WildcardPattern(n, WildcardOptions.IgnoreCase)).ToArray();
        foreach (var t in file.Tensors)
        {
            if (!names.Any(p => p.IsMatch(t.Name))) continue;
            var o = GgufTensor.From(file, t);
            if (types is not null && !types.Any(p => p.IsMatch(o.Type))) continue;
            WriteObject(o);
        }
    }
}
