using IQuant.Core.Gguf;
using IQuant.Core.Types;

namespace IQuant;

/// <summary>Summary of one GGUF model (a single file or a split set), emitted by Get-GgufModel.</summary>
public sealed class GgufModel
{
    public required string Path { get; init; }
    public string? Architecture { get; init; }
    public string? Name { get; init; }
    /// <summary>Total number of weights (elements of all tensors).</summary>
    public long Parameters { get; init; }
    /// <summary>Bytes on disk, all shards.</summary>
    public long FileSize { get; init; }
    public int TensorCount { get; init; }
    public int Shards { get; init; }
    /// <summary>general.file_type as llama.cpp names it (e.g. IQ4_KS), or null.</summary>
    public string? FileType { get; init; }
    /// <summary>Bits per weight over all tensor data.</summary>
    public double Bpw { get; init; }
    public long? ContextLength { get; init; }
    public long? EmbeddingLength { get; init; }
    public long? BlockCount { get; init; }
    public uint Version { get; init; }
    /// <summary>Tensor count per ggml type name.</summary>
    public required IReadOnlyDictionary<string, int> TensorTypes { get; init; }
    /// <summary>All metadata, key → value, in file order.</summary>
    public required System.Collections.Specialized.OrderedDictionary Metadata { get; init; }
    public override string ToString() => Path;
}

/// <summary>One metadata key of a GGUF file, emitted by Get-GgufMetadata.</summary>
public sealed class GgufMetadataEntry
{
    public required string Key { get; init; }
    /// <summary>The GGUF value type (for arrays, e.g. "Array[String]").</summary>
    public required string Type { get; init; }
    public object? Value { get; init; }
    /// <summary>Number of elements for arrays, else 1.</summary>
    public long Count { get; init; }
    public required string Path { get; init; }
    public override string ToString() => $"{Key} = {Format(Value)}";

    internal static string Format(object? v) => v switch
    {
        null => "",
        string s => s.Length > 80 ? s[..77] + "..." : s,
        Array a => a.Length <= 6
            ? "[" + string.Join(", ", a.Cast<object>()) + "]"
            : "[" + string.Join(", ", a.Cast<object>().Take(5)) + $", ... ({a.Length} items)]",
        _ => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };
}

/// <summary>One tensor of a GGUF file, emitted by Get-GgufTensor; ConvertTo-IQuant accepts these from the pipeline.</summary>
public sealed class GgufTensor
{
    public required string Name { get; init; }
    /// <summary>ggml type name (IQ4_KS, F16, ...).</summary>
    public required string Type { get; init; }
    public int TypeId { get; init; }
    /// <summary>ggml dimensions, ne0 (row length) first.</summary>
    public required long[] Shape { get; init; }
    public long Elements { get; init; }
    /// <summary>Bytes of tensor data (per-row meta included).</summary>
    public long Size { get; init; }
    /// <summary>Bits per weight of this tensor as stored.</summary>
    public double Bpw { get; init; }
    /// <summary>Offset of the data within its file's data section.</summary>
    public long Offset { get; init; }
    /// <summary>Absolute offset of the data in its shard file.</summary>
    public long FileOffset { get; init; }
    /// <summary>Block index from a 'blk.N.' name, or null.</summary>
    public int? Layer { get; init; }
    /// <summary>Position of the tensor in the model (0-based).</summary>
    public int Index { get; init; }
    /// <summary>The model file (for split models, the first shard: the path that identifies the model).</summary>
    public required string Path { get; init; }
    /// <summary>The shard file that holds the data.</summary>
    public required string ShardPath { get; init; }
    public override string ToString() => Name;

    internal static GgufTensor From(GgufFile file, GgufTensorInfo t) => new()
    {
        Name = t.Name,
        Type = t.TypeInfo?.DisplayName ?? $"unknown({t.TypeId})",
        TypeId = t.TypeId,
        Shape = t.Shape,
        Elements = t.Elements,
        Size = t.ByteSize,
        Bpw = t.Elements == 0 ? 0 : 8.0 * t.ByteSize / t.Elements,
        Offset = (long)t.Offset,
        FileOffset = t.FileOffset,
        Layer = t.Layer,
        Index = t.Index,
        Path = file.Path,
        ShardPath = t.ShardPath,
    };
}

/// <summary>One tensor of a ConvertTo-IQuant run (or of its -WhatIf plan).</summary>
public sealed class IQuantTensorResult
{
    public required string Name { get; init; }
    public required string SourceType { get; init; }
    public required string TargetType { get; init; }
    public long SourceBytes { get; init; }
    public long ResultBytes { get; init; }
    public long Elements { get; init; }
    public double Bpw => Elements == 0 ? 0 : 8.0 * ResultBytes / Elements;
    /// <summary>Root mean square of (dequantized − source); 0 for copied tensors and in -WhatIf plans.</summary>
    public double Rmse { get; init; }
    /// <summary>‖dequantized − source‖ / ‖source‖.</summary>
    public double RelativeError { get; init; }
    public TimeSpan Time { get; init; }
    /// <summary>True when the tensor was quantized, false when its bytes were copied.</summary>
    public bool Quantized { get; init; }
    /// <summary>False in -WhatIf plans.</summary>
    public bool Written { get; init; }
    /// <summary>Why this type was chosen (recipe rule, override, fallback).</summary>
    public string? Reason { get; init; }
    public required string Source { get; init; }
    public override string ToString() => $"{Name}: {SourceType} -> {TargetType}";
}

/// <summary>The written file of a ConvertTo-IQuant run (or the totals of its -WhatIf plan).</summary>
public sealed class IQuantFileResult
{
    /// <summary>The output file (first shard for split output).</summary>
    public required string Path { get; init; }
    public required string[] Paths { get; init; }
    public required string Source { get; init; }
    /// <summary>Bytes on disk (all shards); in -WhatIf plans, the tensor data size.</summary>
    public long Size { get; init; }
    public double Bpw { get; init; }
    public int Tensors { get; init; }
    public int QuantizedTensors { get; init; }
    public string? FileType { get; init; }
    public TimeSpan Time { get; init; }
    public bool Written { get; init; }
    public override string ToString() => Path;
}

/// <summary>Statistics of one tensor, emitted by Measure-GgufTensor.</summary>
public sealed class GgufTensorStats
{
    public required string Name { get; init; }
    public required string Type { get; init; }
    public required string Path { get; init; }
    public long Count { get; init; }
    public double Min { get; init; }
    public double Max { get; init; }
    public double Mean { get; init; }
    public double Std { get; init; }
    public double AbsMax { get; init; }
    public double Rms { get; init; }
    /// <summary>Kurtosis (not excess): 3 for a normal distribution.</summary>
    public double Kurtosis { get; init; }
    /// <summary>Fraction of values more than 6 standard deviations from the mean.</summary>
    public double Outliers { get; init; }
    /// <summary>NaN or infinite values (left out of every other statistic).</summary>
    public long NonFinite { get; init; }
    /// <summary>Bin edges (bins + 1 values) when -Histogram was given.</summary>
    public double[]? HistogramEdges { get; init; }
    /// <summary>Counts per bin when -Histogram was given.</summary>
    public long[]? Histogram { get; init; }
    public override string ToString() => Name;
}

/// <summary>One tensor × type row of Measure-IQuantError.</summary>
public sealed class IQuantErrorResult
{
    public required string Name { get; init; }
    public required string SourceType { get; init; }
    public required string Type { get; init; }
    public double Bpw { get; init; }
    public long Bytes { get; init; }
    public long Elements { get; init; }
    public double Rmse { get; init; }
    public double RelativeError { get; init; }
    public double Cosine { get; init; }
    /// <summary>Σ w·(x̂−x)² / Σ w·x² with imatrix weights w (1 without an imatrix).</summary>
    public double WeightedError { get; init; }
    public required string Path { get; init; }
    public override string ToString() => $"{Name} as {Type}";
}
