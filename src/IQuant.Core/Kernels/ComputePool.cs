using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace IQuant.Core.Kernels;

/// <summary>
/// A unit of parallel work for <see cref="ComputePool.Run"/>: the delegate-free alternative to
/// <see cref="ComputePool.For(int, Action{int, int}, int)"/>. Keep one instance and reuse it across calls to avoid
/// allocations; <see cref="Execute"/> is called concurrently from several threads with disjoint ranges.
/// </summary>
public abstract class ComputeJob
{
    /// <summary>Processes items [<paramref name="start"/>, <paramref name="end"/>) on pool thread <paramref name="worker"/> (0 = the calling thread).</summary>
    public abstract void Execute(int start, int end, int worker);
}

/// <summary>
/// The compute thread pool of an inference session. <see cref="Threads"/> is the degree of parallelism: the thread
/// that calls <see cref="Run"/> / <see cref="For(int, Action{int, int}, int)"/> takes part as worker 0 and
/// <c>Threads - 1</c> dedicated background threads are workers 1.. . Between calls the background threads spin for
/// <see cref="SpinMicroseconds"/> and then park, so the many small matmuls of a generated token pay no thread wake-up
/// cost while an idle session costs no CPU. Items are handed out in chunks (dynamic scheduling), which keeps the
/// threads busy when the machine is shared. Calls are serialized (one parallel-for at a time per pool); a nested call
/// from inside a job runs inline on the calling thread.
/// </summary>
public sealed class ComputePool : IDisposable
{
    private readonly Thread[] _threads;
    private readonly object _parkLock = new();
    private readonly object _callLock = new();
    private readonly ActionJob _actionJob = new();
    private readonly object?[] _workerState;
    private int _generation;
    private int _sleepers;
    // Join/close barrier: bits 0..29 = background workers currently inside the job, bit 30 = closed (no more joins).
    // The caller waits only for workers that actually joined, so a worker the OS has not scheduled yet costs nothing.
    private int _state;
    private const int Closed = 1 << 30;
    private volatile bool _disposed;

    // Current call.
    private ComputeJob? _job;
    private int _count, _chunk, _next;
    private ExceptionDispatchInfo? _error;

    [ThreadStatic] private static ComputePool? t_inside;

    /// <summary>True on a thread that is currently executing a job of this pool (nested calls run inline).</summary>
    public bool IsInsideJob => t_inside == this;

    /// <summary>Slot for the matmul driver's reusable job and scratch (see <see cref="MatMul"/>).</summary>
    internal object? MatMulContext;

    /// <summary>Creates a pool of <paramref name="threads"/> workers (0 = <see cref="Environment.ProcessorCount"/>), the caller included.</summary>
    public ComputePool(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        if (threads == 0) threads = Environment.ProcessorCount;
        Threads = threads;
        _workerState = new object?[threads];
        _threads = new Thread[threads - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            int id = i + 1;
            _threads[i] = new Thread(() => WorkerLoop(id)) { IsBackground = true, Name = $"IQuant compute {id}" };
            _threads[i].Start();
        }
    }

    /// <summary>Degree of parallelism (calling thread included).</summary>
    public int Threads { get; }

    /// <summary>How long idle background threads spin before parking (default 200 µs).</summary>
    public int SpinMicroseconds { get; set; } = 200;

    /// <summary>
    /// Per-worker state slot <paramref name="worker"/> (0..Threads-1), for scratch buffers that must not be shared
    /// between threads. Created on first use with <paramref name="create"/>; only worker <paramref name="worker"/>
    /// (or the caller between calls) may use it.
    /// </summary>
    public T WorkerState<T>(int worker, Func<T> create) where T : class
    {
        var s = _workerState[worker];
        if (s is T t) return t;
        t = create();
        _workerState[worker] = t;
        return t;
    }

    /// <summary>Runs <paramref name="body"/>(start, end) over [0, <paramref name="count"/>) in chunks that are multiples of <paramref name="grain"/>.</summary>
    public void For(int count, Action<int, int> body, int grain = 1)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (count <= 0) return;
        if (Threads == 1 || count <= grain || t_inside != null)
        {
            body(0, count);
            return;
        }
        lock (_callLock)
        {
            _actionJob.Body = body;
            try { Run(_actionJob, count, grain); }
            finally { _actionJob.Body = null; }
        }
    }

    /// <summary>Runs <paramref name="job"/> over [0, <paramref name="count"/>) in chunks that are multiples of <paramref name="grain"/>; returns when all items are done.</summary>
    public void Run(ComputeJob job, int count, int grain = 1)
    {
        ArgumentNullException.ThrowIfNull(job);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (count <= 0) return;
        grain = Math.Max(1, grain);
        if (Threads == 1 || count <= grain || t_inside != null)
        {
            job.Execute(0, count, 0);
            return;
        }
        lock (_callLock)
        {
            // About 4 chunks per thread: small enough to balance on a shared machine, large enough to amortize.
            int nGrains = (count + grain - 1) / grain;
            int grainsPerChunk = Math.Max(1, nGrains / (Threads * 4));
            _job = job;
            _count = count;
            _chunk = grainsPerChunk * grain;
            _next = 0;
            _error = null;
            Volatile.Write(ref _state, 0);                 // open, after the job fields are published
            Interlocked.Increment(ref _generation);
            if (Volatile.Read(ref _sleepers) > 0)
                lock (_parkLock) Monitor.PulseAll(_parkLock);
            t_inside = this;
            try { Work(0); }
            finally { t_inside = null; }
            // All chunks are claimed; close the job and wait for the workers that joined it to finish their chunks.
            Interlocked.Or(ref _state, Closed);
            var spin = new SpinWait();
            while ((Volatile.Read(ref _state) & ~Closed) != 0) spin.SpinOnce(sleep1Threshold: -1);
            _job = null;
            _error?.Throw();
        }
    }

    private void Work(int worker)
    {
        var job = _job!;
        int count = _count, chunk = _chunk;
        while (true)
        {
            int start = Interlocked.Add(ref _next, chunk) - chunk;
            if (start >= count) break;
            int end = Math.Min(count, start + chunk);
            try { job.Execute(start, end, worker); }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(e), null);
                Volatile.Write(ref _next, count);
            }
        }
    }

    private bool TryJoin()
    {
        int s = Volatile.Read(ref _state);
        while (true)
        {
            if ((s & Closed) != 0) return false;
            int prev = Interlocked.CompareExchange(ref _state, s + 1, s);
            if (prev == s) return true;
            s = prev;
        }
    }

    private void WorkerLoop(int id)
    {
        t_inside = this;
        int seen = 0;
        while (true)
        {
            if (Volatile.Read(ref _generation) == seen)
            {
                long spinUntil = Stopwatch.GetTimestamp() + SpinMicroseconds * Stopwatch.Frequency / 1_000_000;
                int n = 0;
                while (Volatile.Read(ref _generation) == seen && !_disposed)
                {
                    if ((++n & 63) == 0 && Stopwatch.GetTimestamp() > spinUntil)
                    {
                        Interlocked.Increment(ref _sleepers);
                        lock (_parkLock)
                        {
                            while (Volatile.Read(ref _generation) == seen && !_disposed) Monitor.Wait(_parkLock);
                        }
                        Interlocked.Decrement(ref _sleepers);
                        break;
                    }
                    Thread.SpinWait(8);
                }
            }
            if (_disposed) return;
            seen = Volatile.Read(ref _generation);
            if (!TryJoin()) continue;                      // the caller already finished this job
            Work(id);
            Interlocked.Decrement(ref _state);
        }
    }

    /// <summary>Stops the background threads.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        lock (_parkLock) Monitor.PulseAll(_parkLock);
        foreach (var t in _threads) t.Join();
    }

    private sealed class ActionJob : ComputeJob
    {
        public Action<int, int>? Body;
        public override void Execute(int start, int end, int worker) => Body!(start, end);
    }
}
