using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using IQuant.Core.Gguf;
using IQuant.Core.Inference;
using IQuant.Core.Quantization;
using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Core.Calibration;

/// <summary>Settings of an automatic mix.</summary>
public sealed record MixSettings
{
    /// <summary>The default candidate types (IQ2_KS … Q8_0).</summary>
    public static readonly IReadOnlyList<GgmlType> DefaultCandidates =
    [
        GgmlType.IQ2_KS, GgmlType.IQ2_K, GgmlType.IQ2_KL, GgmlType.IQ3_KS, GgmlType.IQ3_K, GgmlType.IQ4_KSS, GgmlType.IQ4_KS,
        GgmlType.IQ4_K, GgmlType.IQ5_KS, GgmlType.IQ5_K, GgmlType.IQ6_K, GgmlType.Q6_K, GgmlType.Q8_0,
    ];

    /// <summary>Types a tensor may get (each subject to the row-length fallback of spec §8.3).</summary>
    public IReadOnlyList<GgmlType> Candidates { get; init; } = DefaultCandidates;
    /// <summary>Threads for quantization and evaluation; 0 = all cores.</summary>
    public int Threads { get; init; }
    /// <summary>Measure at most this many rows per tensor (an even sample); 0 = all.</summary>
    public int MaxMeasureRows { get; init; } = 4096;
    /// <summary>Fixed types by tensor-name regex (first match wins), as ConvertTo-IQuant -TensorType.</summary>
    public IReadOnlyList<(Regex Pattern, GgmlType Type)> Pins { get; init; } = [];
    /// <summary>Fixed type of output.weight.</summary>
    public GgmlType? OutputTensorType { get; init; }
    /// <summary>Fixed type of token_embd.weight.</summary>
    public GgmlType? TokenEmbeddingType { get; init; }
    /// <summary>Copy output.weight unchanged.</summary>
    public bool LeaveOutputTensor { get; init; }
    /// <summary>Allow quantized source tensors (they are dequantized first).</summary>
    public bool AllowRequantize { get; init; }
}

/// <summary>Calibration text for sensitivity probes.</summary>
public sealed record MixCalibration
{
    /// <summary>The tokenized calibration text (BOS first when the model adds one); empty with <see cref="Generated"/>.</summary>
    public required IReadOnlyList<int> Tokens { get; init; }
    /// <summary>
    /// Probe on text sampled from the source model (<see cref="GeneratedCalibration"/>, <see cref="Chunks"/> chunks of
    /// <see cref="Context"/> tokens with <see cref="Seed"/>) instead of <see cref="Tokens"/>.
    /// </summary>
    public bool Generated { get; init; }
    /// <summary>
    /// Chunks of the calibration text (taken evenly across it) for the type calibration: the whole model is quantized
    /// to each candidate type and its KL-divergence and perplexity change measured, which gives each type's perplexity
    /// cost per unit of KL-divergence (<see cref="MixPlanner.TypeFactors"/>). 0 = off; not made for generated text
    /// (the model's own samples make the two equal in expectation).
    /// </summary>
    public int TypeChunks { get; init; } = 64;
    /// <summary>Sampler seed of <see cref="Generated"/> text.</summary>
    public ulong Seed { get; init; } = GeneratedCalibration.DefaultSeed;
    /// <summary>Identifies the text in the analysis key (e.g. a content hash).</summary>
    public required string TextId { get; init; }
    /// <summary>Chunks evaluated per probe.</summary>
    public int Chunks { get; init; } = 4;
    /// <summary>Chunk length.</summary>
    public int Context { get; init; } = 512;
    /// <summary>Types each tensor is probed at; default <see cref="MixPlanner.DefaultProbeTypes"/>.</summary>
    public IReadOnlyList<GgmlType>? ProbeTypes { get; init; }
    /// <summary>
    /// Probe every candidate of the tensors that have no imatrix entry (output.weight, token_embd.weight): their
    /// error measure (norm-gain or uniform weights) ranks types less reliably than an imatrix does — e.g. Q6_K beats
    /// IQ6_K on a model's output tensor although its weighted error is larger — and they are the most sensitive tensors.
    /// </summary>
    public bool ProbeAllTypesWithoutImatrix { get; init; } = true;
    /// <summary>Folder for the temporary probe models and reference logits; default the system temp folder.</summary>
    public string? WorkDirectory { get; init; }
}

/// <summary>A budget: bits per weight over all tensor data, or a file size.</summary>
public readonly record struct MixBudget(double Value, bool IsFileSize)
{
    /// <summary>Average bits per weight over all tensors (as IQuantFileResult.Bpw reports it).</summary>
    public static MixBudget Bpw(double bpw) => new(bpw, false);
    /// <summary>Size of the output file in bytes (header, metadata and alignment included).</summary>
    public static MixBudget FileSize(long bytes) => new(bytes, true);
    /// <inheritdoc/>
    public override string ToString() => IsFileSize ? $"{(long)Value} bytes" : $"{Value:0.###} bpw";
}

/// <summary>Progress of the analysis.</summary>
public readonly record struct MixProgress(string Phase, int Step, int Steps, string Item);

/// <summary>A solved mix.</summary>
public sealed record MixPlan
{
    /// <summary>One item per source tensor, for <see cref="ModelQuantizer.Run"/>; Reason explains each choice.</summary>
    public required List<TensorPlanItem> Items { get; init; }
    /// <summary>Total tensor bytes of the plan.</summary>
    public required long TensorBytes { get; init; }
    /// <summary>The output file size (header, metadata and alignment included) for the given metadata.</summary>
    public required long FileSize { get; init; }
    /// <summary>The budget in tensor bytes the solver worked with (all tensors).</summary>
    public required long BudgetTensorBytes { get; init; }
    /// <summary>Predicted total loss (mean KLD on the calibration text with probes; relative units without).</summary>
    public required double PredictedLoss { get; init; }
    /// <summary>Predicted loss saved per extra byte at the budget (the solver's Lagrange multiplier).</summary>
    public required double Lambda { get; init; }
    /// <summary>"dp" or "greedy".</summary>
    public required string Method { get; init; }
    /// <summary>general.file_type to record: the ftype of the type holding most bytes, or <see cref="LlamaFileType.Guessed"/>.</summary>
    public required LlamaFileType FileType { get; init; }
    /// <summary>Bits per weight over all tensor data.</summary>
    public required double Bpw { get; init; }
}

/// <summary>Thrown when a mix cannot be planned (budget too small, nothing to quantize, model not runnable for probes).</summary>
public sealed class MixPlanException(string errorId, string message) : Exception(message)
{
    /// <summary>Stable id for PowerShell ErrorRecords.</summary>
    public string ErrorId { get; } = errorId;
}

/// <summary>
/// Automatic mixes: choose a type per quantizable tensor so that the file meets a budget and the predicted loss is
/// minimal. (1) <see cref="Analyze"/> measures every tensor × candidate type (bytes, importance-weighted relative
/// error) and, given calibration text, probes each tensor's sensitivity: the mean KL-divergence against the source
/// model on a few calibration chunks with only that tensor quantized. (2) <see cref="Plan"/> turns errors into
/// predicted loss — with probes a power law through the probe points (loss = K·(E/E_probe)^b), without them a prior
/// per tensor class × error — and solves the multiple-choice knapsack with <see cref="MixSolver"/>.
/// The types are written with exactly the codecs and importance weights llama-quantize would use for them, so the
/// result equals <c>llama-quantize --custom-q</c> with the chosen types.
/// </summary>
public static class MixPlanner
{
    private const int AnalysisVersion = 1;

    /// <summary>True when llama-quantize would quantize the tensor (spec §8.1) under the mix settings.</summary>
    public static bool IsQuantizable(GgufTensorInfo t, MixSettings s) =>
        Recipe.IsQuantizable(new RecipeTensor(t.Name, t.Shape, t.Type), new RecipeOptions { LeaveOutputTensor = s.LeaveOutputTensor });

    /// <summary>The pinned type of a tensor (pins, -OutputTensorType, -TokenEmbeddingType), or null.</summary>
    public static (GgmlType Type, string Reason)? PinOf(GgufFile f, GgufTensorInfo t, MixSettings s)
    {
        foreach (var (rx, type) in s.Pins)
            if (rx.IsMatch(t.Name)) return (type, $"pinned by -TensorType '{rx}'");
        bool hasOutput = f.FindTensor("output.weight") is not null;
        if (s.OutputTensorType is { } ot && (t.Name == "output.weight" || (!hasOutput && t.Name == "token_embd.weight"))) return (ot, "pinned by -OutputTensorType");
        if (s.TokenEmbeddingType is { } te && t.Name == "token_embd.weight") return (te, "pinned by -TokenEmbeddingType");
        return null;
    }

    /// <summary>The candidate types that apply to a tensor: each candidate or its row-length fallback, distinct.</summary>
    public static List<GgmlType> CandidatesFor(GgufTensorInfo t, MixSettings s)
    {
        var list = new List<GgmlType>();
        foreach (var c in s.Candidates)
        {
            GgmlType ty;
            try { ty = Recipe.Fallback(c, t.RowLength); } catch (ArgumentException) { continue; }
            if (!list.Contains(ty) && Codecs.CanQuantize(ty)) list.Add(ty);
        }
        return list;
    }

    /// <summary>The key identifying an analysis of these inputs.</summary>
    public static string AnalysisKey(GgufFile f, ImatrixFile? imatrix, MixSettings s, MixCalibration? cal)
    {
        var sb = new StringBuilder();
        sb.Append("v").Append(AnalysisVersion).Append('|');
        foreach (var p in f.ShardPaths)
        {
            var fi = new FileInfo(p);
            sb.Append(fi.FullName).Append(':').Append(fi.Length).Append(':').Append(fi.LastWriteTimeUtc.Ticks).Append('|');
        }
        if (imatrix is not null)
        {
            var fi = new FileInfo(imatrix.Path);
            sb.Append("im:").Append(fi.FullName).Append(':').Append(fi.Exists ? fi.Length : 0).Append(':').Append(fi.Exists ? fi.LastWriteTimeUtc.Ticks : 0)
              .Append(':').Append(imatrix.Entries.Count).Append('|');
        }
        sb.Append(string.Join(",", s.Candidates)).Append('|').Append(s.MaxMeasureRows).Append('|').Append(s.LeaveOutputTensor).Append('|');
        // Pins decide which tensors are analysed.
        foreach (var (rx, ty) in s.Pins) sb.Append("pin:").Append(rx).Append('=').Append(ty).Append('|');
        sb.Append(s.OutputTensorType).Append('|').Append(s.TokenEmbeddingType).Append('|');
        if (cal is not null)
            sb.Append("cal-spread:").Append(cal.Generated ? $"generated:{cal.Seed}" : cal.TextId).Append(':').Append(cal.Chunks).Append(':').Append(cal.Context).Append(':')
              .Append(string.Join(",", cal.ProbeTypes ?? [])).Append(':').Append(cal.ProbeAllTypesWithoutImatrix)
              .Append(":types:").Append(cal.Generated ? 0 : cal.TypeChunks).Append('|');
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())))[..32];
    }

    /// <summary>
    /// Prior sensitivity of a tensor (predicted loss per unit of weighted relative error) when no calibration is given:
    /// by tensor class, from probes of a llama model (output and token embedding far more sensitive than the blocks;
    /// ffn_down and attn_v more than attn_q/attn_k), deliberately moderated.
    /// </summary>
    public static double PriorSensitivity(string name)
    {
        if (name == "output.weight") return 100;
        if (name == "token_embd.weight") return 10;
        if (name.Contains("ffn_down", StringComparison.Ordinal)) return 4;
        if (name.Contains("attn_v", StringComparison.Ordinal)) return 3;
        if (name.Contains("ffn_gate", StringComparison.Ordinal) || name.Contains("ffn_up", StringComparison.Ordinal)) return 2;
        if (name.Contains("attn_output", StringComparison.Ordinal)) return 2;
        return 1;
    }

    /// <summary>
    /// Measures every quantizable, non-pinned tensor of <paramref name="file"/> against the candidate types and, with
    /// <paramref name="calibration"/>, probes its sensitivity (the model must then be runnable by IQuant's engine).
    /// </summary>
    public static MixAnalysis Analyze(GgufFile file, ImatrixFile? imatrix, MixSettings settings, MixCalibration? calibration = null,
        IProgress<MixProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(settings);
        var targets = file.Tensors.Where(t => IsQuantizable(t, settings) && PinOf(file, t, settings) is null).ToList();
        if (targets.Count == 0) throw new MixPlanException("NothingToMix", $"'{file.Path}' has no quantizable tensor left to choose a type for.");
        var tensors = new List<MixTensorAnalysis>(targets.Count);
        for (int i = 0; i < targets.Count; i++)
        {
            cancel.ThrowIfCancellationRequested();
            var t = targets[i];
            progress?.Report(new MixProgress("Measuring", i, targets.Count, t.Name));
            tensors.Add(MeasureTensor(file, t, imatrix, settings, cancel));
        }
        progress?.Report(new MixProgress("Measuring", targets.Count, targets.Count, ""));
        var key = AnalysisKey(file, imatrix, settings, calibration);
        if (calibration is null)
            return new MixAnalysis { Key = key, Tensors = tensors, Sensitivity = "prior" };
        var typeMeasures = new Dictionary<GgmlType, MixTypeMeasure>();
        int scored = Probe(file, imatrix, settings, calibration, tensors, typeMeasures, progress, cancel);
        return new MixAnalysis
        {
            Key = key, Tensors = tensors, Sensitivity = "probes", CalibrationChunks = calibration.Chunks, CalibrationTokens = scored,
            TypeMeasures = typeMeasures,
        };
    }

    /// <summary>Error weights per column for a tensor, and where they came from.</summary>
    internal static (float[]? Weights, string Source) ErrorWeights(GgufFile f, GgufTensorInfo t, ImatrixFile? imatrix)
    {
        if (imatrix?.FindFor(t.Name) is { } e && e.Values.Length == t.RowLength * (t.Shape.Length >= 3 ? t.Shape[2] : 1))
            return (e.Weights(), "imatrix");
        string? norm = null;
        var m = Regex.Match(t.Name, @"^(blk\.\d+\.)(attn_q|attn_k|attn_v|attn_qkv|ffn_gate|ffn_up|ffn_gate_exps|ffn_up_exps)\.weight$");
        if (m.Success) norm = m.Groups[1].Value + (m.Groups[2].Value.StartsWith("attn", StringComparison.Ordinal) ? "attn_norm.weight" : "ffn_norm.weight");
        else if (t.Name == "output.weight") norm = "output_norm.weight";
        if (norm is not null && f.FindTensor(norm) is { } nt && nt.Elements == t.RowLength && Codecs.CanDequantize(nt.Type))
        {
            var g = new float[nt.Elements];
            RowQuantizer.Dequantize(Codecs.Get(nt.Type), f.GetTensorBytes(nt), (int)nt.Elements, g, 1);
            for (int i = 0; i < g.Length; i++) g[i] *= g[i];
            long experts = t.Shape.Length >= 3 ? t.Shape[2] : 1;
            var w = new float[t.RowLength * experts];
            for (long x = 0; x < experts; x++) g.CopyTo(w, x * t.RowLength);
            var parts = norm.Split('.');
            return (w, parts[^2] + "²");
        }
        return (null, "uniform");
    }

    private static unsafe MixTensorAnalysis MeasureTensor(GgufFile f, GgufTensorInfo t, ImatrixFile? imatrix, MixSettings s, CancellationToken ct)
    {
        var types = CandidatesFor(t, s);
        if (types.Count == 0)
            throw new MixPlanException("NoCandidateFits", $"Tensor '{t.Name}' (rows of {t.RowLength}) fits none of the candidate types.");
        if (!Codecs.CanDequantize(t.Type))
            throw new MixPlanException("SourceTypeNotSupported", $"Tensor '{t.Name}' is stored as {t.TypeInfo?.DisplayName ?? "type " + t.TypeId}, which IQuant cannot read.");
        if (t.TypeInfo!.Kind != TypeKind.Float && !s.AllowRequantize)
            throw new MixPlanException("RequantizeNotAllowed", $"Tensor '{t.Name}' is already quantized ({t.TypeInfo.DisplayName}); use -AllowRequantize.");
        var quantWeights = QuantizePlanner.ImatrixFor(t, imatrix, null);
        var (errWeights, source) = ErrorWeights(f, t, imatrix);
        var src = Codecs.Get(t.Type);
        int ne0 = checked((int)t.RowLength);
        long rows = t.Rows;
        long rowsPerExpert = t.Shape.Length >= 2 ? t.Shape[1] : 1;
        long stride = s.MaxMeasureRows > 0 ? Math.Max(1, (rows + s.MaxMeasureRows - 1) / s.MaxMeasureRows) : 1;
        int chunkRows = (int)Math.Clamp((1 << 20) / ne0, 1, Math.Max(1, rows));
        var x = new float[(long)chunkRows * ne0];
        var y = new float[x.Length];
        var q = new byte[chunkRows * types.Max(ty => TypeTable.Get(ty).RowSize(ne0))];
        var num = new double[types.Count];
        double den = 0;
        long measured = 0;
        int srcRowBytes = checked((int)t.RowSize);
        byte* basePtr = f.GetTensorPointer(t);
        var codecs = types.Select(Codecs.Get).ToArray();
        long r = 0;
        while (r < rows)
        {
            ct.ThrowIfCancellationRequested();
            long expert = r / rowsPerExpert;
            int n = 0;
            for (; r < rows && n < chunkRows && r / rowsPerExpert == expert; r += stride)
            {
                RowQuantizer.Dequantize(src, new ReadOnlySpan<byte>(basePtr + r * srcRowBytes, srcRowBytes), ne0, x.AsSpan(n * ne0, ne0), 1, ct);
                n++;
            }
            if (n == 0) continue;
            measured += n;
            var xs = x.AsSpan(0, n * ne0);
            int ex = (int)expert;
            ReadOnlySpan<float> qw = quantWeights is null ? default : quantWeights.AsSpan((ex % Math.Max(1, quantWeights.Length / ne0)) * ne0, ne0);
            ReadOnlySpan<float> ew = errWeights is null ? default : errWeights.AsSpan((ex % Math.Max(1, errWeights.Length / ne0)) * ne0, ne0);
            for (int i = 0; i < xs.Length; i++)
            {
                double a = xs[i];
                den += (ew.IsEmpty ? 1.0 : ew[i % ne0]) * a * a;
            }
            for (int k = 0; k < codecs.Length; k++)
            {
                int rb = checked((int)codecs[k].Info.RowSize(ne0));
                var qs = q.AsSpan(0, n * rb);
                RowQuantizer.Quantize(codecs[k], xs, ne0, qw, qs, s.Threads, ct);
                var ys = y.AsSpan(0, n * ne0);
                RowQuantizer.Dequantize(codecs[k], qs, ne0, ys, s.Threads, ct);
                double acc = 0;
                for (int i = 0; i < xs.Length; i++)
                {
                    double d = ys[i] - (double)xs[i];
                    acc += (ew.IsEmpty ? 1.0 : ew[i % ne0]) * d * d;
                }
                num[k] += acc;
            }
        }
        var cands = new List<MixCandidateMeasure>(types.Count);
        for (int k = 0; k < types.Count; k++)
            cands.Add(new MixCandidateMeasure { Type = types[k], Bytes = TypeTable.Get(types[k]).RowSize(ne0) * rows, Error = den > 0 ? num[k] / den : 0 });
        return new MixTensorAnalysis
        {
            Name = t.Name, Elements = t.Elements, ErrorWeights = source, MeasuredRows = measured, Candidates = cands,
            PriorSensitivity = PriorSensitivity(t.Name),
        };
    }

    /// <summary>
    /// The default probe types: the smallest candidate, the candidates nearest 4.5 and 6.5 bpw, and the largest
    /// (distinct). Several points matter: the loss is not one power of the weight error, because the activations
    /// are quantized too (Q8_K for the IQ*_K types, Q8_0 for Q8_0), which sets a floor that weight precision alone
    /// does not remove — most visibly for ffn_down and attn_output.
    /// </summary>
    public static List<GgmlType> DefaultProbeTypes(IReadOnlyList<GgmlType> candidates)
    {
        var byBpw = candidates.Distinct().OrderBy(c => TypeTable.Get(c).Bpw).ToList();
        if (byBpw.Count == 0) return [];
        var list = new List<GgmlType> { byBpw[0] };
        foreach (double target in new[] { 4.5, 6.5 })
        {
            var t = byBpw.OrderBy(c => Math.Abs(TypeTable.Get(c).Bpw - target)).First();
            if (!list.Contains(t)) list.Add(t);
        }
        if (!list.Contains(byBpw[^1])) list.Add(byBpw[^1]);
        return list;
    }

    private static int Probe(GgufFile f, ImatrixFile? imatrix, MixSettings s, MixCalibration cal, List<MixTensorAnalysis> tensors,
        Dictionary<GgmlType, MixTypeMeasure> typeMeasures, IProgress<MixProgress>? progress, CancellationToken ct)
    {
        var probeTypes = (cal.ProbeTypes is { Count: > 0 } pt ? pt : DefaultProbeTypes(s.Candidates)).ToList();
        string dir = cal.WorkDirectory ?? Path.Combine(Path.GetTempPath(), "IQuant");
        Directory.CreateDirectory(dir);
        string stem = Path.Combine(dir, $"probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
        string refPath = stem + ".logits", probePath = stem + ".gguf", typeRefPath = stem + "-types.logits";
        try
        {
            LlamaModel source;
            try { source = LlamaModel.Load(f); }
            catch (Exception ex) when (ex is NotSupportedException or FormatException)
            {
                throw new MixPlanException("ModelNotRunnable", $"Sensitivity probes need a model IQuant can run: {ex.Message}");
            }
            LogitsBaseFile reference;
            var tok = source.Tokenizer;
            using (source)
            {
                int nCtx = cal.Context;
                if (!cal.Generated && cal.Tokens.Count < 2 * nCtx)
                    throw new MixPlanException("CalibrationTooShort", $"The calibration text has {cal.Tokens.Count} tokens; probes with a context of {nCtx} need at least {2 * nCtx}.");
                using var ctx = new InferenceContext(source, new InferenceOptions { ContextLength = nCtx, Threads = s.Threads });
                progress?.Report(new MixProgress("Reference", 0, 1, "source model"));
                var text = cal.Generated
                    ? GeneratedCalibration.Generate(source, Math.Max(cal.Chunks, 2), nCtx, cal.Seed, s.Threads, progress, ct)
                    : SpreadChunks(cal.Tokens, nCtx, Math.Max(cal.Chunks, 2));      // llama-perplexity needs two chunks of text
                KlDivergence.WriteReference(ctx, text, nCtx, cal.Chunks, tok.AddBosDefault, tok.BosId, refPath, cancel: ct);
                reference = LogitsBaseFile.ReadHeader(refPath);
            }
            var byName = f.Tensors.ToDictionary(t => t.Name);
            List<GgmlType> TypesFor(MixTensorAnalysis ta) =>
                cal.ProbeAllTypesWithoutImatrix && ta.ErrorWeights != "imatrix"
                    ? [.. probeTypes, .. ta.Candidates.Select(c => c.Type).Where(c => !probeTypes.Contains(c))]
                    : probeTypes;
            int steps = tensors.Sum(ta => TypesFor(ta).Count), step = 0;
            var qs = new QuantizeSettings { Threads = s.Threads, Overwrite = true, MeasureError = false, AllowRequantize = s.AllowRequantize };
            var md = ModelQuantizer.BuildMetadata(f.Metadata, null, null);
            foreach (var ta in tensors)
            {
                var t = byName[ta.Name];
                foreach (var p in TypesFor(ta))
                {
                    ct.ThrowIfCancellationRequested();
                    progress?.Report(new MixProgress("Probing", step++, steps, $"{ta.Name} as {p}"));
                    GgmlType ty;
                    try { ty = Recipe.Fallback(p, t.RowLength); } catch (ArgumentException) { continue; }
                    if (ta.Probes.ContainsKey(ty)) continue;
                    var plan = f.Tensors.Select(x => x.Name == t.Name
                        ? new TensorPlanItem(x, ty, true, "probe", QuantizePlanner.ImatrixFor(x, imatrix, null))
                        : new TensorPlanItem(x, x.Type, false, "copy")).ToList();
                    ModelQuantizer.Run(f, plan, md, probePath, qs, cancellationToken: ct);
                    using var m = LlamaModel.Load(probePath);
                    using var c = new InferenceContext(m, new InferenceOptions { ContextLength = reference.Context, Threads = s.Threads });
                    var r = KlDivergence.Compare(c, reference, tok.AddBosDefault, tok.BosId, 0, cancel: ct);
                    ta.Probes[ty] = Math.Max(r.MeanKld, 1e-12);
                }
            }
            progress?.Report(new MixProgress("Probing", steps, steps, ""));
            if (!cal.Generated && cal.TypeChunks > 0)
                CalibrateTypes(f, imatrix, s, cal, tensors, typeRefPath, probePath, typeMeasures, progress, ct);
            return reference.Chunks * LogitsBaseFile.ScoredPerChunk(reference.Context);
        }
        finally
        {
            foreach (var p in new[] { refPath, probePath, typeRefPath })
                try { if (File.Exists(p)) File.Delete(p); } catch (IOException) { }
        }
    }

    /// <summary>
    /// Type calibration: for each candidate type, every analysed tensor quantized to it (the rest copied), then the mean
    /// KL-divergence and ln(PPL_Q/PPL_source) against the source on <see cref="MixCalibration.TypeChunks"/> chunks.
    /// </summary>
    private static void CalibrateTypes(GgufFile f, ImatrixFile? imatrix, MixSettings s, MixCalibration cal, List<MixTensorAnalysis> tensors,
        string refPath, string modelPath, Dictionary<GgmlType, MixTypeMeasure> typeMeasures, IProgress<MixProgress>? progress, CancellationToken ct)
    {
        int nCtx = cal.Context;
        if (cal.Tokens.Count < 2 * nCtx) return;
        LogitsBaseFile reference;
        using (var source = LlamaModel.Load(f))
        using (var ctx = new InferenceContext(source, new InferenceOptions { ContextLength = nCtx, Threads = s.Threads }))
        {
            progress?.Report(new MixProgress("Type calibration", 0, s.Candidates.Count + 1, "source model"));
            KlDivergence.WriteReference(ctx, SpreadChunks(cal.Tokens, nCtx, Math.Max(cal.TypeChunks, 2)), nCtx, cal.TypeChunks,
                source.Tokenizer.AddBosDefault, source.Tokenizer.BosId, refPath, cancel: ct);
            reference = LogitsBaseFile.ReadHeader(refPath);
        }
        var names = tensors.Select(t => t.Name).ToHashSet();
        var qs = new QuantizeSettings { Threads = s.Threads, Overwrite = true, MeasureError = false, AllowRequantize = s.AllowRequantize };
        var md = ModelQuantizer.BuildMetadata(f.Metadata, null, null);
        int step = 0;
        foreach (var type in s.Candidates.Distinct())
        {
            ct.ThrowIfCancellationRequested();
            progress?.Report(new MixProgress("Type calibration", ++step, s.Candidates.Count + 1, $"all tensors as {type}"));
            var plan = f.Tensors.Select(x =>
            {
                if (!names.Contains(x.Name)) return new TensorPlanItem(x, x.Type, false, "copy");
                GgmlType ty;
                try { ty = Recipe.Fallback(type, x.RowLength); } catch (ArgumentException) { return new TensorPlanItem(x, x.Type, false, "copy"); }
                return new TensorPlanItem(x, ty, true, "type calibration", QuantizePlanner.ImatrixFor(x, imatrix, null));
            }).ToList();
            ModelQuantizer.Run(f, plan, md, modelPath, qs, cancellationToken: ct);
            using var m = LlamaModel.Load(modelPath);
            using var c = new InferenceContext(m, new InferenceOptions { ContextLength = reference.Context, Threads = s.Threads });
            var r = KlDivergence.Compare(c, reference, m.Tokenizer.AddBosDefault, m.Tokenizer.BosId, 0, cancel: ct);
            typeMeasures[type] = new MixTypeMeasure { Kld = r.MeanKld, LnPplRatio = r.LnPplRatio, LnPplRatioError = r.LnPplRatioError, Tokens = r.Count };
        }
    }

    /// <summary>
    /// Each candidate type's perplexity cost per unit of KL-divergence, relative to the pooled ratio r̄ = Σ ln-ratio ÷
    /// Σ KLD over the types whose perplexity change is measurable (more than two standard errors):
    /// r_T = ln(PPL_T/PPL)/KLD_T from the type calibration, shrunk towards r̄ by the signal-to-noise of its
    /// perplexity change (weight max(0, 1 − (2/z)²), z = ln-ratio ÷ its standard error; types whose perplexity change
    /// is within two standard errors of zero get r̄), then f_T = r_T/r̄ clamped to [0.5, 2]. Predicted losses are
    /// multiplied by f_T, so a type whose KL-divergence gains do not show in perplexity (on this model IQ4_K against
    /// IQ4_KS) is valued by what it buys. Empty when there is no type calibration.
    /// </summary>
    public static Dictionary<GgmlType, double> TypeFactors(MixAnalysis analysis)
    {
        var f = new Dictionary<GgmlType, double>();
        var m = analysis.TypeMeasures;
        if (m is null || m.Count == 0) return f;
        double Z(MixTypeMeasure x) => x.LnPplRatioError > 0 ? x.LnPplRatio / x.LnPplRatioError : 0;
        var strong = m.Values.Where(x => x.Kld > 0 && Z(x) > 2).ToList();
        if (strong.Count == 0) return f;
        double pooled = strong.Sum(x => x.LnPplRatio) / strong.Sum(x => x.Kld);
        if (!(pooled > 0)) return f;
        foreach (var (type, x) in m)
        {
            double w = Z(x) > 2 ? 1 - 4 / (Z(x) * Z(x)) : 0;
            double r = x.Kld > 0 ? x.LnPplRatio / x.Kld : pooled;
            f[type] = Math.Clamp((pooled + w * (r - pooled)) / pooled, 0.5, 2.0);
        }
        return f;
    }

    /// <summary>
    /// The probe text: <paramref name="chunks"/> chunks of <paramref name="nCtx"/> tokens taken evenly across
    /// <paramref name="tokens"/> (chunk i of the n available is the i·n/chunks-th), not the first ones, so a short probe
    /// run still sees the whole calibration text. All of it when it has no more chunks than asked for.
    /// </summary>
    public static IReadOnlyList<int> SpreadChunks(IReadOnlyList<int> tokens, int nCtx, int chunks)
    {
        int available = tokens.Count / nCtx;
        if (chunks <= 0 || available <= chunks) return tokens;
        var list = new List<int>(chunks * nCtx);
        for (int i = 0; i < chunks; i++)
        {
            int c = (int)((long)i * available / chunks);
            for (int j = 0; j < nCtx; j++) list.Add(tokens[c * nCtx + j]);
        }
        return list;
    }

    /// <summary>Predicted loss of each candidate of a tensor, and a description of the model used.</summary>
    public static (double[] Loss, string Model) PredictLoss(MixTensorAnalysis t)
    {
        var c = t.Candidates;
        var loss = new double[c.Count];
        var pts = t.Probes.Where(p => p.Value > 0)
            .Select(p => (E: c.FirstOrDefault(x => x.Type == p.Key)?.Error ?? double.NaN, K: p.Value, Type: p.Key))
            .Where(p => p.E > 0 && double.IsFinite(p.E)).OrderBy(p => p.E).ToList();
        if (pts.Count == 0)
        {
            for (int k = 0; k < c.Count; k++) loss[k] = t.PriorSensitivity * c[k].Error;
            return (loss, $"prior {t.PriorSensitivity:g3} × error");
        }
        for (int k = 0; k < c.Count; k++)
        {
            // A probed type's loss is its probe. Otherwise: linear in error with one probe; with more, piecewise power
            // law (a straight line in log-log) through the probe points sorted by error, the end segments extended.
            var hit = pts.FindIndex(p => p.Type == c[k].Type);
            if (hit >= 0) { loss[k] = pts[hit].K; continue; }
            double e = Math.Max(c[k].Error, 1e-30);
            if (pts.Count == 1) { loss[k] = pts[0].K * e / pts[0].E; continue; }
            int j = 0;
            while (j < pts.Count - 2 && e > pts[j + 1].E) j++;
            var (e0, k0, _) = pts[j];
            var (e1, k1, _) = pts[j + 1];
            double b = e1 > e0 ? Math.Clamp(Math.Log(k1 / k0) / Math.Log(e1 / e0), 0.3, 3.0) : 1.0;
            loss[k] = k0 * Math.Pow(e / e0, b);
        }
        string model = pts.Count == 1
            ? $"probe {pts[0].Type} KLD {pts[0].K:g3}, linear in error"
            : pts.Count > 4
                ? $"probed at all {pts.Count} types (KLD {pts[^1].K:g3} at {pts[^1].Type} … {pts[0].K:g3} at {pts[0].Type})"
                : $"probes {string.Join(", ", pts.Select(p => $"{p.Type} KLD {p.K:g3}"))}, power law in error";
        return (loss, model);
    }

    /// <summary>
    /// Solves the allocation for <paramref name="budget"/> and returns a plan over every tensor of
    /// <paramref name="file"/> (non-quantizable tensors copied, pinned ones at their type, the rest as solved).
    /// <paramref name="metadata"/> is the output's metadata (for the file-size budget's header size).
    /// </summary>
    public static MixPlan Plan(GgufFile file, MixAnalysis analysis, ImatrixFile? imatrix, MixSettings settings, MixBudget budget,
        IReadOnlyList<GgufMetadataEntry> metadata)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(analysis);
        var byName = analysis.Tensors.ToDictionary(t => t.Name);
        long elements = file.Tensors.Sum(t => t.Elements);
        bool fileBudget = budget.IsFileSize;
        long header = GgufSize.HeaderBytes(metadata, file.Tensors.Select(t => (t.Name, t.Shape.Length)));
        long totalBudget = fileBudget
            ? (long)budget.Value - GgufSize.Pad(header)
            : (long)Math.Floor(budget.Value * elements / 8.0 + 1e-9);
        long Cost(long bytes) => fileBudget ? GgufSize.Pad(bytes) : bytes;

        var typeFactors = TypeFactors(analysis);
        var items = new List<TensorPlanItem?>(new TensorPlanItem?[file.Tensors.Count]);
        long fixedBytes = 0;
        var solveIdx = new List<int>();
        var options = new List<MixOption[]>();
        var losses = new List<(double[] Loss, string Model)>();
        for (int i = 0; i < file.Tensors.Count; i++)
        {
            var t = file.Tensors[i];
            if (!IsQuantizable(t, settings))
            {
                items[i] = new TensorPlanItem(t, t.Type, false, "not quantized (llama-quantize keeps it)");
                fixedBytes += Cost(t.ByteSize);
                continue;
            }
            if (PinOf(file, t, settings) is { } pin)
            {
                GgmlType ty;
                try { ty = Recipe.Fallback(pin.Type, t.RowLength); }
                catch (ArgumentException ex) { throw new MixPlanException("RowLengthNotMultipleOfBlock", $"Tensor '{t.Name}': {ex.Message}"); }
                bool q = ty != t.Type;
                items[i] = new TensorPlanItem(t, ty, q, pin.Reason + (q ? "" : " (already that type: copied)"), q ? QuantizePlanner.ImatrixFor(t, imatrix, null) : null);
                fixedBytes += Cost(q ? TypeTable.Get(ty).RowSize(t.RowLength) * t.Rows : t.ByteSize);
                continue;
            }
            if (!byName.TryGetValue(t.Name, out var ta))
                throw new MixPlanException("AnalysisMismatch", $"The analysis has no measurements for '{t.Name}'.");
            solveIdx.Add(i);
            var pl = PredictLoss(ta);
            if (typeFactors.Count > 0)
            {
                for (int k = 0; k < pl.Loss.Length; k++)
                    if (typeFactors.TryGetValue(ta.Candidates[k].Type, out double tf)) pl.Loss[k] *= tf;
                pl = (pl.Loss, pl.Model + "; × the type's perplexity per unit KLD");
            }
            losses.Add(pl);
            options.Add(ta.Candidates.Select((c, k) => new MixOption(Cost(c.Bytes), pl.Loss[k])).ToArray());
        }
        long free = totalBudget - fixedBytes;
        long minNeed = options.Sum(o => o.Min(x => x.Bytes));
        if (free < minNeed)
        {
            long minTotal = fixedBytes + minNeed;
            string what = fileBudget
                ? $"{minTotal + GgufSize.Pad(header)} bytes ({(minTotal + GgufSize.Pad(header)) / 1048576.0:0.##} MiB)"
                : $"{8.0 * minTotal / elements:0.###} bpw";
            throw new MixPlanException("BudgetTooSmall", $"The budget ({budget}) is below the smallest possible mix of these candidates: {what}.");
        }
        var sol = MixSolver.Solve(options, free);
        for (int j = 0; j < solveIdx.Count; j++)
        {
            int i = solveIdx[j];
            var t = file.Tensors[i];
            var ta = byName[t.Name];
            int k = sol.Choice[j];
            var ty = ta.Candidates[k].Type;
            items[i] = new TensorPlanItem(t, ty, ty != t.Type, Explain(ta, losses[j], k, sol.Lambda, fileBudget), ty != t.Type ? QuantizePlanner.ImatrixFor(t, imatrix, null) : null);
        }
        var plan = items.Select(x => x!).ToList();
        long tensorBytes = plan.Sum(p => p.TargetBytes);
        long fileSize = GgufSize.Pad(header) + plan.Sum(p => GgufSize.Pad(p.TargetBytes));
        var dominant = plan.Where(p => p.Quantize).GroupBy(p => p.Target).OrderByDescending(g => g.Sum(p => p.TargetBytes)).Select(g => (GgmlType?)g.Key).FirstOrDefault();
        var ft = dominant is { } d ? Recipe.FileTypeFor(d) ?? LlamaFileType.Guessed : LlamaFileType.Guessed;
        return new MixPlan
        {
            Items = plan, TensorBytes = tensorBytes, FileSize = fileSize, BudgetTensorBytes = totalBudget, PredictedLoss = sol.Cost,
            Lambda = sol.Lambda, Method = sol.Method, FileType = ft, Bpw = 8.0 * tensorBytes / Math.Max(1, elements),
        };
    }

    private static string Explain(MixTensorAnalysis ta, (double[] Loss, string Model) pl, int k, double lambda, bool fileBudget)
    {
        var c = ta.Candidates;
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(ci, $"mix: predicted loss {pl.Loss[k]:0.###e+0} at error {c[k].Error:0.###e+0} ({ta.ErrorWeights}-weighted; {pl.Model})");
        // The nearest smaller and larger alternatives and what they would trade.
        int down = -1, up = -1;
        for (int j = 0; j < c.Count; j++)
        {
            if (c[j].Bytes < c[k].Bytes && (down < 0 || c[j].Bytes > c[down].Bytes)) down = j;
            if (c[j].Bytes > c[k].Bytes && pl.Loss[j] < pl.Loss[k] && (up < 0 || c[j].Bytes < c[up].Bytes)) up = j;
        }
        if (down >= 0)
            sb.Append(ci, $"; {c[down].Type} would save {Kib(c[k].Bytes - c[down].Bytes)} for +{pl.Loss[down] - pl.Loss[k]:0.##e+0}");
        if (up >= 0)
            sb.Append(ci, $"; {c[up].Type} would cost {Kib(c[up].Bytes - c[k].Bytes)} for −{pl.Loss[k] - pl.Loss[up]:0.##e+0}");
        if (lambda > 0) sb.Append(ci, $"; budget price {lambda * 1024:0.##e+0}/KiB");
        return sb.ToString();
        static string Kib(long b) => string.Create(CultureInfo.InvariantCulture, $"{b / 1024.0:0.#} KiB");
    }
}

/// <summary>GGUF v3 header size arithmetic (spec §1), for file-size budgets.</summary>
public static class GgufSize
{
    /// <summary>Rounds up to the 32-byte alignment.</summary>
    public static long Pad(long n) => (n + GgufWriter.Alignment - 1) / GgufWriter.Alignment * GgufWriter.Alignment;

    /// <summary>Bytes of the header: magic, version, counts, key-value records and tensor-info records (before alignment).</summary>
    public static long HeaderBytes(IEnumerable<GgufMetadataEntry> metadata, IEnumerable<(string Name, int Dims)> tensors)
    {
        long n = 4 + 4 + 8 + 8;
        foreach (var e in metadata)
        {
            if (SplitKey(e.Key)) continue;
            n += 8 + Encoding.UTF8.GetByteCount(e.Key) + 4 + ValueBytes(e.Type, e.ElementType, e.Value);
        }
        foreach (var (name, dims) in tensors)
            n += 8 + Encoding.UTF8.GetByteCount(name) + 4 + 8L * dims + 4 + 8;
        return n;
    }

    private static bool SplitKey(string k) => k is "split.no" or "split.count" or "split.tensors.count";

    private static long ValueBytes(GgufValueType type, GgufValueType? elementType, object value) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        GgufValueType.String => 8 + Encoding.UTF8.GetByteCount((string)value),
        GgufValueType.Array => 4 + 8 + ArrayBytes(elementType!.Value, (Array)value),
        _ => throw new NotSupportedException($"GGUF value type {type}."),
    };

    private static long ArrayBytes(GgufValueType et, Array a)
    {
        if (et == GgufValueType.String)
        {
            long n = 0;
            foreach (var s in a) n += 8 + Encoding.UTF8.GetByteCount((string)s!);
            return n;
        }
        if (et == GgufValueType.Array) throw new NotSupportedException("Nested GGUF arrays.");
        return a.LongLength * ValueBytes(et, null, 0);
    }
}
