using IQuant.Core.Quants;
using IQuant.Core.Types;

namespace IQuant.Core.Kernels;

/// <summary>How a weight type consumes activations.</summary>
internal enum ActivationKind
{
    /// <summary>No integer kernel: dequantize-then-float-dot reference.</summary>
    Reference,
    /// <summary>Float weights (F32, F16): float dot with the f32 activations.</summary>
    Float,
    /// <summary>Super-block types: activations quantized to Q8_K.</summary>
    Q8K,
    /// <summary>Q8_0 weights: activations quantized to Q8_0 blocks of 32.</summary>
    Q80,
}

/// <summary>Per-type kernel table.</summary>
internal sealed unsafe class TypeKernel
{
    public required GgmlType Type { get; init; }
    public required ActivationKind Act { get; init; }
    public delegate* managed<byte*, int, Decoded*, void> DecodeScalar;
    public delegate* managed<byte*, int, Decoded*, void> DecodeAvx2;
    public bool HasMin;

    private static readonly Dictionary<GgmlType, TypeKernel> s_kernels = Build();

    public static TypeKernel Get(GgmlType type) =>
        s_kernels.TryGetValue(type, out var k) ? k
        : Codecs.CanDequantize(type) ? new TypeKernel { Type = type, Act = ActivationKind.Reference }
        : throw new NotSupportedException($"IQuant cannot multiply {type} weights.");

    public static bool HasKernel(GgmlType type) => s_kernels.ContainsKey(type);

    public delegate* managed<byte*, int, Decoded*, void> Decoder(SimdLevel level) =>
        level != SimdLevel.Scalar && DecodeAvx2 != null ? DecodeAvx2 : DecodeScalar;

    private static Dictionary<GgmlType, TypeKernel> Build()
    {
        var d = new Dictionary<GgmlType, TypeKernel>();
        void Q(GgmlType t, delegate* managed<byte*, int, Decoded*, void> sc, delegate* managed<byte*, int, Decoded*, void> v2, bool min = false) =>
            d[t] = new TypeKernel { Type = t, Act = ActivationKind.Q8K, DecodeScalar = sc, DecodeAvx2 = v2, HasMin = min };
        d[GgmlType.F32] = new TypeKernel { Type = GgmlType.F32, Act = ActivationKind.Float };
        d[GgmlType.F16] = new TypeKernel { Type = GgmlType.F16, Act = ActivationKind.Float };
        d[GgmlType.Q8_0] = new TypeKernel { Type = GgmlType.Q8_0, Act = ActivationKind.Q80 };
        Q(GgmlType.IQ4_KS, &Kernels.DecodeScalar.Iq4Ks, &Kernels.DecodeAvx2.Iq4Ks);
        Q(GgmlType.IQ2_KS, &Kernels.DecodeScalar.Iq2Ks, &Kernels.DecodeAvx2.Iq2Ks);
        Q(GgmlType.IQ3_KS, &Kernels.DecodeScalar.Iq3Ks, &Kernels.DecodeAvx2.Iq3Ks);
        Q(GgmlType.IQ2_K, &Kernels.DecodeScalar.Iq2K, &Kernels.DecodeAvx2.Iq2K);
        Q(GgmlType.IQ3_K, &Kernels.DecodeScalar.Iq3K, &Kernels.DecodeAvx2.Iq3K);
        Q(GgmlType.IQ4_K, &Kernels.DecodeScalar.Iq4K, &Kernels.DecodeAvx2.Iq4K);
        Q(GgmlType.IQ5_K, &Kernels.DecodeScalar.Iq5K, &Kernels.DecodeAvx2.Iq5K);
        Q(GgmlType.IQ5_KS, &Kernels.DecodeScalar.Iq5Ks, &Kernels.DecodeAvx2.Iq5Ks);
        Q(GgmlType.IQ6_K, &Kernels.DecodeScalar.Iq6K, &Kernels.DecodeAvx2.Iq6K);
        Q(GgmlType.IQ4_KSS, &Kernels.DecodeScalar.Iq4Kss, &Kernels.DecodeAvx2.Iq4Kss);
        Q(GgmlType.IQ2_KL, &Kernels.DecodeScalar.Iq2Kl, &Kernels.DecodeAvx2.Iq2Kl);
        Q(GgmlType.Q2_K, &Kernels.DecodeScalar.Q2K, &Kernels.DecodeAvx2.Q2K, min: true);
        Q(GgmlType.Q3_K, &Kernels.DecodeScalar.Q3K, &Kernels.DecodeAvx2.Q3K);
        Q(GgmlType.Q4_K, &Kernels.DecodeScalar.Q4K, &Kernels.DecodeAvx2.Q4K, min: true);
        Q(GgmlType.Q5_K, &Kernels.DecodeScalar.Q5K, &Kernels.DecodeAvx2.Q5K, min: true);
        Q(GgmlType.Q6_K, &Kernels.DecodeScalar.Q6K, &Kernels.DecodeAvx2.Q6K);
        return d;
    }
}
