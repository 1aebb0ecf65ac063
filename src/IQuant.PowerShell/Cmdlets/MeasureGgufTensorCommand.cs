using System.Management.Automation;
using IQuant.Core.Gguf;
using IQuant.Core.Stats;
using IQuant.PowerShell.Internal;

namespace IQuant.PowerShell.Cmdlets;

/// <summary>Measure-GgufTensor: statistics of tensor values (dequantizing as needed).</summary>
[Cmdlet(VerbsDiagnostic.Measure, "GgufTensor", DefaultParameterSetName = "Tensor")]
[OutputType(typeof(GgufTensorStats))]
public sealed class MeasureGgufTensorCommand : TensorInputCmdlet
{
    /// <summary>Number of histogram bins (0 = no histogram).</summary>
    [Parameter]
    [ValidateRange(0, 100000)]
    public int Histogram { get; set; }

    /// <inheritdoc/>
    private protected override void ProcessTensors(GgufFile file, IReadOnlyList<GgufTensorInfo> tensors, BackgroundWork work, CancellationToken ct)
    {
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            PostProgress(work, $"Measure-GgufTensor {System.IO.Path.GetFileName(file.Path)}", i, tensors.Count, t.Name);
            try
            {
                var s = TensorStatistics.Compute(file, t, Histogram, ThrottleLimit, ct);
                var o = new GgufTensorStats
                {
                    Name = t.Name, Type = t.TypeInfo?.DisplayName ?? t.TypeId.ToString(), Path = file.Path, Count = s.Count,
                    Min = s.Min, Max = s.Max, Mean = s.Mean, Std = s.Std, AbsMax = s.AbsMax, Rms = s.Rms, Kurtosis = s.Kurtosis,
                    Outliers = s.OutlierFraction, NonFinite = s.NonFinite, HistogramEdges = s.HistogramEdges, Histogram = s.Histogram,
                };
                work.Post(c => c.WriteObject(o));
            }
            catch (NotSupportedException ex)
            {
                work.Post(c => c.WriteError(new ErrorRecord(ex, "TensorTypeNotReadable", ErrorCategory.NotImplemented, t.Name)));
            }
        }
        PostProgress(work, "Measure-GgufTensor", tensors.Count, tensors.Count, "");
    }
}
