using System.Management.Automation;
using IQuant.Core.Quants;
using IQuant.Core.Types;
using IQuant.PowerShell.Internal;

namespace IQuant.PowerShell.Cmdlets
{

/// <summary>Get-IQuantType: the ggml types IQuant knows, with their geometry and fallbacks.</summary>
[Cmdlet(VerbsCommon.Get, "IQuantType")]
[OutputType(typeof(IQuantTypeInfo))]
public sealed class GetIQuantTypeCommand : PSCmdlet
{
    /// <summary>Type names to show (wildcards); default all supported.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(TypeNameCompleter))]
    public string[]? Name { get; set; }

    /// <summary>Also list types IQuant knows by id but cannot read or write.</summary>
    [Parameter]
    public SwitchParameter All { get; set; }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        var patterns = (Name ?? ["*"]).Select(n => new WildcardPattern(n, WildcardOptions.IgnoreCase)).ToArray();
        foreach (var t in TypeTable.All)
        {
            bool supported = Codecs.CanDequantize(t.Type);
            if (!All && !supported) continue;
            if (!patterns.Any(p => p.IsMatch(t.DisplayName) || p.IsMatch(t.Name))) continue;
            WriteObject(new IQuantTypeInfo(t, Codecs.CanQuantize(t.Type), supported));
        }
    }
}

}

namespace IQuant
{
/// <summary>A row of Get-IQuantType.</summary>
public sealed class IQuantTypeInfo(TypeInfo info, bool canQuantize, bool canDequantize)
{
    public string Name => info.DisplayName;
    public int Id => (int)info.Type;
    public string GgmlName => info.Name;
    public double Bpw => info.Bpw;
    public int BlockSize => info.BlockSize;
    public int BytesPerBlock => info.BytesPerBlock;
    public int RowMetaBytes => info.RowMetaBytes;
    public bool NeedsRowsOf256 => info.NeedsSuperBlockRows;
    public string? Fallback => info.Fallback?.ToString();
    public string Kind => info.Kind.ToString();
    public bool CanQuantize => canQuantize;
    public bool CanDequantize => canDequantize;
    public override string ToString() => Name;
}
}
