namespace IQuant.Core.Gguf;

/// <summary>
/// Thrown when a file is not a valid GGUF model (or cannot be opened as one). <see cref="ErrorId"/> is stable and
/// suitable for PowerShell ErrorRecords; the message names the offending offset and value.
/// </summary>
/// <remarks>
/// Error ids (all constants of <see cref="GgufErrorIds"/>):
/// <list type="table">
/// <item><term>GgufFileNotFound</term><description>the path (or a directory on it) does not exist.</description></item>
/// <item><term>GgufNotAFile</term><description>the path is a directory or not a regular file.</description></item>
/// <item><term>GgufAccessDenied</term><description>the file cannot be opened for reading (permissions).</description></item>
/// <item><term>GgufIOError</term><description>any other I/O failure while opening or mapping the file.</description></item>
/// <item><term>GgufEmptyFile</term><description>the file has 0 bytes.</description></item>
/// <item><term>GgufBadMagic</term><description>the first 4 bytes are not "GGUF".</description></item>
/// <item><term>GgufUnsupportedVersion</term><description>version is not 2 or 3.</description></item>
/// <item><term>GgufTruncated</term><description>the file ends inside the header: a fixed-size field, or the bytes a string
/// length, an array count, n_kv or n_tensors declares (at their minimum size), do not fit in the bytes left. Checked
/// before anything is allocated.</description></item>
/// <item><term>GgufStringTooLong</term><description>a string length exceeds <see cref="GgufReadOptions.MaxStringLength"/> (or 2^31-1).</description></item>
/// <item><term>GgufArrayTooLong</term><description>an array count exceeds <see cref="GgufReadOptions.MaxArrayCount"/>.</description></item>
/// <item><term>GgufTooManyKeys</term><description>n_kv exceeds <see cref="GgufReadOptions.MaxKeys"/>.</description></item>
/// <item><term>GgufTooManyTensors</term><description>n_tensors exceeds <see cref="GgufReadOptions.MaxTensors"/>.</description></item>
/// <item><term>GgufUnknownValueType</term><description>a KV value type or array element type id is not 0..12.</description></item>
/// <item><term>GgufNestedArray</term><description>an array whose elements are arrays.</description></item>
/// <item><term>GgufBadAlignment</term><description><c>general.alignment</c> is not of type UINT32.</description></item>
/// <item><term>GgufBadAlignmentValue</term><description><c>general.alignment</c> is 0 or not a power of two.</description></item>
/// <item><term>GgufTooManyDimensions</term><description>a tensor has n_dims &gt; 4.</description></item>
/// <item><term>GgufBadDimension</term><description>n_dims is 0, or a dimension is 0 or &gt; 2^63-1.</description></item>
/// <item><term>GgufElementCountOverflow</term><description>the product of the dimensions (or the byte size) overflows 63 bits.</description></item>
/// <item><term>GgufUnknownTensorType</term><description>a tensor type id that ik_llama.cpp does not define.</description></item>
/// <item><term>GgufBlockSizeMismatch</term><description>ne0 is not a multiple of the type's block size.</description></item>
/// <item><term>GgufDuplicateTensorName</term><description>two tensors (in any shard) share a name.</description></item>
/// <item><term>GgufMisalignedTensor</term><description>a tensor offset is not a multiple of the alignment.</description></item>
/// <item><term>GgufTensorOutOfBounds</term><description>a tensor's bytes (data_start + offset + nbytes) extend past the end of the file.</description></item>
/// <item><term>GgufOverlappingTensors</term><description>two tensors' byte ranges overlap.</description></item>
/// <item><term>GgufSplitNotFirstShard</term><description>a split set was opened at a shard other than the first.</description></item>
/// <item><term>GgufSplitMissingShard</term><description>a shard of a split set is not found next to the first.</description></item>
/// <item><term>GgufSplitMismatch</term><description>split.no / split.count / split.tensors.count (or their types, or the file names) are inconsistent.</description></item>
/// </list>
/// </remarks>
public sealed class GgufFormatException : Exception
{
    /// <summary>Creates the exception.</summary>
    public GgufFormatException(string errorId, string path, long? offset, string message, Exception? inner = null)
        : base(message, inner)
    {
        ErrorId = errorId;
        Path = path;
        Offset = offset;
    }

    /// <summary>Stable id (see the remarks of <see cref="GgufFormatException"/> and <see cref="GgufErrorIds"/>).</summary>
    public string ErrorId { get; }

    /// <summary>The file that failed.</summary>
    public string Path { get; }

    /// <summary>Byte offset in <see cref="Path"/> of the offending field, when there is one.</summary>
    public long? Offset { get; }
}

/// <summary>The stable error ids of <see cref="GgufFormatException"/> and <see cref="GgufWriteException"/>.</summary>
public static class GgufErrorIds
{
#pragma warning disable CS1591
    public const string FileNotFound = "GgufFileNotFound";
    public const string NotAFile = "GgufNotAFile";
    public const string AccessDenied = "GgufAccessDenied";
    public const string IOError = "GgufIOError";
    public const string EmptyFile = "GgufEmptyFile";
    public const string BadMagic = "GgufBadMagic";
    public const string UnsupportedVersion = "GgufUnsupportedVersion";
    public const string Truncated = "GgufTruncated";
    public const string StringTooLong = "GgufStringTooLong";
    public const string ArrayTooLong = "GgufArrayTooLong";
    public const string TooManyKeys = "GgufTooManyKeys";
    public const string TooManyTensors = "GgufTooManyTensors";
    public const string UnknownValueType = "GgufUnknownValueType";
    public const string NestedArray = "GgufNestedArray";
    public const string BadAlignment = "GgufBadAlignment";
    public const string BadAlignmentValue = "GgufBadAlignmentValue";
    public const string TooManyDimensions = "GgufTooManyDimensions";
    public const string BadDimension = "GgufBadDimension";
    public const string ElementCountOverflow = "GgufElementCountOverflow";
    public const string UnknownTensorType = "GgufUnknownTensorType";
    public const string BlockSizeMismatch = "GgufBlockSizeMismatch";
    public const string DuplicateTensorName = "GgufDuplicateTensorName";
    public const string MisalignedTensor = "GgufMisalignedTensor";
    public const string TensorOutOfBounds = "GgufTensorOutOfBounds";
    public const string OverlappingTensors = "GgufOverlappingTensors";
    public const string SplitNotFirstShard = "GgufSplitNotFirstShard";
    public const string SplitMissingShard = "GgufSplitMissingShard";
    public const string SplitMismatch = "GgufSplitMismatch";

    // Writer (GgufWriteException)
    public const string WriteTargetExists = "GgufWriteTargetExists";
    public const string WriteTargetIsInput = "GgufWriteTargetIsInput";
    public const string WriteInvalidTensor = "GgufWriteInvalidTensor";
    public const string WriteInvalidMetadata = "GgufWriteInvalidMetadata";
    public const string WriteSizeMismatch = "GgufWriteSizeMismatch";
    public const string WriteIncomplete = "GgufWriteIncomplete";
    public const string WriteFailed = "GgufWriteFailed";
#pragma warning restore CS1591
}

/// <summary>
/// Thrown by <see cref="GgufWriter"/> for refused targets and invalid input. Error ids:
/// GgufWriteTargetExists (target exists and overwrite was not allowed), GgufWriteTargetIsInput (target is one of
/// the input files, also via symlinks), GgufWriteInvalidTensor (bad name/shape/type, duplicate name, bad shard
/// assignment), GgufWriteInvalidMetadata (bad key or value), GgufWriteSizeMismatch (tensor data length differs from
/// its byte size), GgufWriteIncomplete (Commit before all tensor bytes were supplied), GgufWriteFailed (I/O).
/// </summary>
public sealed class GgufWriteException : IOException
{
    /// <summary>Creates the exception.</summary>
    public GgufWriteException(string errorId, string path, string message, Exception? inner = null) : base(message, inner)
    {
        ErrorId = errorId;
        Path = path;
    }

    /// <summary>Stable id (GgufWrite*).</summary>
    public string ErrorId { get; }

    /// <summary>The target path concerned.</summary>
    public string Path { get; }
}
