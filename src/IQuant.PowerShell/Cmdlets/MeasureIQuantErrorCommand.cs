using System.Management.Automation;
using IQuant.Core.Gguf;
using IQuant.Core.Quantization;
using IQuant.Core.Quants;
using IQuant.Core.Types;
using IQuant.PowerShell.Internal;

namespace IQuant.PowerShell.Cmdlets;

/// <summary>Measure-IQuantError: what quantizing tensors to given types would cost, without writing anything.</summary>
[Cmdlet(VerbsDiagnostic.Measure, "IQuantError", DefaultParameterSetName = "Tensor")]
[OutputType(typeof(IQuantErrorResult))]
public sealed class MeasureIQuantErrorCommand : TensorInputCmdlet
{
    /// <summary>Candidate types.</summary>
    [Parameter(Mandatory = true)]
    [ArgumentCompleter(typeof(TypeNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] Type { get; set; } = [];

    /// <summary>Importance matrix (.dat or GGUF) to weight the quantizer and the error.</summary>
    [Parameter]
    public string? Imatrix { get; set; }

    /// <summary>Measure every n-th row only (faster on big tensors).</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int RowStride { get; set; } = 1;

    private List<GgmlType> _types = [];
    private ImatrixFile? _imatrix;

    /// <inheritdoc/>
    protected override void BeginProcessing()
    {
        foreach (var n in Type)
        {
            if (!TypeTable.TryParse(n, out var info) || !Codecs.CanQuantize(info.Type))
                ThrowTerminatingError(new ErrorRecord(new ArgumentException($"-Type '{n}' is not a type IQuant can write."), "UnknownTargetType", ErrorCategory.InvalidArgument, n));
            _types.Add(info.Type);
        }
        if (!string.IsNullOrEmpty(Imatrix))
        {
            var p = PathResolver.ResolveExisting(this, [Imatrix], literal: true);
            if (p.Count == 0) ThrowTerminatingError(new ErrorRecord(new FileNotFoundException(Imatrix), "ImatrixNotFound", ErrorCategory.ObjectNotFound, Imatrix));
            try { _imatrix = ImatrixFile.Load(p[0]); }
            catch (ImatrixFormatException ex) { ThrowTerminatingError(new ErrorRecord(ex, ex.ErrorId, ErrorCategory.InvalidData, Imatrix)); }
        }
    }

    /// <inheritdoc/>
    private protected override void ProcessTensors(GgufFile file, IReadOnlyList<GgufTensorInfo> tensors, BackgroundWork work, CancellationToken ct)
    {
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            PostProgress(work, $"Measure-IQuantError {System.IO.Path.GetFileName(file.Path)}", i, tensors.Count, t.Name);
            if (t.Shape.Length < 2 || t.Rows < 1 || !Codecs.CanDequantize(t.Type))
            {
                work.Post(c => c.WriteWarning($"Skipping '{t.Name}': not a readable weight matrix."));
                continue;
            }
            var usable = _types.Where(ty => t.RowLength % TypeTable.Get(ty).BlockSize == 0).ToList();
            foreach (var ty in _types.Except(usable))
                work.Post(c => c.WriteWarning($"'{t.Name}' has rows of {t.RowLength}, not a multiple of the {ty} block size; {ty} is skipped for it."));
            if (usable.Count == 0) continue;
            float[]? im = null;
            try { im = QuantizePlanner.ImatrixFor(t, _imatrix, null); } catch (QuantizePlanException) { }
            foreach (var r in ErrorMeasurement.Measure(file, t, usable, im, ThrottleLimit, RowStride, ct))
            {
                var o = new IQuantErrorResult
                {
                    Name = r.Tensor, SourceType = r.SourceType.ToString(), Type = r.Type.ToString(), Bpw = r.Bpw, Bytes = r.Bytes,
                    Elements = r.Elements, Rmse = r.Rmse, RelativeError = r.RelativeError, Cosine = r.Cosine, WeightedError = r.WeightedError, Path = file.Path,
                };
                work.Post(c => c.WriteObject(o));
            }
        }
        PostProgress(work, "Measure-IQuantError", tensors.Count, tensors.Count, "");
    }
}
