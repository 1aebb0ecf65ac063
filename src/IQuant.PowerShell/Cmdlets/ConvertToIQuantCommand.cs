using System.Collections;
using System.Management.Automation;
using System.Text.RegularExpressions;
using IQuant.Core.Gguf;
using IQuant.Core.Quantization;
using IQuant.Core.Types;
using IQuant.PowerShell.Internal;

namespace IQuant.PowerShell.Cmdlets;

/// <summary>
/// ConvertTo-IQuant: quantizes piped tensors (pipeline mode) or a whole model with llama-quantize's recipe
/// (model mode) into a new GGUF file.
/// </summary>
[Cmdlet(VerbsData.ConvertTo, "IQuant", DefaultParameterSetName = "Model", SupportsShouldProcess = true)]
[OutputType(typeof(IQuantTensorResult), typeof(IQuantFileResult))]
public sealed partial class ConvertToIQuantCommand : PSCmdlet
{
    /// <summary>Tensors from Get-GgufTensor.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "Tensor")]
    public GgufTensor[] InputObject { get; set; } = [];

    /// <summary>The model to quantize with the recipe of -Type.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Model")]
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "TargetBpw")]
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "TargetSize")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>Target type (pipeline mode) or file type recipe (model mode).</summary>
    [Parameter(Mandatory = true, Position = 1, ParameterSetName = "Model")]
    [Parameter(Mandatory = true, Position = 1, ParameterSetName = "Tensor")]
    [ArgumentCompleter(typeof(TypeNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string Type { get; set; } = "";

    /// <summary>Automatic mix: the average bits per weight over all tensor data.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "TargetBpw")]
    [ValidateRange(0.5, 64.0)]
    public double TargetBpw { get; set; }

    /// <summary>Automatic mix: the size of the output file in bytes (e.g. 2.5GB).</summary>
    [Parameter(Mandatory = true, ParameterSetName = "TargetSize")]
    [ValidateRange(1, long.MaxValue)]
    public long TargetSize { get; set; }

    /// <summary>Automatic mix: the types a tensor may get (default IQ2_KS … Q8_0, see MixSettings.DefaultCandidates).</summary>
    [Parameter(ParameterSetName = "TargetBpw")]
    [Parameter(ParameterSetName = "TargetSize")]
    [ArgumentCompleter(typeof(TypeNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string[]? CandidateType { get; set; }

    /// <summary>Automatic mix: calibration text for per-tensor sensitivity probes (KL-divergence against the source).</summary>
    [Parameter(ParameterSetName = "TargetBpw")]
    [Parameter(ParameterSetName = "TargetSize")]
    [ValidateNotNullOrEmpty]
    public string? CalibrationPath { get; set; }

    /// <summary>Automatic mix: probe sensitivities on text sampled from the source model itself (no calibration file needed).</summary>
    [Parameter(ParameterSetName = "TargetBpw")]
    [Parameter(ParameterSetName = "TargetSize")]
    public SwitchParameter GeneratedCalibration { get; set; }

    /// <summary>Automatic mix: calibration chunks evaluated per probe.</summary>
    [Parameter(ParameterSetName = "TargetBpw")]
    [Parameter(ParameterSetName = "TargetSize")]
    [ValidateRange(1, 10000)]
    public int CalibrationChunks { get; set; } = MixCalibrationDefaults.Chunks;

    /// <summary>Automatic mix: calibration chunks for the type calibration (0 = off).</summary>
    [Parameter(ParameterSetName = "TargetBpw")]
    [Parameter(ParameterSetName = "TargetSize")]
    [ValidateRange(0, 10000)]
    public int TypeCalibrationChunks { get; set; } = 64;

    /// <summary>Automatic mix: chunk length of the calibration probes.</summary>
    [Parameter(ParameterSetName = "TargetBpw")]
    [Parameter(ParameterSetName = "TargetSize")]
    [ValidateRange(16, 1 << 20)]
    public int CalibrationContext { get; set; } = 512;

    /// <summary>Automatic mix: the types each tensor is probed at (default: the smallest candidate, those nearest 4.5 and 6.5 bpw, and the largest).</summary>
    [Parameter(ParameterSetName = "TargetBpw")]
    [Parameter(ParameterSetName = "TargetSize")]
    [ArgumentCompleter(typeof(TypeNameCompleter))]
    public string[]? ProbeType { get; set; }

    /// <summary>Automatic mix: where the analysis (measurements, probes) is cached; default the IQuant folder in the temp folder.</summary>
    [Parameter(ParameterSetName = "TargetBpw")]
    [Parameter(ParameterSetName = "TargetSize")]
    public string? AnalysisPath { get; set; }

    /// <summary>Output file; default &lt;source base name&gt;-&lt;TYPE&gt;.gguf beside the source.</summary>
    [Parameter]
    [Alias("Destination")]
    public string? OutFile { get; set; }

    /// <summary>Replace an existing output file (never the input).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Importance matrix (.dat or GGUF imatrix).</summary>
    [Parameter]
    public string? Imatrix { get; set; }

    /// <summary>Allow already-quantized source tensors (they are dequantized first).</summary>
    [Parameter]
    public SwitchParameter AllowRequantize { get; set; }

    /// <summary>Model mode: every quantizable tensor gets the default type (llama-quantize --pure).</summary>
    [Parameter(ParameterSetName = "Model")]
    public SwitchParameter Pure { get; set; }

    /// <summary>Model mode: per-tensor overrides, @{ 'regex' = 'type' } (llama-quantize --custom-q); in a mix, fixed types.</summary>
    [Parameter(ParameterSetName = "Model")]
    [Parameter(ParameterSetName = "TargetBpw")]
    [Parameter(ParameterSetName = "TargetSize")]
    public IDictionary? TensorType { get; set; }

    /// <summary>Model mode: type of output.weight (llama-quantize --output-tensor-type).</summary>
    [Parameter(ParameterSetName = "Model")]
    [Parameter(ParameterSetName = "TargetBpw")]
    [Parameter(ParameterSetName = "TargetSize")]
    [ArgumentCompleter(typeof(TypeNameCompleter))]
    public string? OutputTensorType { get; set; }

    /// <summary>Model mode: type of token_embd.weight (llama-quantize --token-embedding-type).</summary>
    [Parameter(ParameterSetName = "Model")]
    [Parameter(ParameterSetName = "TargetBpw")]
    [Parameter(ParameterSetName = "TargetSize")]
    [ArgumentCompleter(typeof(TypeNameCompleter))]
    public string? TokenEmbeddingType { get; set; }

    /// <summary>Model mode: copy output.weight unchanged (llama-quantize --leave-output-tensor).</summary>
    [Parameter(ParameterSetName = "Model")]
    [Parameter(ParameterSetName = "TargetBpw")]
    [Parameter(ParameterSetName = "TargetSize")]
    public SwitchParameter LeaveOutputTensor { get; set; }

    /// <summary>Split the output into shards of at most this many bytes of tensor data.</summary>
    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    public long MaxShardSize { get; set; }

    /// <summary>Split the output into shards of at most this many tensors.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int MaxShardTensors { get; set; }

    /// <summary>Threads; default all cores.</summary>
    [Parameter]
    [ValidateRange(1, 1024)]
    public int ThrottleLimit { get; set; }

    /// <summary>Use ik_llama.cpp's scalar IQ2_KS encoder (llama-quantize on non-AVX2 machines) instead of the AVX2 one.</summary>
    [Parameter]
    public SwitchParameter ScalarIq2Ks { get; set; }

    private readonly Dictionary<string, List<GgufTensor>> _byFile = new(StringComparer.Ordinal);
    private readonly List<string> _fileOrder = [];
    private BackgroundWork? _work;

    /// <inheritdoc/>
    protected override void ProcessRecord()
    {
        if (ParameterSetName != "Tensor") return;
        foreach (var t in InputObject)
        {
            if (t is null) continue;
            if (!_byFile.TryGetValue(t.Path, out var list)) { _byFile[t.Path] = list = []; _fileOrder.Add(t.Path); }
            list.Add(t);
        }
    }

    /// <inheritdoc/>
    protected override void EndProcessing()
    {
        if (IsMix)
        {
            ImatrixFile? mixImatrix = LoadImatrix();
            var mixFiles = PathResolver.ResolveExisting(this, [Path], literal: false);
            if (mixFiles.Count > 1 && OutFile is not null)
                ThrowTerminatingError(new ErrorRecord(new ArgumentException("-OutFile names one file but -Path matched several models."),
                    "OutFileWithSeveralInputs", ErrorCategory.InvalidArgument, Path));
            foreach (var f in mixFiles) ConvertFile(f, null, default, mixImatrix);
            return;
        }
        var type = ParseType(Type, nameof(Type));
        ImatrixFile? imatrix = LoadImatrix();
        if (ParameterSetName == "Model")
        {
            var files = PathResolver.ResolveExisting(this, [Path], literal: false);
            if (files.Count > 1 && OutFile is not null)
                ThrowTerminatingError(new ErrorRecord(new ArgumentException("-OutFile names one file but -Path matched several models."),
                    "OutFileWithSeveralInputs", ErrorCategory.InvalidArgument, Path));
            foreach (var f in files) ConvertFile(f, null, type, imatrix);
        }
        else
        {
            if (_fileOrder.Count > 1 && OutFile is not null)
                ThrowTerminatingError(new ErrorRecord(new ArgumentException("-OutFile names one file but the piped tensors come from several models."),
                    "OutFileWithSeveralInputs", ErrorCategory.InvalidArgument, OutFile));
            foreach (var f in _fileOrder) ConvertFile(f, _byFile[f], type, imatrix);
        }
    }

    /// <inheritdoc/>
    protected override void StopProcessing() => _work?.Stop();

    private GgmlType ParseType(string name, string parameter)
    {
        if (TypeTable.TryParse(name, out var info) && Core.Quants.Codecs.CanQuantize(info.Type)) return info.Type;
        var valid = string.Join(", ", TypeTable.All.Where(t => Core.Quants.Codecs.CanQuantize(t.Type)).Select(t => t.DisplayName));
        ThrowTerminatingError(new ErrorRecord(new ArgumentException($"-{parameter} '{name}' is not a type IQuant can write. Valid types: {valid}."),
            "UnknownTargetType", ErrorCategory.InvalidArgument, name));
        return default;
    }

    private ImatrixFile? LoadImatrix()
    {
        if (string.IsNullOrEmpty(Imatrix)) return null;
        var resolved = PathResolver.ResolveExisting(this, [Imatrix], literal: true);
        if (resolved.Count == 0)
            ThrowTerminatingError(new ErrorRecord(new FileNotFoundException($"Imatrix file '{Imatrix}' does not exist."), "ImatrixNotFound", ErrorCategory.ObjectNotFound, Imatrix));
        try
        {
            var im = ImatrixFile.Load(resolved[0]);
            WriteVerbose($"Imatrix {im.Path}: {im.Entries.Count} entries, {im.Chunks} chunks ({im.Format} format)");
            return im;
        }
        catch (ImatrixFormatException ex)
        {
            ThrowTerminatingError(new ErrorRecord(ex, ex.ErrorId, ErrorCategory.InvalidData, Imatrix));
            return null;
        }
    }

    private string DefaultOutput(string source, string type)
    {
        var dir = System.IO.Path.GetDirectoryName(source)!;
        var name = System.IO.Path.GetFileNameWithoutExtension(source);
        var m = Regex.Match(name, @"^(.*)-\d{5}-of-\d{5}$");
        if (m.Success) name = m.Groups[1].Value;
        foreach (var suffix in new[] { "-f32", "-f16", "-bf16", "-F32", "-F16", "-BF16" })
            if (name.EndsWith(suffix, StringComparison.Ordinal)) { name = name[..^suffix.Length]; break; }
        return System.IO.Path.Combine(dir, $"{name}-{type}.gguf");
    }

    private void ConvertFile(string source, List<GgufTensor>? tensors, GgmlType type, ImatrixFile? imatrix)
    {
        GgufFile file;
        try { file = GgufFile.Open(source); }
        catch (Exception ex) { WriteError(Errors.From(ex, source)); return; }
        using (file)
        {
            var warnings = new List<string>();
            List<TensorPlanItem> plan;
            LlamaFileType? fileType;
            string label = IsMix ? "MIX" : type.ToString();
            try
            {
                if (IsMix)
                {
                    var mix = PlanMix(file, source, imatrix);
                    if (mix is null) return;
                    plan = mix.Items;
                    fileType = mix.FileType;
                    label = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"MIX-{mix.Bpw:0.00}bpw");
                }
                else if (tensors is null)
                {
                    var ft = Recipe.FileTypeFor(type) ?? throw new QuantizePlanException("NoRecipeForType", "", $"There is no llama-quantize recipe for {type}; pipe tensors from Get-GgufTensor to convert them to {type}.");
                    var options = new RecipeOptions
                    {
                        Pure = Pure,
                        OutputTensorType = OutputTensorType is null ? null : ParseType(OutputTensorType, nameof(OutputTensorType)),
                        TokenEmbeddingType = TokenEmbeddingType is null ? null : ParseType(TokenEmbeddingType, nameof(TokenEmbeddingType)),
                        LeaveOutputTensor = LeaveOutputTensor,
                        CustomTypes = ParseCustomTypes(),
                    };
                    plan = QuantizePlanner.ForRecipe(file, ft, options, imatrix, warnings.Add);
                    fileType = ft;
                }
                else
                {
                    var names = tensors.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
                    foreach (var n in names) if (file.FindTensor(n) is null)
                        throw new QuantizePlanException("TensorNotInFile", n, $"Tensor '{n}' is not in '{source}'.");
                    plan = QuantizePlanner.ForTensors(file, names, type, imatrix, warnings.Add);
                    fileType = Recipe.FileTypeFor(type);
                }
            }
            catch (QuantizePlanException ex)
            {
                WriteError(new ErrorRecord(ex, ex.ErrorId, ErrorCategory.InvalidData, source));
                return;
            }
            foreach (var w in warnings) WriteWarning(w);

            var outPath = OutFile is null ? DefaultOutput(source, label) : PathResolver.ResolveOutput(this, OutFile);
            var settings = new QuantizeSettings
            {
                Threads = ThrottleLimit,
                Overwrite = Force,
                MaxShardBytes = MaxShardSize,
                MaxShardTensors = MaxShardTensors,
                AllowRequantize = AllowRequantize,
                Variants = ScalarIq2Ks ? new Dictionary<GgmlType, string> { [GgmlType.IQ2_KS] = "scalar" } : new Dictionary<GgmlType, string>(),
            };

            long planned = plan.Sum(p => p.TargetBytes), elements = plan.Sum(p => p.Tensor.Elements);
            string action = $"Write {plan.Count(p => p.Quantize)} of {plan.Count} tensors as {label} ({planned / 1048576.0:0.##} MiB, {8.0 * planned / Math.Max(1, elements):0.###} bpw)";
            if (!ShouldProcess(outPath, action))
            {
                if (MyInvocation.BoundParameters.ContainsKey("WhatIf")) WritePlan(source, outPath, plan, fileType, planned, elements);
                return;
            }
            try { ModelQuantizer.Validate(plan, settings); }
            catch (QuantizePlanException ex) { WriteError(new ErrorRecord(ex, ex.ErrorId, ErrorCategory.InvalidData, source)); return; }
            if (!Force && File.Exists(outPath))
            {
                WriteError(new ErrorRecord(new IOException($"'{outPath}' exists; use -Force to replace it."), "OutputExists", ErrorCategory.ResourceExists, outPath));
                return;
            }

            var metadata = ModelQuantizer.BuildMetadata(file.Metadata, fileType, imatrix);
            using var work = _work = new BackgroundWork();
            long total = plan.Sum(p => p.Tensor.ByteSize);
            var progress = new SyncProgress<QuantizeProgress>(p => work.Post(c =>
            {
                var rec = new ProgressRecord(1, $"ConvertTo-IQuant {System.IO.Path.GetFileName(source)} → {label}",
                    p.TensorIndex < p.TensorCount ? $"{p.TensorName} ({p.TensorIndex + 1}/{p.TensorCount}), {p.BytesDone / 1048576.0:0.#} of {p.BytesTotal / 1048576.0:0.#} MiB"
                                                  : "done")
                { PercentComplete = p.BytesTotal == 0 ? 100 : (int)(100 * p.BytesDone / p.BytesTotal) };
                if (p.TensorIndex >= p.TensorCount) rec.RecordType = ProgressRecordType.Completed;
                c.WriteProgress(rec);
            }), p => p.TensorIndex >= p.TensorCount);
            try
            {
                var result = work.Run(this, ct => ModelQuantizer.Run(file, plan, metadata, outPath, settings, progress,
                    r => work.Post(c =>
                    {
                        c.WriteVerbose($"{r.Name}: {r.SourceType} → {r.TargetType}, {r.ResultBytes} bytes, rmse {r.Rmse:g4} ({r.Reason}), {r.Elapsed.TotalMilliseconds:0} ms");
                        c.WriteObject(new IQuantTensorResult
                        {
                            Name = r.Name, SourceType = r.SourceType.ToString(), TargetType = r.TargetType.ToString(),
                            SourceBytes = r.SourceBytes, ResultBytes = r.ResultBytes, Elements = r.Elements, Rmse = r.Rmse,
                            RelativeError = r.RelativeError, Time = r.Elapsed, Quantized = r.Quantized, Written = true, Reason = r.Reason, Source = source,
                        });
                    }), ct));
                WriteObject(new IQuantFileResult
                {
                    Path = result.Paths[0], Paths = [.. result.Paths], Source = source, Size = result.FileSize, Bpw = result.Bpw,
                    Tensors = result.Tensors, QuantizedTensors = result.QuantizedTensors, FileType = fileType?.ToString(), Time = result.Elapsed, Written = true,
                });
            }
            catch (PipelineStoppedException) { throw; }
            catch (QuantizePlanException ex) { WriteError(new ErrorRecord(ex, ex.ErrorId, ErrorCategory.InvalidData, source)); }
            catch (Exception ex) { WriteError(Errors.From(ex, outPath)); }
            finally { _work = null; }
        }
    }

    private void WritePlan(string source, string outPath, List<TensorPlanItem> plan, LlamaFileType? fileType, long planned, long elements)
    {
        foreach (var p in plan)
            WriteObject(new IQuantTensorResult
            {
                Name = p.Tensor.Name, SourceType = p.Tensor.Type.ToString(), TargetType = (p.Quantize ? p.Target : p.Tensor.Type).ToString(),
                SourceBytes = p.Tensor.ByteSize, ResultBytes = p.TargetBytes, Elements = p.Tensor.Elements, Quantized = p.Quantize,
                Written = false, Reason = p.Reason, Source = source,
            });
        WriteObject(new IQuantFileResult
        {
            Path = outPath, Paths = [outPath], Source = source, Size = planned, Bpw = 8.0 * planned / Math.Max(1, elements),
            Tensors = plan.Count, QuantizedTensors = plan.Count(p => p.Quantize), FileType = fileType?.ToString(), Written = false,
        });
    }

    private List<(Regex, GgmlType)> ParseCustomTypes()
    {
        var list = new List<(Regex, GgmlType)>();
        if (TensorType is null) return list;
        foreach (DictionaryEntry e in TensorType)
        {
            var pattern = e.Key?.ToString() ?? "";
            Regex rx;
            try { rx = new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)); }
            catch (ArgumentException ex)
            {
                ThrowTerminatingError(new ErrorRecord(ex, "InvalidTensorTypePattern", ErrorCategory.InvalidArgument, pattern));
                throw;
            }
            list.Add((rx, ParseType(e.Value?.ToString() ?? "", nameof(TensorType))));
        }
        return list;
    }

    /// <summary>
    /// IProgress that calls back synchronously on the reporting thread (no SynchronizationContext hop), at most
    /// every 100 ms (a model of many small tensors would otherwise flood the host), and always for the final report.
    /// </summary>
    private sealed class SyncProgress<T>(Action<T> report, Func<T, bool>? isFinal = null) : IProgress<T>
    {
        private long _last;
        public void Report(T value)
        {
            long now = Environment.TickCount64;
            if (isFinal?.Invoke(value) != true && now - _last < 100) return;
            _last = now;
            report(value);
        }
    }
}
