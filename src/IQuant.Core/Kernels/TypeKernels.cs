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
    /// <summary>Fused AVX2 row kernel: (w, act, actRowBytes, nVec, y, rowStart, rowEnd).</summary>
    public delegate* managed<WeightMatrix, byte*, long, int, float*, int, int, void> RowsAvx2;
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
        void Q(GgmlType t, delegate* managed<byte*, int, Decoded*, void> sc, delegate* managed<byte*, int, Decoded*, void> v2,
            delegate* managed<WeightMatrix, byte*, long, int, float*, int, int, void> rows, bool min = false) =>
            d[t] = new TypeKernel { Type = t, Act = ActivationKind.Q8K, DecodeScalar = sc, DecodeAvx2 = v2, RowsAvx2 = rows, HasMin = min };
        d[GgmlType.F32] = new TypeKernel { Type = GgmlType.F32, Act = ActivationKind.Float };
        d[GgmlType.F16] = new TypeKernel { Type = GgmlType.F16, Act = ActivationKind.Float };
        d[GgmlType.Q8_0] = new TypeKernel { Type = GgmlType.Q8_0, Act = ActivationKind.Q80 };
        Q(GgmlType.IQ4_KS, &Kernels.DecodeScalar.Iq4Ks, &FusedAvx2.Decode<Iq4KsBlock>, &FusedAvx2.Rows<Iq4KsBlock>);
        Q(GgmlType.IQ2_KS, &Kernels.DecodeScalar.Iq2Ks, &FusedAvx2.Decode<Iq2KsBlock>, &FusedAvx2.Rows<Iq2KsBlock>);
        Q(GgmlType.IQ3_KS, &Kernels.DecodeScalar.Iq3Ks, &FusedAvx2.Decode<Iq3KsBlock>, &FusedAvx2.Rows<Iq3KsBlock>);
        Q(GgmlType.IQ2_K, &Kernels.DecodeScalar.Iq2K, &FusedAvx2.Decode<Iq2KBlock>, &FusedAvx2.Rows<Iq2KBlock>);
        Q(GgmlType.IQ3_K, &Kernels.DecodeScalar.Iq3K, &FusedAvx2.Decode<Iq3KBlock>, &FusedAvx2.Rows<Iq3KBlock>);
        Q(GgmlType.IQ4_K, &Kernels.DecodeScalar.Iq4K, &FusedAvx2.Decode<Iq4KBlock>, &FusedAvx2.Rows<Iq4KBlock>);
        Q(GgmlType.IQ5_K, &Kernels.DecodeScalar.Iq5K, &FusedAvx2.Decode<Iq5KBlock>, &FusedAvx2.Rows<Iq5KBlock>);
        Q(GgmlType.IQ5_KS, &Kernels.DecodeScalar.Iq5Ks, &FusedAvx2.Decode<Iq5KsBlock>, &FusedAvx2.Rows<Iq5KsBlock>);
        Q(GgmlType.IQ6_K, &Kernels.DecodeScalar.Iq6K, &FusedAvx2.Decode<Iq6KBlock>, &FusedAvx2.Rows<Iq6KBlock>);
        Q(GgmlType.IQ4_KSS, &Kernels.DecodeScalar.Iq4Kss, &FusedAvx2.Decode<Iq4KssBlock>, &FusedAvx2.Rows<Iq4KssBlock>);
        Q(GgmlType.IQ2_KL, &Kernels.DecodeScalar.Iq2Kl, &FusedAvx2.Decode<Iq2KlBlock>, &FusedAvx2.Rows<Iq2KlBlock>);
        Q(GgmlType.Q2_K, &Kernels.DecodeScalar.Q2K, &FusedAvx2.Decode<Q2KBlock>, &FusedAvx2.Rows<Q2KBlock>, min: true);
        Q(GgmlType.Q3_K, &Kernels.DecodeScalar.Q3K, &FusedAvx2.Decode<Q3KBlock>, &FusedAvx2.Rows<Q3KBlock>);
        Q(GgmlType.Q4_K, &Kernels.DecodeScalar.Q4K, &FusedAvx2.Decode<Q4KBlock>, &FusedAvx2.Rows<Q4KBlock>, min: true);
        Q(GgmlType.Q5_K, &Kernels.DecodeScalar.Q5K, &FusedAvx2.Decode<Q5KBlock>, &FusedAvx2.Rows<Q5KBlock>, min: true);
        Q(GgmlType.Q6_K, &Kernels.DecodeScalar.Q6K, &FusedAvx2.Decode<Q6KBlock>, &FusedAvx2.Rows<Q6KBlock>);
        return d;
    }
}
