using System.Management.Automation;

namespace IQuant.PowerShell.Internal;

/// <summary>Resolves a parameter that must name exactly one existing file, with a terminating error of a given id otherwise.</summary>
internal static class SingleFile
{
    /// <summary>The one file <paramref name="path"/> names (wildcards allowed); terminates with <paramref name="notFoundId"/> or AmbiguousPath.</summary>
    public static string Resolve(PSCmdlet cmdlet, string path, string notFoundId, string what)
    {
        List<string> found;
        if (!WildcardPattern.ContainsWildcardCharacters(path))
        {
            string full;
            try { full = cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath(path, out _, out _); }
            catch (Exception ex) when (ex is ItemNotFoundException or System.Management.Automation.DriveNotFoundException or ProviderNotFoundException or NotSupportedException)
            { full = ""; }
            if (full.Length == 0 || !File.Exists(full))
                cmdlet.ThrowTerminatingError(new ErrorRecord(new FileNotFoundException($"{what} '{path}' was not found.", path), notFoundId, ErrorCategory.ObjectNotFound, path));
            return full;
        }
        found = PathResolver.ResolveExisting(cmdlet, [path], literal: false);
        if (found.Count != 1)
            cmdlet.ThrowTerminatingError(new ErrorRecord(new ArgumentException(found.Count == 0 ? $"{what} '{path}' was not found." : $"'{path}' matches {found.Count} files; give one."),
                found.Count == 0 ? notFoundId : "AmbiguousPath", found.Count == 0 ? ErrorCategory.ObjectNotFound : ErrorCategory.InvalidArgument, path));
        return found[0];
    }
}
