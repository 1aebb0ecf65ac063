using System.Management.Automation;
using IQuant.Core.Calibration;
using IQuant.Core.Inference;
using IQuant.Core.Quantization;
using IQuant.PowerShell.Internal;

namespace IQuant.PowerShell.Cmdlets;

/// <summary>New-IQuantImatrix: computes an importance matrix from calibration text, as llama-imatrix does.</summary>
[Cmdlet(VerbsCommon.New, "IQuantImatrix", SupportsShouldProcess = true)]
[OutputType(typeof(IQuantImatrixResult))]
public sealed class NewIQuantImatrixCommand : PSCmdlet
{
    /// <summary>The model (a GGUF IQuant can run).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "FullName")]
    [ValidateNotNullOrEmpty]
    public string Model { get; set; } = "";

    /// <summary>The calibration text file.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>The imatrix file to write; default &lt;model base name&gt;.imatrix beside the model.</summary>
    [Parameter(Position = 2)]
    [Alias("Destination")]
    public string? OutFile { get; set; }

    /// <summary>Chunk length in tokens (llama-imatrix -c).</summary>
    [Parameter]
    [ValidateRange(16, 1 << 20)]
    public int Context { get; set; } = 512;

    /// <summary>Process at most this many chunks (llama-imatrix --chunks).</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int Chunks { get; set; }

    /// <summary>Dat (legacy, read by ik_llama.cpp) or Gguf (mainline imatrix GGUF).</summary>
    [Parameter]
    [ValidateSet("Dat", "Gguf", IgnoreCase = true)]
    public string Format { get; set; } = "Dat";

    /// <summary>Also collect output.weight (llama-imatrix --process-output).</summary>
    [Parameter]
    public SwitchParameter ProcessOutput { get; set; }

    /// <summary>Do not compute the calibration text's perplexity (llama-imatrix --no-ppl).</summary>
    [Parameter]
    public SwitchParameter NoPerplexity { get; set; }

    /// <summary>Replace an existing output file.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Compute threads; default all logical processors.</summary>
    [Parameter]
    [ValidateRange(1, 1024)]
    public int ThrottleLimit { get; set; }

    private BackgroundWork? _work;

    /// <inheritdoc/>
    protected override void StopProcessing() => _work?.Stop();

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        string model = SingleFile.Resolve(this, Model, "ModelNotFound", "Model");
        string textPath = SingleFile.Resolve(this, Path, "TextNotFound", "Text file");
        bool gguf = string.Equals(Format, "Gguf", StringComparison.OrdinalIgnoreCase);
        string outPath = OutFile is null
            ? System.IO.Path.Combine(System.IO.Path.GetDirectoryName(model)!, System.IO.Path.GetFileNameWithoutExtension(model) + (gguf ? ".imatrix.gguf" : ".imatrix"))
            : PathResolver.ResolveOutput(this, OutFile);
        if (string.Equals(System.IO.Path.GetFullPath(outPath), System.IO.Path.GetFullPath(model), StringComparison.Ordinal))
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("-OutFile is the model itself."), "OutputIsInput", ErrorCategory.InvalidArgument, outPath));
        var format = gguf ? "Gguf" : "Dat";
        if (!ShouldProcess(outPath, $"Compute the importance matrix of {System.IO.Path.GetFileName(model)} on {System.IO.Path.GetFileName(textPath)} ({format}, context {Context})"))
        {
            if (MyInvocation.BoundParameters.ContainsKey("WhatIf"))
                WriteObject(new IQuantImatrixResult { Path = outPath, Model = model, Dataset = textPath, Format = format, Context = Context, PPL = double.NaN, Error = double.NaN });
            return;
        }
        if (!Force && File.Exists(outPath))
            ThrowTerminatingError(new ErrorRecord(new IOException($"'{outPath}' exists; use -Force to replace it."), "OutputExists", ErrorCategory.ResourceExists, outPath));

        string text;
        try { text = File.ReadAllText(textPath); }
        catch (Exception ex) { ThrowTerminatingError(Errors.From(ex, textPath)); return; }
        try
        {
            WriteVerbose($"Loading {model}");
            using var lease = ModelCache.Acquire(model);
            var tok = lease.Model.Tokenizer;
            bool addBos = tok.AddBosDefault;
            var tokens = tok.Encode(text, addBos, parseSpecial: false);
            if (tokens.Count < 2 * Context)
                throw new ArgumentException($"An importance matrix with -Context {Context} needs at least {2 * Context} tokens; '{textPath}' has {tokens.Count}.");
            int nChunk = Chunks > 0 ? Math.Min(Chunks, tokens.Count / Context) : tokens.Count / Context;
            WriteVerbose($"{tokens.Count} tokens, {nChunk} chunks of {Context}, BOS {(addBos ? "added" : "not added")}");
            var options = new ImatrixOptions
            {
                Context = Context, MaxChunks = Chunks, ProcessOutput = ProcessOutput, ComputePerplexity = !NoPerplexity,
                Dataset = System.IO.Path.GetFileName(textPath),
            };
            using var ctx = new InferenceContext(lease.Model, new InferenceOptions { ContextLength = Context, Threads = ThrottleLimit });
            string activity = $"Importance matrix of {System.IO.Path.GetFileName(model)}";
            using var work = _work = new BackgroundWork();
            var progress = new CallbackProgress<ImatrixProgress>(p =>
            {
                int remaining = (int)Math.Ceiling(p.Elapsed.TotalSeconds / p.Chunk * (p.Chunks - p.Chunk));
                var rec = new ProgressRecord(1, activity, $"Chunk {p.Chunk} of {p.Chunks}" + (double.IsNaN(p.RunningPpl) ? "" : $": PPL so far {p.RunningPpl:F4}"))
                { PercentComplete = (int)(100L * p.Chunk / p.Chunks), SecondsRemaining = remaining };
                work.Post(c => c.WriteProgress(rec));
            });
            var result = work.Run(this, ct =>
            {
                var r = ImatrixBuilder.Compute(ctx, tokens, addBos, tok.BosId, options, progress, ct);
                ct.ThrowIfCancellationRequested();
                if (gguf) ImatrixWriter.SaveGguf(r.Imatrix, outPath, Context, Math.Min(Context, ctx.BatchSize), overwrite: true);
                else r.Imatrix.SaveDat(outPath);
                return r;
            });
            WriteProgress(new ProgressRecord(1, activity, "Done") { RecordType = ProgressRecordType.Completed });
            WriteObject(new IQuantImatrixResult
            {
                Path = outPath, Model = model, Dataset = textPath, Format = format, Entries = result.Imatrix.Entries.Count,
                Chunks = result.Chunks, Context = result.Context, Tokens = result.Tokens, PPL = result.Ppl, Error = result.PplError,
                Time = result.Time, TokensPerSecond = result.Chunks * (double)Context / Math.Max(1e-9, result.Time.TotalSeconds), Written = true,
            });
        }
        catch (PipelineStoppedException) { throw; }
        catch (ArgumentException ex) { WriteError(new ErrorRecord(ex, "CalibrationTooShort", ErrorCategory.InvalidData, textPath)); }
        catch (Exception ex) { WriteError(Errors.From(ex, model)); }
        finally { _work = null; }
    }
}

/// <summary>IProgress that calls back synchronously on the reporting thread (generic, so no type here implements an
/// interface over an IQuant.Core type, which PowerShell would have to load before the module initializer runs).</summary>
internal sealed class CallbackProgress<T>(Action<T> report) : IProgress<T>
{
    /// <inheritdoc/>
    public void Report(T value) => report(value);
}
