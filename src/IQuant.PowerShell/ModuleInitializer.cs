using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;

namespace IQuant.PowerShell;

/// <summary>
/// Loads IQuant.Core and its NuGet dependencies (System.Numerics.Tensors, Microsoft.ML.Tokenizers, ...) into
/// a private <see cref="AssemblyLoadContext"/>, from the <c>lib</c> folder beside this assembly. Another module
/// that ships a different version of the same packages then cannot clash with ours. Only this assembly lives
/// in PowerShell's default context; its references to IQuant.Core are resolved through
/// <see cref="AssemblyLoadContext.Resolving"/>, which the default context raises for assemblies it cannot find.
/// </summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    private static readonly string s_libDir = Path.Combine(
        Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location)!, "lib");
    private static readonly IQuantLoadContext s_context = new(s_libDir);

    /// <inheritdoc/>
    public void OnImport() => AssemblyLoadContext.Default.Resolving += ResolveIntoPrivateContext;

    /// <inheritdoc/>
    public void OnRemove(PSModuleInfo psModuleInfo) => AssemblyLoadContext.Default.Resolving -= ResolveIntoPrivateContext;

    private static Assembly? ResolveIntoPrivateContext(AssemblyLoadContext context, AssemblyName name)
    {
        // Only IQuant.Core is requested by the cmdlet assembly; everything else it needs is loaded inside
        // the private context by IQuantLoadContext.Load.
        if (!string.Equals(name.Name, "IQuant.Core", StringComparison.Ordinal)) return null;
        return s_context.LoadFromAssemblyName(name);
    }

    private sealed class IQuantLoadContext(string dir) : AssemblyLoadContext("IQuant", isCollectible: false)
    {
        protected override Assembly? Load(AssemblyName name)
        {
            var path = Path.Combine(dir, name.Name + ".dll");
            // Assemblies we ship are ours; anything else (the framework, PowerShell) comes from the default context.
            return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
        }

        protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
        {
            var path = Path.Combine(dir, unmanagedDllName);
            return File.Exists(path) ? LoadUnmanagedDllFromPath(path) : IntPtr.Zero;
        }
    }
}
