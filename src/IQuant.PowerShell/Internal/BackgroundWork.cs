using System.Collections.Concurrent;
using System.Management.Automation;

namespace IQuant.PowerShell.Internal;

/// <summary>
/// Runs long work on a worker thread while the cmdlet's own thread writes what it reports (objects, progress,
/// verbose text, warnings) — cmdlet output may only be written from the pipeline thread. Ctrl+C
/// (StopProcessing) cancels the token; the worker sees it, unwinds (deleting temp files), and the call returns.
/// </summary>
internal sealed class BackgroundWork : IDisposable
{
    private readonly BlockingCollection<Action<PSCmdlet>> _queue = new();
    private readonly CancellationTokenSource _cts = new();

    /// <summary>Cancelled by <see cref="Stop"/>.</summary>
    public CancellationToken Token => _cts.Token;

    /// <summary>Queues something to do on the pipeline thread (e.g. c => c.WriteObject(x)).</summary>
    public void Post(Action<PSCmdlet> action)
    {
        try { _queue.Add(action); } catch (InvalidOperationException) { /* completed: the call is over */ }
    }

    /// <summary>Called from StopProcessing.</summary>
    public void Stop() => _cts.Cancel();

    /// <summary>Runs <paramref name="work"/> on a worker thread and pumps posted actions until it ends; rethrows its exception.</summary>
    public T Run<T>(PSCmdlet cmdlet, Func<CancellationToken, T> work)
    {
        T result = default!;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try { result = work(_cts.Token); }
            catch (Exception ex) { error = ex; }
            finally { _queue.CompleteAdding(); }
        }, 16 << 20) { IsBackground = true, Name = "IQuant worker" };
        thread.Start();
        foreach (var action in _queue.GetConsumingEnumerable())
        {
            if (_cts.IsCancellationRequested) continue;   // drain; don't write after Ctrl+C
            try { action(cmdlet); }
            catch (PipelineStoppedException) { _cts.Cancel(); }
        }
        thread.Join();
        if (error is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(error).Throw();
        if (_cts.IsCancellationRequested) throw new PipelineStoppedException();
        return result;
    }

    public void Dispose() { _queue.Dispose(); _cts.Dispose(); }
}
