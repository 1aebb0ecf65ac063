using IQuant.Core.Gguf;
using IQuant.Core.Inference;
using IQuant.Core.Tokenization;

namespace IQuant.PowerShell.Internal;

/// <summary>
/// Per-process cache of loaded models (and tokenizers), keyed by full path + last-write time + length, so a script
/// calling Invoke-IQuantChat in a loop maps the file and builds the tokenizer once. Models are leased: an entry evicted
/// while in use is disposed when its last lease ends. One idle <see cref="InferenceContext"/> per model is kept too,
/// reused when the next call asks for the same settings.
/// </summary>
internal static class ModelCache
{
    private const int MaxModels = 2;
    private const int MaxTokenizers = 8;
    private static readonly object s_lock = new();
    private static readonly List<ModelEntry> s_models = [];
    private static readonly List<(string Key, LlamaTokenizer Tok)> s_tokenizers = [];

    private static string Key(string path)
    {
        var fi = new FileInfo(path);
        return $"{fi.FullName}|{fi.LastWriteTimeUtc.Ticks}|{fi.Length}";
    }

    /// <summary>Leases the model at <paramref name="path"/>, loading it when not cached (or when the file changed).</summary>
    public static ModelLease Acquire(string path)
    {
        string key = Key(path);
        lock (s_lock)
        {
            var e = s_models.Find(m => m.Key == key);
            if (e is not null)
            {
                s_models.Remove(e);
                s_models.Insert(0, e);
                e.Leases++;
                return new ModelLease(e);
            }
        }
        var model = LlamaModel.Load(path);
        _ = model.Tokenizer; // build it now, outside the lock of later calls
        lock (s_lock)
        {
            var e = new ModelEntry(key, model) { Leases = 1 };
            s_models.Insert(0, e);
            // drop stale entries of the same file and the least recently used beyond the limit
            string prefix = key[..key.IndexOf('|')] + "|";
            for (int i = s_models.Count - 1; i > 0; i--)
            {
                if (s_models[i].Key.StartsWith(prefix, StringComparison.Ordinal) || i >= MaxModels)
                    Evict(s_models[i]);
            }
            return new ModelLease(e);
        }
    }

    /// <summary>The tokenizer of any GGUF with a vocabulary (vocab-only files included).</summary>
    public static LlamaTokenizer GetTokenizer(string path)
    {
        string key = Key(path);
        lock (s_lock)
        {
            var m = s_models.Find(x => x.Key == key);
            if (m is not null) return m.Model.Tokenizer;
            foreach (var t in s_tokenizers) if (t.Key == key) return t.Tok;
        }
        LlamaTokenizer tok;
        using (var f = GgufFile.Open(path)) tok = LlamaModel.CreateTokenizer(f);
        lock (s_lock)
        {
            s_tokenizers.RemoveAll(t => t.Key == key);
            s_tokenizers.Insert(0, (key, tok));
            if (s_tokenizers.Count > MaxTokenizers) s_tokenizers.RemoveAt(s_tokenizers.Count - 1);
        }
        return tok;
    }

    /// <summary>Drops every cached model and tokenizer (models in use are disposed when released).</summary>
    public static void Clear()
    {
        lock (s_lock)
        {
            foreach (var e in s_models.ToArray()) Evict(e);
            s_tokenizers.Clear();
        }
    }

    private static void Evict(ModelEntry e)
    {
        s_models.Remove(e);
        e.Evicted = true;
        if (e.Leases == 0) e.DisposeAll();
    }

    internal static void Release(ModelEntry e)
    {
        lock (s_lock)
        {
            e.Leases--;
            if (e.Evicted && e.Leases == 0) e.DisposeAll();
        }
    }

    internal static InferenceContext TakeContext(ModelEntry e, InferenceOptions o)
    {
        lock (s_lock)
        {
            var c = e.IdleContext;
            if (c is not null && c.ContextLength == (o.ContextLength > 0 ? o.ContextLength : c.ContextLength) &&
                (o.ContextLength > 0 || e.IdleDefaultContext) &&
                c.Threads == (o.Threads > 0 ? o.Threads : Environment.ProcessorCount) && c.KvCacheType == o.KvCacheType)
            {
                e.IdleContext = null;
                return c;
            }
        }
        return new InferenceContext(e.Model, o);
    }

    internal static void ReturnContext(ModelEntry e, InferenceContext c, bool defaultContext)
    {
        lock (s_lock)
        {
            if (e.Evicted || e.IdleContext is not null) { c.Dispose(); return; }
            e.IdleContext = c;
            e.IdleDefaultContext = defaultContext;
        }
    }

    internal sealed class ModelEntry(string key, LlamaModel model)
    {
        public string Key { get; } = key;
        public LlamaModel Model { get; } = model;
        public int Leases;
        public bool Evicted;
        public InferenceContext? IdleContext;
        public bool IdleDefaultContext;

        public void DisposeAll()
        {
            IdleContext?.Dispose();
            IdleContext = null;
            Model.Dispose();
        }
    }
}

/// <summary>A lease on a cached model; dispose to release it.</summary>
internal sealed class ModelLease : IDisposable
{
    private ModelCache.ModelEntry? _entry;
    private InferenceContext? _context;
    private bool _defaultContext;

    internal ModelLease(ModelCache.ModelEntry entry) => _entry = entry;

    /// <summary>The model.</summary>
    public LlamaModel Model => (_entry ?? throw new ObjectDisposedException(nameof(ModelLease))).Model;

    /// <summary>An inference context with these settings (a cached idle one when it matches); returned to the cache on dispose.</summary>
    public InferenceContext GetContext(InferenceOptions options)
    {
        if (_context is not null) return _context;
        _defaultContext = options.ContextLength <= 0;
        _context = ModelCache.TakeContext(_entry ?? throw new ObjectDisposedException(nameof(ModelLease)), options);
        return _context;
    }

    public void Dispose()
    {
        var e = Interlocked.Exchange(ref _entry, null);
        if (e is null) return;
        if (_context is not null) ModelCache.ReturnContext(e, _context, _defaultContext);
        _context = null;
        ModelCache.Release(e);
    }
}
