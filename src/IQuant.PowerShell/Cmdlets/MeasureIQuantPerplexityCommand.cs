using System.Management.Automation;
using IQuant.Core.Inference;
using IQuant.PowerShell.Internal;

namespace IQuant.PowerShell.Cmdlets;

/// <summary>Measure-IQuantPerplexity: llama-perplexity's method on a text file.</summary>
[Cmdlet(VerbsDiagnostic.Measure, "IQuantPerplexity")]
[OutputType(typeof(IQuantPerplexity))]
public sealed class MeasureIQuantPerplexityCommand : PSCmdlet
{
    /// <summary>Model files (wildcards allowed); accepts Get-ChildItem output.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "FullName")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Model { get; set; } = [];

    /// <summary>The text file.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>Chunk length in tokens (llama-perplexity -c).</summary>
    [Parameter]
    [ValidateRange(8, 1 << 20)]
    public int Context { get; set; } = 512;

    /// <summary>Evaluate at most this many chunks (llama-perplexity --chunks); default all.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int Chunks { get; set; }

    /// <summary>Compute threads; default all logical processors.</summary>
    [Parameter]
    [ValidateRange(1, 1024)]
    public int ThrottleLimit { get; set; }

    /// <summary>KV cache element type.</summary>
    [Parameter]
    [ValidateSet("F16", "F32")]
    public string KvCacheType { get; set; } = "F16";

    private string? _text;
    private string? _textPath;
    private BackgroundWork? _work;

    /// <inheritdoc/>
    protected override void BeginProcessing()
    {
        var files = PathResolver.ResolveExisting(this, [Path], literal: false);
        if (files.Count != 1)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException(files.Count == 0 ? $"Text file '{Path}' was not found." : $"-Path '{Path}' matches {files.Count} files; give one."),
                files.Count == 0 ? "TextNotFound" : "AmbiguousPath", files.Count == 0 ? ErrorCategory.ObjectNotFound : ErrorCategory.InvalidArgument, Path));
        _textPath = files[0];
        try { _text = File.ReadAllText(_textPath); }
        catch (Exception ex) { ThrowTerminatingError(Errors.From(ex, _textPath)); }
    }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        bool literal = Model.Any(m => m.Contains("::", StringComparison.Ordinal));
        foreach (var file in PathResolver.ResolveExisting(this, Model, literal))
        {
            try { Measure(file); }
            catch (PipelineStoppedException) { throw; }
            catch (Exception ex) { WriteError(Errors.From(ex, file)); }
        }
    }

    /// <inheritdoc/>
    protected override void StopProcessing() => _work?.Stop();

    private void Measure(string file)
    {
        WriteVerbose($"Loading {file}");
        using var lease = ModelCache.Acquire(file);
        var model = lease.Model;
        var tok = model.Tokenizer;
        bool addBos = tok.AddBosDefault;
        var tokens = tok.Encode(_text!, addBos, parseSpecial: false);
        if (tokens.Count < 2 * Context)
            throw new ArgumentException($"Perplexity with -Context {Context} needs at least {2 * Context} tokens; '{_textPath}' has {tokens.Count}.");
        int nChunkMax = tokens.Count / Context;
        int nChunk = Chunks > 0 ? Math.Min(Chunks, nChunkMax) : nChunkMax;
        WriteVerbose($"{tokens.Count} tokens, {nChunk} chunks of {Context}, BOS {(addBos ? "added" : "not added")}");

        var options = new InferenceOptions { ContextLength = Context, BatchSize = Math.Min(Context, 512), Threads = ThrottleLimit, KvCacheType = KvCacheType == "F32" ? Core.Inference.KvCacheType.F32 : Core.Inference.KvCacheType.F16 };
        using var ctx = new InferenceContext(model, options);
        var activity = $"Perplexity of {System.IO.Path.GetFileName(file)}";
        using var work = _work = new BackgroundWork();
        var progress = new Progress(work, activity);
        var result = work.Run(this, token => Perplexity.Compute(ctx, tokens, Context, nChunk, addBos, tok.BosId, progress, token));
        WriteProgress(new ProgressRecord(1, activity, "Done") { RecordType = ProgressRecordType.Completed });
        WriteObject(new IQuantPerplexity
        {
            Model = file,
            Path = _textPath!,
            PPL = result.Ppl,
            Error = result.Error,
            Tokens = result.Tokens,
            Chunks = result.Chunks,
            Context = result.Context,
            ScoredTokens = result.ScoredTokens,
            Time = result.Time,
            TokensPerSecond = result.Chunks * (double)Context / Math.Max(1e-9, result.Time.TotalSeconds),
            Threads = ctx.Threads,
        });
    }

    private sealed class Progress(BackgroundWork work, string activity) : IProgress<PerplexityProgress>
    {
        public void Report(PerplexityProgress p)
        {
            double perChunk = p.Elapsed.TotalSeconds / p.Chunk;
            int remaining = (int)Math.Ceiling(perChunk * (p.Chunks - p.Chunk));
            var rec = new ProgressRecord(1, activity, $"Chunk {p.Chunk} of {p.Chunks}: PPL so far {p.RunningPpl:F4}")
            {
                PercentComplete = (int)(100L * p.Chunk / p.Chunks),
                SecondsRemaining = remaining,
            };
            work.Post(c => c.WriteProgress(rec));
        }
    }
}
