using IQuant.Core.Tokenization;

namespace IQuant.Core.Inference;

/// <summary>
/// A conversation with a model: history, formatting through a <see cref="ChatTemplate"/>, and generation that reuses
/// the KV cache of earlier turns. When the conversation outgrows the context, the oldest turns are dropped (the
/// system message stays). Not thread-safe.
/// </summary>
public sealed class ChatSession
{
    private readonly TextGenerator _gen;
    private readonly List<ChatMessage> _history = [];

    /// <summary>Creates a session over <paramref name="generator"/> with <paramref name="template"/> and an optional system message.</summary>
    public ChatSession(TextGenerator generator, ChatTemplate template, string? system = null)
    {
        _gen = generator ?? throw new ArgumentNullException(nameof(generator));
        Template = template ?? throw new ArgumentNullException(nameof(template));
        System = string.IsNullOrEmpty(system) ? null : system;
    }

    /// <summary>The format.</summary>
    public ChatTemplate Template { get; }

    /// <summary>The system message, or null.</summary>
    public string? System { get; }

    /// <summary>User and assistant messages so far.</summary>
    public IReadOnlyList<ChatMessage> History => _history;

    /// <summary>The generator.</summary>
    public TextGenerator Generator => _gen;

    /// <summary>Forgets the conversation.</summary>
    public void Reset()
    {
        _history.Clear();
        _gen.Reset();
    }

    /// <summary>The prompt tokens of <paramref name="turns"/> (system message first when set), formatted with the assistant prefix.</summary>
    public IReadOnlyList<int> Tokenize(IReadOnlyList<ChatMessage> turns)
    {
        var msgs = new List<ChatMessage>(turns.Count + 1);
        if (System is not null) msgs.Add(ChatMessage.System(System));
        msgs.AddRange(turns);
        string text = Template.Format(msgs, addAssistantPrefix: true);
        var tok = _gen.Tokenizer;
        return tok.Encode(text, addBos: tok.AddBosDefault, parseSpecial: true);
    }

    /// <summary>Sends <paramref name="user"/>, generates the answer (streamed to <paramref name="onText"/>) and adds both to
    /// the history (a cancelled answer is kept as far as it got).</summary>
    public GenerationResult Ask(string user, GenerationOptions? options = null, Action<string>? onText = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(user);
        options ??= new GenerationOptions();
        int nCtx = _gen.Context.ContextLength;
        var turns = new List<ChatMessage>(_history) { ChatMessage.User(user) };
        int reserve = Math.Min(options.MaxTokens > 0 ? options.MaxTokens : nCtx / 4, nCtx / 2);
        IReadOnlyList<int> prompt = Tokenize(turns);
        // Drop the oldest (user, assistant) pairs until the prompt leaves room for the answer.
        while (prompt.Count + reserve > nCtx && turns.Count > 1)
        {
            turns.RemoveRange(0, Math.Min(2, turns.Count - 1));
            prompt = Tokenize(turns);
        }
        if (prompt.Count >= nCtx)
            throw new InvalidOperationException($"The message needs {prompt.Count} tokens; the context holds {nCtx}.");
        var o = Template.TrimsAnswer && !options.TrimLeadingWhitespace ? options with { TrimLeadingWhitespace = true } : options;
        var result = _gen.Generate(prompt, o, onText, cancel);
        _history.Clear();
        _history.AddRange(turns);
        _history.Add(ChatMessage.Assistant(result.Text));
        return result;
    }
}
