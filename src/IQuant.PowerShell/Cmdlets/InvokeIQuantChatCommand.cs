using System.Collections.Concurrent;
using System.Management.Automation;
using System.Management.Automation.Host;
using IQuant.Core.Inference;
using IQuant.PowerShell.Internal;

namespace IQuant.PowerShell.Cmdlets;

/// <summary>
/// Invoke-IQuantChat: chat with a model. Without -Prompt (and without pipeline input) in a terminal: an interactive
/// session (history kept, /exit, /reset, Ctrl+C stops the current answer). With -Prompt or piped prompts: one answer
/// per prompt, emitted as IQuantChatResponse. Text streams to the host as it is generated.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "IQuantChat")]
[OutputType(typeof(IQuantChatResponse))]
public sealed class InvokeIQuantChatCommand : PSCmdlet, IDisposable
{
    /// <summary>The model file.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [Alias("Path")]
    [ValidateNotNullOrEmpty]
    public string Model { get; set; } = "";

    /// <summary>Prompts; each gets one answer.</summary>
    [Parameter(Position = 1, ValueFromPipeline = true)]
    [AllowEmptyString]
    public string[]? Prompt { get; set; }

    /// <summary>System message.</summary>
    [Parameter]
    public string? System { get; set; }

    /// <summary>Most tokens per answer (0 = until the context is full).</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int MaxTokens { get; set; } = 512;

    /// <summary>Sampling temperature (0 = greedy).</summary>
    [Parameter]
    [ValidateRange(0.0, 100.0)]
    public float Temperature { get; set; } = 0.8f;

    /// <summary>Top-k (0 = off).</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int TopK { get; set; } = 40;

    /// <summary>Top-p (1 = off).</summary>
    [Parameter]
    [ValidateRange(0.0, 1.0)]
    public float TopP { get; set; } = 0.95f;

    /// <summary>Min-p (0 = off).</summary>
    [Parameter]
    [ValidateRange(0.0, 1.0)]
    public float MinP { get; set; } = 0.05f;

    /// <summary>Repetition penalty (1 = off).</summary>
    [Parameter]
    [ValidateRange(0.0, 10.0)]
    public float RepeatPenalty { get; set; } = 1.0f;

    /// <summary>Tokens the repetition penalty looks back.</summary>
    [Parameter]
    [ValidateRange(-1, int.MaxValue)]
    public int RepeatLastN { get; set; } = 64;

    /// <summary>Random seed (same seed, same text).</summary>
    [Parameter]
    public long? Seed { get; set; }

    /// <summary>Plain completion: the prompt is given to the model as is, without chat template or history.</summary>
    [Parameter]
    public SwitchParameter Raw { get; set; }

    /// <summary>Force a chat format instead of the one detected from the model.</summary>
    [Parameter]
    [ValidateSet("Plain", "ChatML", "Llama2", "Llama3", "Zephyr", "Phi3", "Gemma", "Mistral")]
    public string? Template { get; set; }

    /// <summary>Context length (0 = the model's, capped at 8192).</summary>
    [Parameter]
    [ValidateRange(0, 1 << 22)]
    public int Context { get; set; }

    /// <summary>Compute threads; default all logical processors.</summary>
    [Parameter]
    [ValidateRange(1, 1024)]
    public int ThrottleLimit { get; set; }

    /// <summary>KV cache element type.</summary>
    [Parameter]
    [ValidateSet("F16", "F32")]
    public string KvCacheType { get; set; } = "F16";

    /// <summary>Do not echo the answer to the host while it is generated (the response object still carries it).</summary>
    [Parameter]
    public SwitchParameter NoStream { get; set; }

    /// <summary>Interactive mode: also emit an IQuantChatResponse per answer.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    private ModelLease? _lease;
    private string _modelPath = "";
    private TextGenerator? _gen;
    private ChatTemplate? _template;
    private readonly CancellationTokenSource _stop = new();
    private bool _gotPrompt;

    /// <inheritdoc/>
    protected override void BeginProcessing()
    {
        var files = PathResolver.ResolveExisting(this, [Model], literal: false);
        if (files.Count != 1)
            ThrowTerminatingError(new ErrorRecord(new ArgumentException(files.Count == 0 ? $"Model '{Model}' was not found." : $"-Model '{Model}' matches {files.Count} files; give one."),
                files.Count == 0 ? "ModelNotFound" : "AmbiguousModel", files.Count == 0 ? ErrorCategory.ObjectNotFound : ErrorCategory.InvalidArgument, Model));
        _modelPath = files[0];
        try
        {
            WriteVerbose($"Loading {_modelPath}");
            _lease = ModelCache.Acquire(_modelPath);
            var ctx = _lease.GetContext(new InferenceOptions { ContextLength = Context, Threads = ThrottleLimit, KvCacheType = KvCacheType == "F32" ? Core.Inference.KvCacheType.F32 : Core.Inference.KvCacheType.F16 });
            _gen = new TextGenerator(ctx);
            var tok = _gen.Tokenizer;
            string? src = tok.Vocabulary.ChatTemplate;
            string eos = tok.EosId >= 0 ? tok.GetTokenText(tok.EosId) : "</s>";
            _template = Raw ? new ChatTemplate(ChatTemplateKind.Plain) : Template is { } k ? new ChatTemplate(Enum.Parse<ChatTemplateKind>(k, ignoreCase: true), src, eos) : ChatTemplate.FromModel(src, eos);
            WriteVerbose($"Context {ctx.ContextLength} tokens, {ctx.Threads} threads, KV cache {ctx.KvCacheType}, template {(Raw ? "none (-Raw)" : _template.Kind.ToString())}");
        }
        catch (Exception ex) when (ex is not PipelineStoppedException)
        {
            _lease?.Dispose();
            _lease = null;
            ThrowTerminatingError(Errors.From(ex, _modelPath));
        }
    }

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        if (Prompt is null || Prompt.Length == 0)
        {
            if (!MyInvocation.ExpectingInput) RunInteractive();
            return;
        }
        foreach (var p in Prompt)
        {
            if (p is null) continue;
            _gotPrompt = true;
            var session = NewSession();
            var r = Answer(session, p, interactive: false);
            if (r is not null) WriteObject(r);
        }
    }

    /// <inheritdoc/>
    protected override void EndProcessing()
    {
        if (!_gotPrompt && MyInvocation.ExpectingInput)
            WriteWarning("No prompt arrived from the pipeline.");
        Release();
    }

    /// <inheritdoc/>
    protected override void StopProcessing() => _stop.Cancel();

    /// <summary>Releases the model lease (also when the pipeline stops early).</summary>
    public void Dispose()
    {
        Release();
        _stop.Dispose();
    }

    private void Release()
    {
        _lease?.Dispose();
        _lease = null;
    }

    private ChatSession? NewSession() => Raw ? null : new ChatSession(_gen!, _template!, System);

    private GenerationOptions Options() => new()
    {
        MaxTokens = MaxTokens,
        Sampling = new SamplingOptions
        {
            Temperature = Temperature, TopK = TopK, TopP = TopP, MinP = MinP,
            RepeatPenalty = RepeatPenalty, RepeatLastN = RepeatLastN,
            Seed = Seed is { } s ? unchecked((ulong)s) : null,
        },
    };

    private bool CanInteract =>
        Host.Name == "ConsoleHost" && !Console.IsInputRedirected && !Console.IsOutputRedirected && Host.UI.RawUI is not null;

    private void RunInteractive()
    {
        if (!CanInteract)
            ThrowTerminatingError(new ErrorRecord(new InvalidOperationException(
                "Interactive chat needs a terminal. In scripts, pass -Prompt or pipe prompts to Invoke-IQuantChat."),
                "NotInteractive", ErrorCategory.InvalidOperation, null));
        var ui = Host.UI;
        var ctx = _gen!.Context;
        ui.WriteLine(ConsoleColor.DarkGray, ui.RawUI.BackgroundColor,
            $"{System_IO_Path_GetFileName(_modelPath)} · {ctx.Model.Config.Architecture} · template {(Raw ? "none (-Raw)" : _template!.Kind.ToString())} · context {ctx.ContextLength} · {ctx.Threads} threads");
        ui.WriteLine(ConsoleColor.DarkGray, ui.RawUI.BackgroundColor,
            "Type a message. /reset clears the conversation, /exit ends. Ctrl+C stops an answer.");
        var session = NewSession();
        while (true)
        {
            if (_stop.IsCancellationRequested) throw new PipelineStoppedException();
            ui.Write(ConsoleColor.Green, ui.RawUI.BackgroundColor, "> ");
            string? line;
            try { line = ui.ReadLine(); }
            catch (PipelineStoppedException) { break; }
            if (line is null) break;
            string cmd = line.Trim();
            if (cmd.Length == 0) continue;
            if (cmd is "/exit" or "/quit" or "/bye") break;
            if (cmd == "/reset")
            {
                session?.Reset();
                _gen.Reset();
                ui.WriteLine(ConsoleColor.DarkGray, ui.RawUI.BackgroundColor, "(conversation cleared)");
                continue;
            }
            if (cmd is "/help" or "/?")
            {
                ui.WriteLine(ConsoleColor.DarkGray, ui.RawUI.BackgroundColor, "/reset  clear the conversation\n/exit   end the chat\nCtrl+C  stop the current answer");
                continue;
            }
            var r = Answer(session, line, interactive: true);
            if (r is null) continue;
            ui.WriteLine(ConsoleColor.DarkGray, ui.RawUI.BackgroundColor,
                $"[{r.GeneratedTokens} tokens, {r.TokensPerSecond:F1} tokens/s, prompt {r.PromptTokens} tokens{(r.PromptTokensPerSecond > 0 ? $" at {r.PromptTokensPerSecond:F0} tokens/s" : "")}, {r.FinishReason}]");
            if (PassThru) WriteObject(r);
        }
    }

    private static string System_IO_Path_GetFileName(string p) => global::System.IO.Path.GetFileName(p);

    /// <summary>Generates one answer on a worker thread while this thread streams its text to the host. In interactive
    /// mode Ctrl+C (read as a key) cancels only the answer; otherwise Ctrl+C stops the pipeline.</summary>
    private IQuantChatResponse? Answer(ChatSession? session, string prompt, bool interactive)
    {
        var gen = _gen!;
        var options = Options();
        using var answerCts = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        var queue = new BlockingCollection<string>();
        bool stream = !NoStream;
        GenerationResult? result = null;
        Exception? error = null;
        var started = DateTime.UtcNow;
        var thread = new Thread(() =>
        {
            try
            {
                Action<string>? onText = stream ? s => queue.Add(s) : null;
                if (session is not null) result = session.Ask(prompt, options, onText, answerCts.Token);
                else
                {
                    var tok = gen.Tokenizer;
                    var ids = tok.Encode(prompt, tok.AddBosDefault, parseSpecial: true);
                    if (ids.Count == 0) ids = [tok.BosId];
                    gen.Reset();
                    result = gen.Generate(ids, options, onText, answerCts.Token);
                }
            }
            catch (Exception ex) { error = ex; }
            finally { queue.CompleteAdding(); }
        }, 16 << 20) { IsBackground = true, Name = "IQuant chat" };

        bool trapCtrlC = interactive && CanInteract;
        bool oldTreat = false;
        if (trapCtrlC)
        {
            try { oldTreat = Console.TreatControlCAsInput; Console.TreatControlCAsInput = true; }
            catch (IOException) { trapCtrlC = false; }
        }
        bool wroteText = false;
        bool endsWithNewline = true;
        try
        {
            thread.Start();
            while (!queue.IsCompleted)
            {
                if (queue.TryTake(out var s, 25))
                {
                    if (!answerCts.IsCancellationRequested || interactive)
                    {
                        Host.UI.Write(s);
                        wroteText = true;
                        endsWithNewline = s.EndsWith('\n');
                    }
                }
                if (trapCtrlC)
                {
                    while (Console.KeyAvailable)
                    {
                        var k = Console.ReadKey(intercept: true);
                        if (k.Key == ConsoleKey.C && (k.Modifiers & ConsoleModifiers.Control) != 0) answerCts.Cancel();
                    }
                }
            }
            thread.Join();
        }
        finally
        {
            if (trapCtrlC) { try { Console.TreatControlCAsInput = oldTreat; } catch (IOException) { } }
        }
        if (stream && (wroteText || interactive) && !endsWithNewline) Host.UI.WriteLine();

        if (_stop.IsCancellationRequested) throw new PipelineStoppedException();
        if (error is not null)
        {
            if (error is OperationCanceledException && interactive)
            {
                Host.UI.WriteLine(ConsoleColor.DarkGray, Host.UI.RawUI.BackgroundColor, "(stopped)");
                return null;
            }
            var rec = Errors.From(error, prompt);
            if (interactive) { WriteError(rec); return null; }
            WriteError(rec);
            return null;
        }
        var r = result!;
        return new IQuantChatResponse
        {
            Prompt = prompt,
            Text = r.Text,
            PromptTokens = r.PromptTokens,
            GeneratedTokens = r.Tokens.Count,
            TokensPerSecond = Math.Round(r.TokensPerSecond, 2),
            PromptTokensPerSecond = Math.Round(r.PromptTokensPerSecond, 2),
            FinishReason = r.FinishReason.ToString(),
            Seed = r.Seed,
            Template = session?.Template.Kind.ToString() ?? "Plain",
            Model = _modelPath,
            Duration = DateTime.UtcNow - started,
        };
    }
}
