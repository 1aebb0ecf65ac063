using System.Management.Automation;
using IQuant.Core.Gguf;
using IQuant.Core.Quants;

namespace IQuant.PowerShell.Internal;

/// <summary>Turns IQuant.Core exceptions into ErrorRecords with stable ErrorIds and the right category.</summary>
internal static class Errors
{
    /// <summary>An ErrorRecord for an exception raised while working on <paramref name="target"/>.</summary>
    public static ErrorRecord From(Exception ex, object? target)
    {
        switch (ex)
        {
            case GgufFormatException g:
                return new ErrorRecord(g, g.ErrorId, g.ErrorId switch
                {
                    "GgufNotAFile" => ErrorCategory.InvalidArgument,
                    "GgufAccessDenied" => ErrorCategory.PermissionDenied,
                    "GgufSplitMissingShard" => ErrorCategory.ObjectNotFound,
                    _ => ErrorCategory.InvalidData,
                }, target);
            case QuantizationInputException q:
                return new ErrorRecord(q, q.ErrorId, ErrorCategory.InvalidData, target);
            case UnauthorizedAccessException:
                return new ErrorRecord(ex, "AccessDenied", ErrorCategory.PermissionDenied, target);
            case FileNotFoundException or DirectoryNotFoundException:
                return new ErrorRecord(ex, "PathNotFound", ErrorCategory.ObjectNotFound, target);
            case IOException:
                return new ErrorRecord(ex, "IOError", ErrorCategory.ReadError, target);
            case OperationCanceledException:
                return new ErrorRecord(ex, "OperationStopped", ErrorCategory.OperationStopped, target);
            case NotSupportedException:
                return new ErrorRecord(ex, "NotSupported", ErrorCategory.NotImplemented, target);
            case ArgumentException:
                return new ErrorRecord(ex, "InvalidArgument", ErrorCategory.InvalidArgument, target);
            default:
                return new ErrorRecord(ex, "IQuantError", ErrorCategory.NotSpecified, target);
        }
    }
}
