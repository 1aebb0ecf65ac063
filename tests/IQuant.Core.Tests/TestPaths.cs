namespace IQuant.Core.Tests;

/// <summary>Where the repository's and the shared reference data live.</summary>
public static class TestPaths
{
    /// <summary>The repository root (the folder holding IQuant.sln).</summary>
    public static string RepoRoot { get; } = FindRoot();

    /// <summary>The bundled ik_llama.cpp reference vectors.</summary>
    public static string Vectors => Path.Combine(RepoRoot, "tests", "vectors");

    /// <summary>The bundled demo model.</summary>
    public static string DemoModel => Path.Combine(RepoRoot, "models", "iquant-demo-f16.gguf");

    /// <summary>The shared folder beside the checkout (reference models, vocab files), or null when absent.</summary>
    public static string? Shared
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("IQUANT_SHARED");
            var p = !string.IsNullOrEmpty(env) ? env : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
            return Directory.Exists(Path.Combine(p, "models")) ? p : null;
        }
    }

    /// <summary>A path under the shared folder; skips the calling test (with the reason) when it is absent.</summary>
    public static string RequireShared(params string[] parts)
    {
        var s = Shared;
        if (s is null)
            Assert.Skip("needs the shared reference folder (../shared beside the repository, or IQUANT_SHARED); not present here");
        var p = Path.Combine([s, .. parts]);
        if (!File.Exists(p) && !Directory.Exists(p))
            Assert.Skip($"shared reference file {p} is not present");
        return p;
    }

    private static string FindRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "IQuant.sln"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("Cannot find the repository root (IQuant.sln) above " + AppContext.BaseDirectory);
    }
}
