using System.Management.Automation;
using System.Security.Cryptography;
using System.Text;
using IQuant.Core.Calibration;
using IQuant.Core.Inference;
using IQuant.PowerShell.Internal;

namespace IQuant.PowerShell.Cmdlets;

/// <summary>Compare-IQuantModel: llama-perplexity --kl-divergence statistics of models against a reference model.</summary>
[Cmdlet(VerbsData.Compare, "IQuantModel", DefaultParameterSetName = "Logits")]
[OutputType(typeof(IQuantComparison))]
public sealed class CompareIQuantModelCommand : PSCmdlet, IDisposable
{
    /// <summary>The models to compare (wildcards; pipeline input, e.g. from Get-ChildItem).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "FullName")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Model { get; set; } = [];

    /// <summary>The reference model (usually the F16/BF16 original).</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Reference")]
    [ValidateNotNullOrEmpty]
    public string Reference { get; set; } = "";

    /// <summary>The text to evaluate.</summary>
    [Parameter(Mandatory = true, Position = 1, ParameterSetName = "Reference")]
    [Parameter(ParameterSetName = "Logits")]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>The reference log-probabilities file (llama-perplexity --kl-divergence-base format): reused when it exists
    /// and matches the text and context, else computed from -Reference and written there.</summary>
    [Parameter(ParameterSetName = "Reference")]
    [Parameter(Mandatory = true, ParameterSetName = "Logits")]
    [ValidateNotNullOrEmpty]
    public string? ReferenceLogits { get; set; }

    /// <summary>Chunk length in tokens.</summary>
    [Parameter(ParameterSetName = "Reference")]
    [ValidateRange(16, 1 << 20)]
    public int Context { get; set; } = 512;

    /// <summary>Evaluate at most this many chunks; default all.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int Chunks { get; set; }

    /// <summary>Compute threads; default all logical processors.</summary>
    [Parameter]
    [ValidateRange(1, 1024)]
    public int ThrottleLimit { get; set; }

    /// <summary>Largest reference cache kept in the temp folder when -ReferenceLogits is not given (bytes).</summary>
    internal const long MaxDefaultCacheBytes = 2L << 30;

    private LogitsBaseFile? _ref;
    private string? _refLabel;
    private string? _textPath;
    private string? _deleteAtEnd;
    private BackgroundWork? _work;

    /// <inheritdoc/>
    protected override void StopProcessing() => _work?.Stop();

    /// <inheritdoc/>
    protected override void BeginProcessing()
    {
        if (ParameterSetName == "Logits")
        {
            string found = SingleFile.Resolve(this, ReferenceLogits!, "ReferenceLogitsNotFound", "Reference logits (give -Reference to compute them)");
            _ref = ReadLogits(found);
            _refLabel = found;
            if (Path is not null) _textPath = ResolveOne(Path, "TextNotFound");
            return;
        }
        string reference = ResolveOne(Reference, "ReferenceNotFound");
        _textPath = ResolveOne(Path!, "TextNotFound");
        _refLabel = reference;
        string text;
        try { text = File.ReadAllText(_textPath); }
        catch (Exception ex) { ThrowTerminatingError(Errors.From(ex, _textPath)); return; }
        try
        {
            using var lease = ModelCache.Acquire(reference);
            var tok = lease.Model.Tokenizer;
            var tokens = tok.Encode(text, tok.AddBosDefault, parseSpecial: false);
            if (tokens.Count < 2 * Context)
                ThrowTerminatingError(new ErrorRecord(new ArgumentException($"KL-divergence with -Context {Context} needs at least {2 * Context} tokens; '{_textPath}' has {tokens.Count}."),
                    "TextTooShort", ErrorCategory.InvalidData, _textPath));
            int nChunk = KlDivergence.ChunkCount(tokens.Count, Context, Chunks);
            string path;
            if (ReferenceLogits is not null) path = PathResolver.ResolveOutput(this, ReferenceLogits);
            else
            {
                long size = 20L + 4L * Context * nChunk + 2L * LogitsBaseFile.ScoredPerChunk(Context) * LogitsBaseFile.RowValues(lease.Model.Config.VocabSize) * nChunk;
                string key = CacheKey(reference, tokens, Context, nChunk);
                string dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "IQuant");
                Directory.CreateDirectory(dir);
                path = System.IO.Path.Combine(dir, $"kld-{key}.logits");
                if (size > MaxDefaultCacheBytes && !File.Exists(path))
                {
                    path = System.IO.Path.Combine(dir, $"kld-{key}-{Environment.ProcessId}.tmp.logits");
                    _deleteAtEnd = path;
                    WriteWarning($"The reference log-probabilities take {size / 1048576.0:N0} MiB; they are kept only for this call. Give -ReferenceLogits to keep them for later comparisons.");
                }
            }
            if (File.Exists(path) && _deleteAtEnd is null)
            {
                try
                {
                    var existing = LogitsBaseFile.ReadHeader(path);
                    if (Matches(existing, tokens, Context, nChunk))
                    {
                        WriteVerbose($"Using the reference log-probabilities in {path}");
                        _ref = existing;
                        return;
                    }
                    WriteVerbose($"{path} was computed for other text, context or chunks; computing it again.");
                }
                catch (LogitsFileException ex) { WriteVerbose($"{path}: {ex.Message}; computing it again."); }
            }
            WriteVerbose($"Evaluating the reference {reference}: {nChunk} chunks of {Context} → {path}");
            using var ctx = new InferenceContext(lease.Model, new InferenceOptions { ContextLength = Context, Threads = ThrottleLimit });
            string activity = $"Reference log-probabilities of {System.IO.Path.GetFileName(reference)}";
            using var work = _work = new BackgroundWork();
            var progress = ProgressFor(work, activity);
            var r = work.Run(this, ct => KlDivergence.WriteReference(ctx, tokens, Context, nChunk, tok.AddBosDefault, tok.BosId, path, progress, ct));
            WriteProgress(new ProgressRecord(2, activity, "Done") { RecordType = ProgressRecordType.Completed });
            WriteVerbose($"Reference PPL {r.Ppl:F4} ± {r.Error:F4} over {r.ScoredTokens} tokens");
            _ref = LogitsBaseFile.ReadHeader(path);
        }
        catch (PipelineStoppedException) { throw; }
        catch (LogitsFileException ex) { ThrowTerminatingError(new ErrorRecord(ex, ex.ErrorId, ErrorCategory.InvalidData, ex.Path)); }
        catch (Exception ex) when (ex is not PipelineStoppedException) { ThrowTerminatingError(Errors.From(ex, reference)); }
        finally { _work = null; }
    }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        if (_ref is null) return;
        bool literal = Model.Any(m => m.Contains("::", StringComparison.Ordinal));
        foreach (var file in PathResolver.ResolveExisting(this, Model, literal))
        {
            try { Compare(file); }
            catch (PipelineStoppedException) { throw; }
            catch (LogitsFileException ex) { WriteError(new ErrorRecord(ex, ex.ErrorId, ErrorCategory.InvalidData, file)); }
            catch (Exception ex) { WriteError(Errors.From(ex, file)); }
        }
    }

    /// <inheritdoc/>
    protected override void EndProcessing() => Cleanup();

    /// <summary>Deletes a call-only reference file also after an error or Ctrl+C.</summary>
    public void Dispose() => Cleanup();

    private void Cleanup()
    {
        if (_deleteAtEnd is not null)
        {
            try { File.Delete(_deleteAtEnd); } catch (IOException) { }
            _deleteAtEnd = null;
        }
    }

    private void Compare(string file)
    {
        var reference = _ref!;
        WriteVerbose($"Comparing {file} with {_refLabel}");
        using var lease = ModelCache.Acquire(file);
        var tok = lease.Model.Tokenizer;
        using var ctx = new InferenceContext(lease.Model, new InferenceOptions { ContextLength = reference.Context, Threads = ThrottleLimit });
        string activity = $"KL-divergence of {System.IO.Path.GetFileName(file)}";
        using var work = _work = new BackgroundWork();
        var progress = ProgressFor(work, activity);
        try
        {
            var r = work.Run(this, ct => KlDivergence.Compare(ctx, reference, tok.AddBosDefault, tok.BosId, Chunks, progress, ct));
            WriteProgress(new ProgressRecord(2, activity, "Done") { RecordType = ProgressRecordType.Completed });
            WriteObject(new IQuantComparison
            {
                Model = file, Reference = _refLabel!, ReferenceLogits = reference.Path, Path = _textPath, Chunks = r.Chunks, Context = r.Context,
                Tokens = r.Count, MeanKld = r.MeanKld, MeanKldError = r.MeanKldError, MedianKld = r.MedianKld, Kld90 = r.Kld90,
                Kld95 = r.Kld95, Kld99 = r.Kld99, Kld999 = r.Kld999, MaxKld = r.MaxKld, SameTop = r.SameTop, SameTopError = r.SameTopError,
                PPL = r.Ppl, PPLError = r.PplError, ReferencePPL = r.ReferencePpl, ReferencePPLError = r.ReferencePplError,
                PPLRatio = r.PplRatio, PPLRatioError = r.PplRatioError, LnPPLRatio = r.LnPplRatio, Correlation = r.Correlation,
                MeanDeltaP = r.MeanDeltaP, RmsDeltaP = r.RmsDeltaP, RmsDeltaPError = r.RmsDeltaPError, MaxDeltaP = r.MaxAbsDeltaP, Time = r.Time,
            });
        }
        finally { _work = null; }
    }

    private static CallbackProgress<KlProgress> ProgressFor(BackgroundWork work, string activity) => new(p =>
    {
        int remaining = (int)Math.Ceiling(p.Elapsed.TotalSeconds / p.Chunk * (p.Chunks - p.Chunk));
        string status = $"Chunk {p.Chunk} of {p.Chunks}: PPL {p.RunningPpl:F4}" + (p.RunningKld > 0 ? $", mean KLD {p.RunningKld:F6}" : "");
        var rec = new ProgressRecord(2, activity, status) { PercentComplete = (int)(100L * p.Chunk / p.Chunks), SecondsRemaining = remaining };
        work.Post(c => c.WriteProgress(rec));
    });

    private string ResolveOne(string path, string notFoundId) =>
        SingleFile.Resolve(this, path, notFoundId, notFoundId == "TextNotFound" ? "Text file" : "Model");

    private LogitsBaseFile ReadLogits(string path)
    {
        try { return LogitsBaseFile.ReadHeader(path); }
        catch (LogitsFileException ex)
        {
            ThrowTerminatingError(new ErrorRecord(ex, ex.ErrorId, ErrorCategory.InvalidData, path));
            throw;
        }
    }

    private static bool Matches(LogitsBaseFile f, IReadOnlyList<int> tokens, int context, int chunks)
    {
        if (f.Context != context || f.Chunks < chunks) return false;
        for (int i = 0; i < chunks * context; i++) if (f.Tokens[i] != tokens[i]) return false;
        return true;
    }

    private static string CacheKey(string reference, IReadOnlyList<int> tokens, int context, int chunks)
    {
        var fi = new FileInfo(reference);
        var sb = new StringBuilder().Append(fi.FullName).Append('|').Append(fi.Length).Append('|').Append(fi.LastWriteTimeUtc.Ticks)
            .Append('|').Append(context).Append('|').Append(chunks).Append('|');
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(Encoding.UTF8.GetBytes(sb.ToString()));
        var buf = new byte[4];
        for (int i = 0; i < Math.Min(tokens.Count, chunks * context); i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(buf, tokens[i]);
            h.AppendData(buf);
        }
        return Convert.ToHexString(h.GetHashAndReset())[..24];
    }
}
