using System.Text;

namespace IQuant.Core.Inference;

/// <summary>Chat prompt formats IQuant writes itself (no Jinja): the common families llama.cpp also hard-codes.</summary>
public enum ChatTemplateKind
{
    /// <summary>No template: system text, then the messages as one running text (for base models).</summary>
    Plain,
    /// <summary>&lt;|im_start|&gt;role\n...&lt;|im_end|&gt; (Qwen, SmolLM, many fine-tunes).</summary>
    ChatML,
    /// <summary>[INST] &lt;&lt;SYS&gt;&gt; ... [/INST] (Llama 2 chat).</summary>
    Llama2,
    /// <summary>&lt;|start_header_id|&gt;role&lt;|end_header_id|&gt;\n\n...&lt;|eot_id|&gt; (Llama 3.x).</summary>
    Llama3,
    /// <summary>&lt;|user|&gt;\n...&lt;/s&gt; (Zephyr, TinyLlama chat).</summary>
    Zephyr,
    /// <summary>&lt;|user|&gt;\n...&lt;|end|&gt; (Phi-3).</summary>
    Phi3,
    /// <summary>&lt;start_of_turn&gt;user\n...&lt;end_of_turn&gt; (Gemma).</summary>
    Gemma,
    /// <summary>[INST] ... [/INST] without &lt;&lt;SYS&gt;&gt; (Mistral Instruct; v7 with [SYSTEM_PROMPT]).</summary>
    Mistral,
}

/// <summary>One message of a conversation.</summary>
/// <param name="Role">system, user or assistant.</param>
/// <param name="Content">The text.</param>
public sealed record ChatMessage(string Role, string Content)
{
    /// <summary>A system message.</summary>
    public static ChatMessage System(string text) => new("system", text);
    /// <summary>A user message.</summary>
    public static ChatMessage User(string text) => new("user", text);
    /// <summary>An assistant message.</summary>
    public static ChatMessage Assistant(string text) => new("assistant", text);
}

/// <summary>
/// A chat format: detected from a model's <c>tokenizer.chat_template</c> by signature substrings (as llama.cpp's
/// <c>llm_chat_detect_template</c> does) or forced, and applied by IQuant's own formatter. The output contains the
/// format's special tokens as text; tokenize it with parseSpecial = true. BOS is not written: the tokenizer adds it
/// when the model says so.
/// </summary>
public sealed class ChatTemplate
{
    private readonly string _eosText;
    private readonly bool _mistralV7;
    private readonly bool _mistralSpaces;

    /// <summary>Creates a format of <paramref name="kind"/>; <paramref name="source"/> (the Jinja text, optional) refines
    /// variants (Mistral v7, Zephyr's end token); <paramref name="eosText"/> is the model's EOS token text.</summary>
    public ChatTemplate(ChatTemplateKind kind, string? source = null, string? eosText = null)
    {
        Kind = kind;
        Source = source;
        string s = source ?? "";
        _eosText = kind == ChatTemplateKind.Zephyr && s.Contains("<|endoftext|>", StringComparison.Ordinal) ? "<|endoftext|>" : eosText ?? "</s>";
        _mistralV7 = s.Contains("[SYSTEM_PROMPT]", StringComparison.Ordinal);
        _mistralSpaces = !s.Contains("[INST]' + ", StringComparison.Ordinal) && !s.Contains("\"[INST]\" + ", StringComparison.Ordinal);
    }

    /// <summary>The family.</summary>
    public ChatTemplateKind Kind { get; }

    /// <summary>The template text it was detected from, if any.</summary>
    public string? Source { get; }

    /// <summary>The family of a Jinja chat template by its signature substrings; <see cref="ChatTemplateKind.Plain"/>
    /// when null, empty or unrecognised.</summary>
    public static ChatTemplateKind Detect(string? template)
    {
        if (string.IsNullOrEmpty(template)) return ChatTemplateKind.Plain;
        bool Has(string s) => template.Contains(s, StringComparison.Ordinal);
        if (Has("<|im_start|>")) return ChatTemplateKind.ChatML;
        if (Has("[INST]")) return Has("<<SYS>>") ? ChatTemplateKind.Llama2 : ChatTemplateKind.Mistral;
        if (Has("<|assistant|>") && Has("<|end|>")) return ChatTemplateKind.Phi3;
        if (Has("<|user|>")) return ChatTemplateKind.Zephyr;
        if (Has("<start_of_turn>")) return ChatTemplateKind.Gemma;
        if (Has("<|start_header_id|>") && Has("<|end_header_id|>")) return ChatTemplateKind.Llama3;
        return ChatTemplateKind.Plain;
    }

    /// <summary>The format for a model's template text (detected) and EOS text.</summary>
    public static ChatTemplate FromModel(string? template, string? eosText) => new(Detect(template), template, eosText);

    /// <summary>Formats <paramref name="messages"/>; with <paramref name="addAssistantPrefix"/> the text ends where the
    /// assistant's answer begins.</summary>
    public string Format(IReadOnlyList<ChatMessage> messages, bool addAssistantPrefix = true)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var sb = new StringBuilder();
        switch (Kind)
        {
            case ChatTemplateKind.ChatML:
                foreach (var m in messages) sb.Append("<|im_start|>").Append(m.Role).Append('\n').Append(m.Content).Append("<|im_end|>\n");
                if (addAssistantPrefix) sb.Append("<|im_start|>assistant\n");
                break;

            case ChatTemplateKind.Llama3:
                foreach (var m in messages)
                    sb.Append("<|start_header_id|>").Append(m.Role).Append("<|end_header_id|>\n\n").Append(m.Content.Trim()).Append("<|eot_id|>");
                if (addAssistantPrefix) sb.Append("<|start_header_id|>assistant<|end_header_id|>\n\n");
                break;

            case ChatTemplateKind.Phi3:
                foreach (var m in messages) sb.Append("<|").Append(m.Role).Append("|>\n").Append(m.Content).Append("<|end|>\n");
                if (addAssistantPrefix) sb.Append("<|assistant|>\n");
                break;

            case ChatTemplateKind.Zephyr:
                foreach (var m in messages) sb.Append("<|").Append(m.Role).Append("|>\n").Append(m.Content).Append(_eosText).Append('\n');
                if (addAssistantPrefix) sb.Append("<|assistant|>\n");
                break;

            case ChatTemplateKind.Gemma:
            {
                string? pendingSystem = null;
                foreach (var m in messages)
                {
                    if (m.Role == "system") { pendingSystem = pendingSystem is null ? m.Content : pendingSystem + "\n\n" + m.Content; continue; }
                    string role = m.Role == "assistant" ? "model" : m.Role;
                    sb.Append("<start_of_turn>").Append(role).Append('\n');
                    if (pendingSystem is not null && m.Role == "user") { sb.Append(pendingSystem).Append("\n\n"); pendingSystem = null; }
                    sb.Append(m.Content.Trim()).Append("<end_of_turn>\n");
                }
                if (addAssistantPrefix) sb.Append("<start_of_turn>model\n");
                break;
            }

            case ChatTemplateKind.Llama2:
            {
                // HF Llama-2-chat: [INST] <<SYS>>\n{sys}\n<</SYS>>\n\n{user} [/INST] {answer} </s><s>[INST] ...
                string? system = null;
                bool firstTurn = true;
                foreach (var m in messages)
                {
                    if (m.Role == "system") { system = m.Content.Trim(); continue; }
                    if (m.Role == "user")
                    {
                        if (!firstTurn) sb.Append("<s>");
                        sb.Append("[INST] ");
                        if (system is not null) { sb.Append("<<SYS>>\n").Append(system).Append("\n<</SYS>>\n\n"); system = null; }
                        sb.Append(m.Content.Trim()).Append(" [/INST]");
                        firstTurn = false;
                    }
                    else sb.Append(' ').Append(m.Content.Trim()).Append(" </s>");
                }
                break;
            }

            case ChatTemplateKind.Mistral:
            {
                string? system = null;
                foreach (var m in messages)
                {
                    if (m.Role == "system")
                    {
                        if (_mistralV7) sb.Append("[SYSTEM_PROMPT]").Append(m.Content).Append("[/SYSTEM_PROMPT]");
                        else system = m.Content.Trim();
                        continue;
                    }
                    if (m.Role == "user")
                    {
                        string content = system is null ? m.Content.Trim() : system + "\n\n" + m.Content.Trim();
                        system = null;
                        if (_mistralV7 || !_mistralSpaces) sb.Append("[INST]").Append(content).Append("[/INST]");
                        else sb.Append("[INST] ").Append(content).Append(" [/INST]");
                    }
                    else sb.Append(m.Content.Trim()).Append(_eosText);
                }
                break;
            }

            default: // Plain
            {
                bool any = false;
                foreach (var m in messages)
                {
                    if (m.Role == "system") { sb.Append(m.Content).Append("\n\n"); continue; }
                    if (m.Role == "user" && any) sb.Append('\n');
                    sb.Append(m.Content);
                    any = true;
                }
                break;
            }
        }
        return sb.ToString();
    }

    /// <summary>Whether answers in this format are separated from the prompt by the format itself (so leading
    /// whitespace of an answer is noise and trimmed).</summary>
    public bool TrimsAnswer => Kind != ChatTemplateKind.Plain;
}
