using IQuant.Core.Inference;

namespace IQuant.Core.Tests.Inference;

public sealed class ChatTemplateTests
{
    // Signature fragments of the real templates (abridged).
    [Theory]
    [InlineData("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}", ChatTemplateKind.ChatML)]
    [InlineData("{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}", ChatTemplateKind.Llama3)]
    [InlineData("{% if messages[0]['role'] == 'system' %}{% set system_message = '<<SYS>>\\n' + messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}{% endif %}{{ bos_token + '[INST] ' + content + ' [/INST]' }}", ChatTemplateKind.Llama2)]
    [InlineData("{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}", ChatTemplateKind.Mistral)]
    [InlineData("{% for message in messages %}{{'<|' + message['role'] + '|>' + '\\n' + message['content'] + '<|end|>\\n'}}{% endfor %}{{ '<|assistant|>\\n' }}", ChatTemplateKind.Phi3)]
    [InlineData("{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>\\n' + message['content'] + eos_token }}{% endif %}{% endfor %}", ChatTemplateKind.Zephyr)]
    [InlineData("{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}", ChatTemplateKind.Gemma)]
    [InlineData("{{ messages }}", ChatTemplateKind.Plain)]
    [InlineData(null, ChatTemplateKind.Plain)]
    public void DetectsTheFamily(string? template, ChatTemplateKind expected) => Assert.Equal(expected, ChatTemplate.Detect(template));

    private static readonly ChatMessage[] Conversation =
    [
        ChatMessage.System("Be brief."),
        ChatMessage.User("Hi"),
        ChatMessage.Assistant("Hello!"),
        ChatMessage.User("Who are you?"),
    ];

    [Theory]
    [InlineData(ChatTemplateKind.ChatML, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nWho are you?<|im_end|>\n<|im_start|>assistant\n")]
    [InlineData(ChatTemplateKind.Llama3, "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")]
    [InlineData(ChatTemplateKind.Llama2, "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] Who are you? [/INST]")]
    [InlineData(ChatTemplateKind.Mistral, "[INST] Be brief.\n\nHi [/INST]Hello!</s>[INST] Who are you? [/INST]")]
    [InlineData(ChatTemplateKind.Phi3, "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n<|user|>\nWho are you?<|end|>\n<|assistant|>\n")]
    [InlineData(ChatTemplateKind.Zephyr, "<|system|>\nBe brief.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n<|user|>\nWho are you?</s>\n<|assistant|>\n")]
    [InlineData(ChatTemplateKind.Gemma, "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>user\nWho are you?<end_of_turn>\n<start_of_turn>model\n")]
    [InlineData(ChatTemplateKind.Plain, "Be brief.\n\nHiHello!\nWho are you?")]
    public void FormatsAConversation(ChatTemplateKind kind, string expected) =>
        Assert.Equal(expected, new ChatTemplate(kind, null, "</s>").Format(Conversation));

    [Fact]
    public void MistralV7UsesSystemPromptTags()
    {
        var t = new ChatTemplate(ChatTemplateKind.Mistral, "{{ '[SYSTEM_PROMPT]' + system + '[/SYSTEM_PROMPT]' }}{{ '[INST]' + content + '[/INST]' }}", "</s>");
        Assert.Equal("[SYSTEM_PROMPT]Be brief.[/SYSTEM_PROMPT][INST]Hi[/INST]Hello!</s>[INST]Who are you?[/INST]", t.Format(Conversation));
    }
}
