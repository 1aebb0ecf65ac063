using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using IQuant.Core.Gguf;
using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.PowerShell.Internal;

/// <summary>Completes ggml type names (the ones IQuant can write first).</summary>
public sealed class TypeNameCompleter : IArgumentCompleter
{
    /// <inheritdoc/>
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var word = wordToComplete.Trim('\'', '"');
        return TypeTable.All
            .Where(t => t.Kind is TypeKind.Quantized or TypeKind.Float && Codecs.CanDequantize(t.Type))
            .OrderByDescending(t => Codecs.CanQuantize(t.Type)).ThenBy(t => t.DisplayName, StringComparer.Ordinal)
            .Where(t => t.DisplayName.StartsWith(word, StringComparison.OrdinalIgnoreCase))
            .Select(t => new CompletionResult(t.DisplayName, t.DisplayName, CompletionResultType.ParameterValue,
                $"{t.DisplayName}: {t.Bpw:0.####} bpw, block {t.BlockSize}"));
    }
}

/// <summary>Base for completers that read the file named by -Path / -LiteralPath / -Model.</summary>
public abstract class GgufFileCompleter : IArgumentCompleter
{
    /// <inheritdoc/>
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var path = FirstPath(fakeBoundParameters);
        if (path is null) return [];
        try
        {
            using var ps = System.Management.Automation.PowerShell.Create(RunspaceMode.CurrentRunspace);
            var full = ps.AddCommand("Resolve-Path").AddParameter("Path", path).Invoke().FirstOrDefault()?.Properties["ProviderPath"]?.Value as string;
            if (full is null || !File.Exists(full)) return [];
            using var file = GgufFile.Open(full);
            var word = wordToComplete.Trim('\'', '"');
            var pattern = new WildcardPattern(word + "*", WildcardOptions.IgnoreCase);
            return Candidates(file).Where(n => pattern.IsMatch(n)).Distinct().Take(500)
                .Select(n => new CompletionResult(Quote(n), n, CompletionResultType.ParameterValue, n)).ToList();
        }
        catch (Exception)
        {
            return [];
        }
    }

    /// <summary>The names to offer.</summary>
    protected abstract IEnumerable<string> Candidates(GgufFile file);

    private static string? FirstPath(IDictionary bound)
    {
        foreach (var key in new[] { "LiteralPath", "Path", "Model" })
        {
            if (!bound.Contains(key)) continue;
            var v = bound[key];
            if (v is PSObject pso) v = pso.BaseObject;
            if (v is string s) return s;
            if (v is IEnumerable e) foreach (var x in e) return x?.ToString();
        }
        return null;
    }

    private static string Quote(string s) => s.IndexOfAny([' ', '\'', '"', '$', '`', '{', '}', '(', ')', ';', ',', '|', '&']) >= 0
        ? "'" + s.Replace("'", "''") + "'" : s;
}

/// <summary>Completes tensor names of the file given by -Path.</summary>
public sealed class TensorNameCompleter : GgufFileCompleter
{
    /// <inheritdoc/>
    protected override IEnumerable<string> Candidates(GgufFile file) => file.Tensors.Select(t => t.Name);
}

/// <summary>Completes metadata keys of the file given by -Path.</summary>
public sealed class MetadataKeyCompleter : GgufFileCompleter
{
    /// <inheritdoc/>
    protected override IEnumerable<string> Candidates(GgufFile file) => file.Metadata.Select(m => m.Key);
}
