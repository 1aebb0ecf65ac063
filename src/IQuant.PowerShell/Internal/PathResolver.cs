using System.Management.Automation;

namespace IQuant.PowerShell.Internal;

/// <summary>Resolves -Path (wildcards) and -LiteralPath arguments to file-system paths, as PowerShell users expect.</summary>
internal static class PathResolver
{
    /// <summary>
    /// Resolves each path to one or more existing file-system paths. Paths that do not exist or are not on the
    /// FileSystem provider become non-terminating errors (PathNotFound / NotAFileSystemPath).
    /// </summary>
    public static List<string> ResolveExisting(PSCmdlet cmdlet, IEnumerable<string> paths, bool literal)
    {
        var result = new List<string>();
        foreach (var p in paths)
        {
            try
            {
                if (literal)
                {
                    var full = cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath(p, out var provider, out _);
                    if (!IsFileSystem(provider)) { NotFileSystem(cmdlet, p); continue; }
                    if (!File.Exists(full) && !Directory.Exists(full)) { NotFound(cmdlet, p); continue; }
                    result.Add(full);
                }
                else
                {
                    var resolved = cmdlet.SessionState.Path.GetResolvedProviderPathFromPSPath(p, out var provider);
                    if (!IsFileSystem(provider)) { NotFileSystem(cmdlet, p); continue; }
                    if (resolved.Count == 0) { NotFound(cmdlet, p); continue; }
                    result.AddRange(resolved);
                }
            }
            catch (ItemNotFoundException) { NotFound(cmdlet, p); }
            catch (System.Management.Automation.DriveNotFoundException) { NotFound(cmdlet, p); }
            catch (ProviderNotFoundException) { NotFileSystem(cmdlet, p); }
        }
        return result;
    }

    /// <summary>Resolves an output path (which need not exist) to a file-system path; throws a terminating error otherwise.</summary>
    public static string ResolveOutput(PSCmdlet cmdlet, string path)
    {
        var full = cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath(path, out var provider, out _);
        if (!IsFileSystem(provider))
            cmdlet.ThrowTerminatingError(new ErrorRecord(new ArgumentException($"'{path}' is not a file-system path."),
                "NotAFileSystemPath", ErrorCategory.InvalidArgument, path));
        return full;
    }

    private static bool IsFileSystem(ProviderInfo provider) =>
        string.Equals(provider.Name, "FileSystem", StringComparison.OrdinalIgnoreCase);

    private static void NotFound(PSCmdlet cmdlet, string p) =>
        cmdlet.WriteError(new ErrorRecord(new ItemNotFoundException($"Cannot find path '{p}' because it does not exist."),
            "PathNotFound", ErrorCategory.ObjectNotFound, p));

    private static void NotFileSystem(PSCmdlet cmdlet, string p) =>
        cmdlet.WriteError(new ErrorRecord(new ArgumentException($"'{p}' is not a file-system path; IQuant reads files."),
            "NotAFileSystemPath", ErrorCategory.InvalidArgument, p));
}
