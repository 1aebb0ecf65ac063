using System.Management.Automation;
using System.Security.Cryptography;
using IQuant.Core.Calibration;
using IQuant.Core.Gguf;
using IQuant.Core.Quantization;
using IQuant.Core.Types;
using IQuant.PowerShell.Internal;

namespace IQuant.PowerShell.Cmdlets;

/// <summary>Defaults of the automatic-mix calibration.</summary>
internal static class MixCalibrationDefaults
{
    /// <summary>Calibration chunks per probe.</summary>
    public const int Chunks = 4;
}

/// <summary>ConvertTo-IQuant's automatic mixes (-TargetBpw / -TargetSize).</summary>
public sealed partial class ConvertToIQuantCommand
{
    private bool IsMix => ParameterSetName is "TargetBpw" or "TargetSize";

    /// <summary>Plans the mix of one model; null when an error was written.</summary>
    private MixPlan? PlanMix(GgufFile file, string source, ImatrixFile? imatrix)
    {
        var candidates = (CandidateType is { Length: > 0 } ct ? ct.Select(c => ParseType(c, nameof(CandidateType))) : MixSettings.DefaultCandidates).Distinct().ToList();
        var settings = new MixSettings
        {
            Candidates = candidates,
            Threads = ThrottleLimit,
            Pins = ParseCustomTypes(),
            OutputTensorType = OutputTensorType is null ? null : ParseType(OutputTensorType, nameof(OutputTensorType)),
            TokenEmbeddingType = TokenEmbeddingType is null ? null : ParseType(TokenEmbeddingType, nameof(TokenEmbeddingType)),
            LeaveOutputTensor = LeaveOutputTensor,
            AllowRequantize = AllowRequantize,
        };
        MixCalibration? calibration = null;
        var probeTypes = ProbeType is { Length: > 0 } ptypes ? ptypes.Select(p => ParseType(p, nameof(ProbeType))).ToList() : null;
        if (GeneratedCalibration && CalibrationPath is not null)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("Give either -CalibrationPath or -GeneratedCalibration, not both."),
                "CalibrationConflict", ErrorCategory.InvalidArgument, CalibrationPath));
            return null;
        }
        if (GeneratedCalibration)
        {
            calibration = new MixCalibration
            {
                Tokens = [], Generated = true, TextId = "generated", Chunks = CalibrationChunks, Context = CalibrationContext, ProbeTypes = probeTypes,
            };
            WriteVerbose($"Calibration: {CalibrationChunks} chunks of {CalibrationContext} tokens sampled from the model");
        }
        else if (CalibrationPath is not null)
        {
            string calibrationFile = SingleFile.Resolve(this, CalibrationPath, "CalibrationNotFound", "Calibration text");
            byte[] bytes;
            try { bytes = File.ReadAllBytes(calibrationFile); }
            catch (Exception ex) { ThrowTerminatingError(Errors.From(ex, calibrationFile)); return null; }
            var tok = ModelCache.GetTokenizer(source);
            var tokens = tok.Encode(System.Text.Encoding.UTF8.GetString(bytes), tok.AddBosDefault, parseSpecial: false);
            calibration = new MixCalibration
            {
                Tokens = tokens, TextId = Convert.ToHexString(SHA256.HashData(bytes)), Chunks = CalibrationChunks, Context = CalibrationContext,
                TypeChunks = TypeCalibrationChunks,
                ProbeTypes = probeTypes,
            };
            WriteVerbose($"Calibration: {tokens.Count} tokens of {calibrationFile}; {CalibrationChunks} chunks of {CalibrationContext} per probe");
        }

        string key = MixPlanner.AnalysisKey(file, imatrix, settings, calibration);
        string cachePath = AnalysisPath is not null ? PathResolver.ResolveOutput(this, AnalysisPath)
            : System.IO.Path.Combine(System.IO.Path.GetTempPath(), "IQuant", $"mix-{key}.json");
        var analysis = MixAnalysis.TryLoad(cachePath, key);
        if (analysis is not null) WriteVerbose($"Using the analysis cached in {cachePath}");
        else
        {
            using var work = _work = new BackgroundWork();
            string activity = $"Analysing {System.IO.Path.GetFileName(source)} for a mix";
            var progress = new CallbackProgress<MixProgress>(p =>
            {
                var rec = new ProgressRecord(1, activity, p.Item.Length > 0 ? $"{p.Phase}: {p.Item} ({p.Step + 1}/{p.Steps})" : p.Phase)
                { PercentComplete = p.Steps == 0 ? 0 : (int)(100L * p.Step / p.Steps) };
                work.Post(c => c.WriteProgress(rec));
            });
            try
            {
                analysis = work.Run(this, ct => MixPlanner.Analyze(file, imatrix, settings, calibration, progress, ct));
            }
            catch (MixPlanException ex) { WriteError(new ErrorRecord(ex, ex.ErrorId, ErrorCategory.InvalidData, source)); return null; }
            finally { _work = null; }
            WriteProgress(new ProgressRecord(1, activity, "Done") { RecordType = ProgressRecordType.Completed });
            try { analysis.Save(cachePath); WriteVerbose($"Analysis cached in {cachePath}"); }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { WriteWarning($"Could not cache the analysis in {cachePath}: {ex.Message}"); }
        }

        var budget = ParameterSetName == "TargetSize" ? MixBudget.FileSize(TargetSize) : MixBudget.Bpw(TargetBpw);
        var metadata = ModelQuantizer.BuildMetadata(file.Metadata, LlamaFileType.Guessed, imatrix);
        try
        {
            var plan = MixPlanner.Plan(file, analysis, imatrix, settings, budget, metadata);
            WriteVerbose($"Mix for {budget}: {plan.TensorBytes} tensor bytes ({plan.Bpw:0.###} bpw), file {plan.FileSize} bytes, " +
                         $"predicted loss {plan.PredictedLoss:g4} ({analysis.Sensitivity}), solver {plan.Method}");
            if (analysis.Sensitivity == "prior")
                WriteVerbose("No -CalibrationPath or -GeneratedCalibration: sensitivities are class priors; probes measure them.");
            return plan;
        }
        catch (MixPlanException ex)
        {
            WriteError(new ErrorRecord(ex, ex.ErrorId, ex.ErrorId == "BudgetTooSmall" ? ErrorCategory.InvalidArgument : ErrorCategory.InvalidData, source));
            return null;
        }
    }
}
