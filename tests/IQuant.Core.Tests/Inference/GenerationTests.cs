using IQuant.Core.Inference;

namespace IQuant.Core.Tests.Inference;

/// <summary>Generation, chat sessions and the tokenizer on the bundled demo model.</summary>
public sealed class GenerationTests
{
    private static readonly Lazy<LlamaModel> s_demo = new(() => LlamaModel.Load(TestPaths.DemoModel));

    [Fact]
    public void GreedyGenerationWritesTheDemoModelsBibleEnglish()
    {
        var m = s_demo.Value;
        using var ctx = new InferenceContext(m, new InferenceOptions { Threads = 2 });
        var gen = new TextGenerator(ctx);
        var prompt = m.Tokenizer.Encode("In the beginning", addBos: true, parseSpecial: true);
        Assert.Equal([1], prompt.Take(1));
        var r = gen.Generate(prompt, new GenerationOptions { MaxTokens = 12, Sampling = SamplingOptions.Greedy });
        Assert.Equal(FinishReason.Length, r.FinishReason);
        Assert.Equal(12, r.Tokens.Count);
        Assert.StartsWith(" of the earth. The earth is", r.Text);
        // the same again, and with another thread count
        using var ctx1 = new InferenceContext(m, new InferenceOptions { Threads = 1 });
        var r1 = new TextGenerator(ctx1).Generate(prompt, new GenerationOptions { MaxTokens = 12, Sampling = SamplingOptions.Greedy });
        Assert.Equal(r.Text, r1.Text);
    }

    [Fact]
    public void SeededSamplingIsReproducible()
    {
        var m = s_demo.Value;
        using var ctx = new InferenceContext(m, new InferenceOptions { Threads = 2, ContextLength = 128 });
        var gen = new TextGenerator(ctx);
        var prompt = m.Tokenizer.Encode("And the LORD said", true, true);
        var o = new GenerationOptions { MaxTokens = 24, Sampling = new SamplingOptions { Seed = 42, Temperature = 1.0f } };
        var a = gen.Generate(prompt, o);
        var b = gen.Generate(prompt, o);
        Assert.Equal(a.Text, b.Text);
        Assert.Equal(42UL, a.Seed);
        var c = gen.Generate(prompt, o with { Sampling = o.Sampling with { Seed = 43 } });
        Assert.NotEqual(a.Text, c.Text);
    }

    [Fact]
    public void AChatTurnReusesTheCachedPrefixAndAnswersAsFromScratch()
    {
        var m = s_demo.Value;
        using var ctx = new InferenceContext(m, new InferenceOptions { Threads = 2, ContextLength = 256 });
        var session = new ChatSession(new TextGenerator(ctx), new ChatTemplate(ChatTemplateKind.Plain), system: "The book of psalms.");
        var o = new GenerationOptions { MaxTokens = 10, Sampling = SamplingOptions.Greedy };
        var first = session.Ask("Praise ye the LORD", o);
        Assert.Equal(first.PromptTokens, first.PromptTokensEvaluated);
        var second = session.Ask("Blessed is the man", o);
        Assert.True(second.PromptTokensEvaluated < second.PromptTokens / 2, $"{second.PromptTokensEvaluated} of {second.PromptTokens} evaluated");
        Assert.Equal(4, session.History.Count);

        using var ctx2 = new InferenceContext(m, new InferenceOptions { Threads = 1, ContextLength = 256 });
        var fresh = new TextGenerator(ctx2).Generate(session.Tokenize([.. session.History.Take(3)]), o);
        Assert.Equal(second.Text, fresh.Text);

        session.Reset();
        Assert.Empty(session.History);
        Assert.Empty(session.Generator.CachedTokens);
    }

    [Fact]
    public void CancellationEndsGenerationWithCancelled()
    {
        var m = s_demo.Value;
        using var ctx = new InferenceContext(m, new InferenceOptions { Threads = 1, ContextLength = 128 });
        using var cts = new CancellationTokenSource();
        int pieces = 0;
        var r = new TextGenerator(ctx).Generate(m.Tokenizer.Encode("In the beginning", true, true),
            new GenerationOptions { MaxTokens = 100, Sampling = SamplingOptions.Greedy },
            _ => { if (++pieces == 3) cts.Cancel(); }, cts.Token);
        Assert.Equal(FinishReason.Cancelled, r.FinishReason);
        Assert.Equal(3, r.Tokens.Count);
    }

    [Fact]
    public void GenerationStopsWhenTheContextIsFull()
    {
        var m = s_demo.Value;
        using var ctx = new InferenceContext(m, new InferenceOptions { Threads = 1, ContextLength = 16 });
        var r = new TextGenerator(ctx).Generate(m.Tokenizer.Encode("In the beginning", true, true),
            new GenerationOptions { MaxTokens = 0, Sampling = SamplingOptions.Greedy });
        Assert.Equal(FinishReason.ContextFull, r.FinishReason);
        Assert.Equal(16 - 4 + 1, r.Tokens.Count);
    }

    [Fact]
    public void TheModelsTokenizerIsTheVocabularysTokenizer()
    {
        var m = s_demo.Value;
        var ids = m.Tokenizer.Encode("Hello world", addBos: true, parseSpecial: false);
        Assert.Equal(1, ids[0]);
        Assert.Equal("Hello world", m.Tokenizer.Decode(ids.Skip(1)));
        Assert.Equal(m.Config.VocabSize, m.Tokenizer.Count);
        Assert.True(m.Tokenizer.IsEog(2));
    }
}

public sealed class TokenTextStreamTests
{
    [Fact]
    public void CharactersSplitOverByteTokensComeOutWhole()
    {
        using var m = LlamaModel.Load(TestPaths.DemoModel);
        var tok = m.Tokenizer;
        const string text = "Grüße 🙂 über 日本";
        var ids = tok.Encode(text, addBos: true, parseSpecial: false);
        Assert.Contains(ids, id => tok.GetAttributes(id).HasFlag(IQuant.Core.Tokenization.LlamaTokenAttributes.Byte));
        var s = new TokenTextStream(tok);
        var parts = ids.Select(s.Append).ToList();
        parts.Add(s.Flush());
        Assert.DoesNotContain(parts, p => p.Contains('\uFFFD'));
        Assert.Equal(" " + text, string.Concat(parts));   // SentencePiece's leading space
        Assert.Equal("", parts[0]);                          // BOS gives no text
    }
}
