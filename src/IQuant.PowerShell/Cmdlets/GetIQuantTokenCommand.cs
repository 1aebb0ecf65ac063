using System.Management.Automation;
using IQuant.Core.Tokenization;
using IQuant.PowerShell.Internal;

namespace IQuant.PowerShell.Cmdlets;

/// <summary>Get-IQuantToken: tokenizes text with the vocabulary of a GGUF file (models and vocab-only files).</summary>
[Cmdlet(VerbsCommon.Get, "IQuantToken", DefaultParameterSetName = "Tokens")]
[OutputType(typeof(IQuantToken), ParameterSetName = ["Tokens"])]
[OutputType(typeof(int), ParameterSetName = ["Count"])]
public sealed class GetIQuantTokenCommand : PSCmdlet
{
    /// <summary>The GGUF file whose vocabulary is used.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [Alias("Path")]
    [ValidateNotNullOrEmpty]
    public string Model { get; set; } = "";

    /// <summary>Text to tokenize (each string separately).</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true)]
    [AllowEmptyString]
    public string[] Text { get; set; } = [];

    /// <summary>Add BOS (default: as the model says, tokenizer.ggml.add_bos_token).</summary>
    [Parameter]
    public SwitchParameter AddBos { get; set; }

    /// <summary>Treat special-token text (e.g. &lt;|im_start|&gt;) as plain text.</summary>
    [Parameter]
    public SwitchParameter NoParseSpecial { get; set; }

    /// <summary>Emit only the number of tokens per text.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Count")]
    public SwitchParameter Count { get; set; }

    private LlamaTokenizer? _tok;

    /// <inheritdoc/>
    protected override void BeginProcessing()
    {
        var files = PathResolver.ResolveExisting(this, [Model], literal: false);
        if (files.Count != 1)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException(files.Count == 0 ? $"Model '{Model}' was not found." : $"-Model '{Model}' matches {files.Count} files; give one."),
                files.Count == 0 ? "ModelNotFound" : "AmbiguousModel", files.Count == 0 ? ErrorCategory.ObjectNotFound : ErrorCategory.InvalidArgument, Model));
        try
        {
            WriteVerbose($"Loading the vocabulary of {files[0]}");
            _tok = ModelCache.GetTokenizer(files[0]);
        }
        catch (Exception ex) when (ex is not PipelineStoppedException)
        {
            var rec = ex is FormatException
                ? new ErrorRecord(ex, "NoVocabulary", ErrorCategory.InvalidData, files[0])
                : Errors.From(ex, files[0]);
            ThrowTerminatingError(rec);
        }
    }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        var tok = _tok!;
        bool addBos = MyInvocation.BoundParameters.ContainsKey(nameof(AddBos)) ? AddBos.IsPresent : tok.AddBosDefault;
        foreach (var text in Text)
        {
            var ids = tok.Encode(text ?? "", addBos, parseSpecial: !NoParseSpecial);
            if (Count) { WriteObject(ids.Count); continue; }
            for (int i = 0; i < ids.Count; i++)
            {
                int id = ids[i];
                WriteObject(new IQuantToken
                {
                    Index = i,
                    Id = id,
                    Piece = tok.TokenToPiece(id, special: true),
                    Text = tok.GetTokenText(id),
                    Type = TypeName(tok.GetAttributes(id)),
                });
            }
        }
    }

    private static string TypeName(LlamaTokenAttributes a) =>
        a.HasFlag(LlamaTokenAttributes.Control) ? "Control"
        : a.HasFlag(LlamaTokenAttributes.UserDefined) ? "UserDefined"
        : a.HasFlag(LlamaTokenAttributes.Byte) ? "Byte"
        : a.HasFlag(LlamaTokenAttributes.Unknown) ? "Unknown"
        : a.HasFlag(LlamaTokenAttributes.Unused) ? "Unused"
        : "Normal";
}
