@{
    Synopsis    = 'Chats with a llama-family GGUF model (llama, qwen2, qwen3): interactively in a terminal, or one answer per prompt for scripts.'
    Description = @'
Invoke-IQuantChat runs the model with IQuant's own C# engine. Nothing native is loaded. Weights of any type IQuant reads (F16, Q8_0, the K-quants, the IQ*_K and IQ*_KS types) are used in place from the memory-mapped file.

Without -Prompt and without pipeline input, in a terminal, it starts an interactive chat. The conversation history is kept, and earlier turns are reused from the KV cache, so only new text is evaluated. /reset clears the conversation and /exit ends the chat (so do Ctrl+D and an empty input stream). Ctrl+C stops the answer being written; it does not end the session. In this mode nothing goes to the pipeline unless -PassThru is given.

With -Prompt, or prompts from the pipeline, each prompt gets one answer. Each answer starts a fresh conversation (the system message and the cached prefix are reused). The answer streams to the host as it is generated (-NoStream turns that off), and an IQuant.IQuantChatResponse is emitted: Prompt, Text, PromptTokens, GeneratedTokens, TokensPerSecond, FinishReason (Stop, Length, ContextFull, Cancelled), Seed, Template. Here Ctrl+C stops the whole command.

The chat format comes from the model's tokenizer.chat_template. IQuant recognises the common families by their signature strings: ChatML, Llama2, Llama3, Zephyr, Phi3, Gemma and Mistral. It formats the messages itself; Jinja is not run. Special tokens in the formatted text (e.g. <|im_start|>) are parsed as tokens. A model without a known template uses Plain: the messages run on as one text, which suits base models such as the bundled demo model. -Template forces a format. -Raw gives each prompt to the model as is, as a plain completion without template or history.

Loaded models are cached for the session, keyed by full path, file time and size. A script that calls Invoke-IQuantChat in a loop maps the file and builds the tokenizer only once, and it reuses the KV cache allocation.
'@
    Parameters  = @{
        Model         = 'The GGUF model file. Wildcards are allowed if they match exactly one file. For a split model, give the first shard.'
        Prompt        = 'One or more prompts. Each gets one answer and one response object. Accepts pipeline input. Omit it in a terminal to chat interactively.'
        System        = 'A system message put before the conversation (for Plain and Mistral formats it is prepended as text).'
        MaxTokens     = 'The most tokens per answer. Default 512. 0 means until the context is full.'
        Temperature   = 'Sampling temperature. Default 0.8. 0 means greedy decoding: the most likely token every time, deterministic whatever the seed.'
        TopK          = 'Keep only the K most likely tokens before sampling. Default 40. 0 turns it off.'
        TopP          = 'Nucleus sampling: keep the smallest set of tokens whose probability reaches P. Default 0.95. 1 turns it off.'
        MinP          = 'Drop tokens less likely than MinP times the most likely token. Default 0.05. 0 turns it off.'
        RepeatPenalty = 'Penalty for tokens among the last -RepeatLastN tokens, prompt included (llama.cpp --repeat-penalty): positive logits are divided by it, negative ones multiplied. Default 1 (off); 1.1 is a common choice.'
        RepeatLastN   = 'How many recent tokens the repetition penalty looks at. Default 64. -1 means all.'
        Seed          = 'Random seed. The same seed, model, prompt and settings give the same text. Default: a random seed, reported in the response''s Seed property.'
        Raw           = 'Plain completion: each prompt goes to the model as is (BOS added as the model says), with no chat template and no history.'
        Template      = 'Force a chat format instead of the one detected from the model: Plain, ChatML, Llama2, Llama3, Zephyr, Phi3, Gemma or Mistral.'
        Context       = 'The context length in tokens: the size of the KV cache, which holds the prompt, the history and the answer. Default: the model''s training context, capped at 8192. Older turns are dropped when a conversation outgrows it.'
        ThrottleLimit = 'The number of compute threads. Default: all logical processors.'
        KvCacheType   = 'The element type of the KV cache: F16 (default, as llama.cpp) or F32.'
        NoStream      = 'Do not write the answer to the host while it is generated. The response object still carries the text. Useful in logs.'
        PassThru      = 'In interactive mode, also emit an IQuantChatResponse for each answer.'
    }
    Examples    = @(
        @{ Title = 'Chat in the terminal'; Code = 'Invoke-IQuantChat -Model .\model-IQ4_KS.gguf'; Remarks = 'Type messages at the > prompt. /reset clears the history, /exit ends the chat, and Ctrl+C stops an answer.' }
        @{ Title = 'One answer, for a script'; Code = "`$r = Invoke-IQuantChat model.gguf -Prompt 'Name three rivers.' -Temperature 0 -NoStream`n`$r.Text"; Remarks = 'Temperature 0 is greedy and gives the same text every run.' }
        @{ Title = 'Many prompts from the pipeline'; Code = "Get-Content questions.txt | Invoke-IQuantChat model.gguf -System 'Answer in one sentence.' -MaxTokens 64 | Select-Object Prompt, Text, TokensPerSecond"; Remarks = 'The model is loaded once for the whole pipeline, and for later calls in the same session.' }
        @{ Title = 'Plain completion with the bundled demo model'; Code = "Invoke-IQuantChat models/iquant-demo-f16.gguf -Raw -Prompt 'In the beginning' -MaxTokens 40 -Seed 42"; Remarks = 'The demo model is a base model that writes Bible-flavoured English. It has no chat template.' }
    )
    Links       = @('Measure-IQuantPerplexity', 'Get-IQuantToken', 'Get-GgufModel')
}
