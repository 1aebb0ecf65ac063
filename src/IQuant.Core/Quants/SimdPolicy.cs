using System.Runtime.Intrinsics.X86;

namespace IQuant.Core.Quants;

/// <summary>Which instruction-set path a kernel may use.</summary>
public enum SimdLevel
{
    /// <summary>Plain scalar C#: the reference path.</summary>
    Scalar = 0,
    /// <summary>256-bit vectors (AVX2/FMA).</summary>
    Avx2 = 1,
    /// <summary>512-bit vectors (AVX-512 F/BW/VL).</summary>
    Avx512 = 2,
}

/// <summary>
/// Chooses the SIMD path at run time. The hardware level is detected with the <c>IsSupported</c> checks
/// (not <c>Vector512.IsHardwareAccelerated</c>, which is false on CPUs where .NET prefers 256-bit vectors even
/// though AVX-512 is there). <see cref="Override"/> caps the level for the current logical call chain
/// (it flows into Parallel.For workers), so tests can force the scalar path without touching other tests.
/// The environment variable <c>IQUANT_SIMD</c> (scalar, avx2, avx512) caps it process-wide.
/// </summary>
public static class SimdPolicy
{
    private static readonly AsyncLocal<SimdLevel?> s_override = new();

    /// <summary>The best level this CPU supports, capped by IQUANT_SIMD.</summary>
    public static SimdLevel Hardware { get; } = Detect();

    /// <summary>The level kernels should use now.</summary>
    public static SimdLevel Current
    {
        get
        {
            var o = s_override.Value;
            return o is { } v && v < Hardware ? v : Hardware;
        }
    }

    /// <summary>Caps the level for the current async flow until the returned scope is disposed.</summary>
    public static IDisposable Override(SimdLevel level)
    {
        var previous = s_override.Value;
        s_override.Value = level;
        return new Scope(previous);
    }

    private sealed class Scope(SimdLevel? previous) : IDisposable
    {
        public void Dispose() => s_override.Value = previous;
    }

    private static SimdLevel Detect()
    {
        SimdLevel hw = SimdLevel.Scalar;
        if (Avx2.IsSupported && Fma.IsSupported) hw = SimdLevel.Avx2;
        if (hw == SimdLevel.Avx2 && Avx512F.IsSupported && Avx512BW.IsSupported && Avx512F.VL.IsSupported) hw = SimdLevel.Avx512;
        var env = Environment.GetEnvironmentVariable("IQUANT_SIMD");
        if (!string.IsNullOrEmpty(env) && Enum.TryParse<SimdLevel>(env, ignoreCase: true, out var cap) && cap < hw) hw = cap;
        return hw;
    }
}
