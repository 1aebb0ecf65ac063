using System.Management.Automation;
using IQuant.Core.Gguf;

namespace IQuant.PowerShell.Internal;

/// <summary>
/// Base of cmdlets that work on tensors: piped GgufTensor objects (grouped by file, each file opened once, in the
/// order the tensors arrive) or -Path with optional -Name wildcards.
/// </summary>
public abstract class TensorInputCmdlet : PSCmdlet
{
    /// <summary>Tensors from Get-GgufTensor.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "Tensor")]
    public GgufTensor[] InputObject { get; set; } = [];

    /// <summary>Model files (wildcards).</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Path")]
    [SupportsWildcards]
    public string[] Path { get; set; } = [];

    /// <summary>With -Path: tensor names (wildcards); default all.</summary>
    [Parameter(Position = 1, ParameterSetName = "Path")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(TensorNameCompleter))]
    public string[]? Name { get; set; }

    /// <summary>Threads; default all cores.</summary>
    [Parameter]
    [ValidateRange(1, 1024)]
    public int ThrottleLimit { get; set; }

    private readonly List<(string File, List<string> Names)> _queue = [];
    private BackgroundWork? _work;

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        if (ParameterSetName == "Tensor")
        {
            foreach (var t in InputObject)
            {
                if (t is null) continue;
                // Consecutive tensors of one file are processed together, with the file opened once.
                if (_queue.Count > 0 && _queue[^1].File == t.Path) _queue[^1].Names.Add(t.Name);
                else _queue.Add((t.Path, [t.Name]));
            }
        }
        else
        {
            foreach (var f in PathResolver.ResolveExisting(this, Path, literal: false)) Process(f, null);
        }
    }

    /// <inheritdoc/>
    protected override void EndProcessing()
    {
        foreach (var (file, names) in _queue) Process(file, names);
    }

    /// <inheritdoc/>
    protected override void StopProcessing() => _work?.Stop();

    private void Process(string path, List<string>? names)
    {
        GgufFile file;
        try { file = GgufFile.Open(path); }
        catch (Exception ex) { WriteError(Errors.From(ex, path)); return; }
        using (file)
        {
            var patterns = (Name ?? ["*"]).Select(n => new WildcardPattern(n, WildcardOptions.IgnoreCase)).ToArray();
            var tensors = new List<GgufTensorInfo>();
            if (names is null) tensors.AddRange(file.Tensors.Where(t => patterns.Any(p => p.IsMatch(t.Name))));
            else foreach (var n in names)
            {
                var t = file.FindTensor(n);
                if (t is null) WriteError(new ErrorRecord(new ItemNotFoundException($"Tensor '{n}' is not in '{path}'."), "TensorNotInFile", ErrorCategory.ObjectNotFound, n));
                else tensors.Add(t);
            }
            using var work = _work = new BackgroundWork();
            try
            {
                work.Run(this, ct => { ProcessTensors(file, tensors, work, ct); return 0; });
            }
            catch (PipelineStoppedException) { throw; }
            catch (Exception ex) { WriteError(Errors.From(ex, path)); }
            finally { _work = null; }
        }
    }

    /// <summary>Runs on a worker thread: compute and post results with <c>work.Post(c =&gt; c.WriteObject(...))</c>.</summary>
    private protected abstract void ProcessTensors(GgufFile file, IReadOnlyList<GgufTensorInfo> tensors, BackgroundWork work, CancellationToken ct);

    /// <summary>Posts a progress record for tensor <paramref name="i"/> of <paramref name="n"/>.</summary>
    private protected static void PostProgress(BackgroundWork work, string activity, int i, int n, string name) =>
        work.Post(c => c.WriteProgress(new ProgressRecord(2, activity, i < n ? $"{name} ({i + 1}/{n})" : "done")
        { PercentComplete = n == 0 ? 100 : 100 * i / n, RecordType = i < n ? ProgressRecordType.Processing : ProgressRecordType.Completed }));
}
