using System.Text.Json;
using System.Text.Json.Serialization;
using IQuant.Core.Types;

namespace IQuant.Core.Calibration;

/// <summary>What quantizing one tensor to one candidate type costs: bytes and the importance-weighted relative error.</summary>
public sealed record MixCandidateMeasure
{
    /// <summary>The type actually written (a candidate, or its row-length fallback).</summary>
    public required GgmlType Type { get; init; }
    /// <summary>Bytes of the tensor in that type.</summary>
    public required long Bytes { get; init; }
    /// <summary>Σ w·(x̂ − x)² / Σ w·x² over the measured rows (w: the tensor's error weights).</summary>
    public required double Error { get; init; }
}

/// <summary>The measured facts about one quantizable tensor.</summary>
public sealed record MixTensorAnalysis
{
    /// <summary>Tensor name.</summary>
    public required string Name { get; init; }
    /// <summary>Number of weights.</summary>
    public required long Elements { get; init; }
    /// <summary>Where the per-column error weights came from ("imatrix", "attn_norm²", "output_norm²", "uniform").</summary>
    public required string ErrorWeights { get; init; }
    /// <summary>Rows measured (all rows or an even sample).</summary>
    public required long MeasuredRows { get; init; }
    /// <summary>One entry per distinct candidate type.</summary>
    public required List<MixCandidateMeasure> Candidates { get; init; }
    /// <summary>Sensitivity used without calibration: the predicted loss per unit of <see cref="MixCandidateMeasure.Error"/>.</summary>
    public required double PriorSensitivity { get; init; }
    /// <summary>Calibration probes: mean KL-divergence on the calibration chunks with only this tensor quantized to the type.</summary>
    public Dictionary<GgmlType, double> Probes { get; init; } = [];
}

/// <summary>A whole-model measurement at one type: mean KL-divergence and ln(PPL_Q/PPL_source) with its uncertainty.</summary>
public sealed record MixTypeMeasure
{
    /// <summary>Mean KL-divergence against the source model.</summary>
    public required double Kld { get; init; }
    /// <summary>ln(PPL of the quantized model / PPL of the source) on the same tokens.</summary>
    public required double LnPplRatio { get; init; }
    /// <summary>Uncertainty (one standard error) of <see cref="LnPplRatio"/>.</summary>
    public required double LnPplRatioError { get; init; }
    /// <summary>Scored tokens.</summary>
    public required int Tokens { get; init; }
}

/// <summary>
/// Measurements (and, with calibration, sensitivity probes) of every quantizable tensor of a model, from which
/// <see cref="MixPlanner.Plan"/> solves allocations for any budget. Serializable, so one analysis serves many budgets.
/// </summary>
public sealed record MixAnalysis
{
    /// <summary>Identifies the inputs (model, imatrix, candidates, calibration); a cached analysis is reused only on a match.</summary>
    public required string Key { get; init; }
    /// <summary>The analysed tensors, in file order.</summary>
    public required List<MixTensorAnalysis> Tensors { get; init; }
    /// <summary>How sensitivities were obtained: "prior" or "probes".</summary>
    public required string Sensitivity { get; init; }
    /// <summary>Calibration chunks used by the probes (0 without).</summary>
    public int CalibrationChunks { get; init; }
    /// <summary>Scored calibration tokens per probe.</summary>
    public int CalibrationTokens { get; init; }
    /// <summary>
    /// Type calibration: per candidate type, the whole model (every analysed tensor at that type) against the source
    /// on the calibration text. Empty when not measured.
    /// </summary>
    public Dictionary<GgmlType, MixTypeMeasure> TypeMeasures { get; init; } = [];

    private static readonly JsonSerializerOptions s_json = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>Writes the analysis as JSON.</summary>
    public void Save(string path)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(this, s_json);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        Quantization.AtomicFile.Write(path, bytes);
    }

    /// <summary>Reads an analysis written by <see cref="Save"/>; null when the file is missing, unreadable or for other inputs.</summary>
    public static MixAnalysis? TryLoad(string path, string key)
    {
        try
        {
            if (!File.Exists(path)) return null;
            var a = JsonSerializer.Deserialize<MixAnalysis>(File.ReadAllBytes(path), s_json);
            return a is not null && a.Key == key ? a : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException or NotSupportedException)
        {
            return null;
        }
    }
}
