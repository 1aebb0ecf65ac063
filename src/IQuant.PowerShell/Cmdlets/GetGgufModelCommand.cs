using System.Collections.Specialized;
using System.Management.Automation;
using IQuant.Core.Gguf;
using IQuant.Core.Types;
using IQuant.PowerShell.Internal;

namespace IQuant.PowerShell.Cmdlets;

/// <summary>Get-GgufModel: header and summary of GGUF files.</summary>
[Cmdlet(VerbsCommon.Get, "GgufModel", DefaultParameterSetName = "Path")]
[OutputType(typeof(GgufModel))]
public sealed class GetGgufModelCommand : GgufFileCmdlet
{
    /// <inheritdoc/>
    protected override void ProcessFile(GgufFile file) => WriteObject(Summarize(file));

    internal static GgufModel Summarize(GgufFile file)
    {
        long parameters = 0, bytes = 0;
        var types = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var t in file.Tensors)
        {
            parameters += t.Elements;
            bytes += t.ByteSize;
            var name = t.TypeInfo?.DisplayName ?? $"unknown({t.TypeId})";
            types[name] = types.GetValueOrDefault(name) + 1;
        }
        var meta = new OrderedDictionary(StringComparer.Ordinal);
        foreach (var e in file.Metadata) if (!meta.Contains(e.Key)) meta.Add(e.Key, e.Value);
        var arch = file.FindMetadata("general.architecture")?.Value as string;
        long? Num(string key) => file.FindMetadata(key)?.Value switch
        {
            null => null,
            IConvertible c and not string => c.ToInt64(null),
            _ => null,
        };
        var ft = Num("general.file_type");
        return new GgufModel
        {
            Path = file.Path,
            Architecture = arch,
            Name = file.FindMetadata("general.name")?.Value as string,
            Parameters = parameters,
            FileSize = file.FileSize,
            TensorCount = file.Tensors.Count,
            Shards = file.ShardPaths.Count,
            FileType = ft is null ? null : LlamaFileTypes.Name(ft.Value),
            Bpw = parameters == 0 ? 0 : 8.0 * bytes / parameters,
            ContextLength = arch is null ? null : Num(arch + ".context_length"),
            EmbeddingLength = arch is null ? null : Num(arch + ".embedding_length"),
            BlockCount = arch is null ? null : Num(arch + ".block_count"),
            Version = file.Version,
            TensorTypes = types,
            Metadata = meta,
        };
    }
}
