using System.Runtime.Intrinsics.X86;
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
    /// <summary>Fused AVX2 row kernel: (w, act, actRowBytes, nVec, y, rowStart, rowEnd).</summary>
    public delegate* managed<WeightMatrix, byte*, long, int, float*, int, int, void> RowsAvx2;
    /// <summary>Row kernel for the AVX-512 level (AVX-VNNI / VBMI variants of the fused kernels when the CPU has them).</summary>
    public delegate* managed<WeightMatrix, byte*, long, int, float*, int, int, void> RowsAvx512;
    public bool HasMin;

    private static readonly Dictionary<GgmlType, TypeKernel> s_kernels = Build();

    public static TypeKernel Get(GgmlType type) =>
        s_kernels.TryGetValue(type, out var k) ? k
        : Codecs.CanDequantize(type) ? new TypeKernel { Type = type, Act = ActivationKind.Reference }
        : throw new NotSupportedException($"IQuant cannot multiply {type} weights.");

    public static bool HasKernel(GgmlType type) => s_kernels.ContainsKey(type);

    /// <summary>The fused row kernel for <paramref name="level"/>, or null for the scalar (decode-then-dot) path.</summary>
    public delegate* managed<WeightMatrix, byte*, long, int, float*, int, int, void> Rows(SimdLevel level) =>
        level == SimdLevel.Avx512 ? RowsAvx512 : level == SimdLevel.Avx2 ? RowsAvx2 : null;

    private static Dictionary<GgmlType, TypeKernel> Build()
    {
        var d = new Dictionary<GgmlType, TypeKernel>();
        bool vnni = AvxVnni.IsSupported, vbmi = Avx512Vbmi.VL.IsSupported;
        void Q(GgmlType t, delegate* managed<byte*, int, Decoded*, void> sc,
            delegate* managed<WeightMatrix, byte*, long, int, float*, int, int, void> avx2,
            delegate* managed<WeightMatrix, byte*, long, int, float*, int, int, void> avx512, bool min = false) =>
            d[t] = new TypeKernel { Type = t, Act = ActivationKind.Q8K, DecodeScalar = sc, RowsAvx2 = avx2, RowsAvx512 = avx512, HasMin = min };
        d[GgmlType.F32] = new TypeKernel { Type = GgmlType.F32, Act = ActivationKind.Float };
        d[GgmlType.F16] = new TypeKernel { Type = GgmlType.F16, Act = ActivationKind.Float };
        d[GgmlType.Q8_0] = new TypeKernel { Type = GgmlType.Q8_0, Act = ActivationKind.Q80 };
        Q(GgmlType.IQ4_KS, &Kernels.DecodeScalar.Iq4Ks,
            &FusedAvx2.Rows<Iq4KsBlock, VnniOff>,
            vnni ? &FusedAvx2.Rows<Iq4KsBlock, VnniOn> : &FusedAvx2.Rows<Iq4KsBlock, VnniOff>);
        Q(GgmlType.IQ2_KS, &Kernels.DecodeScalar.Iq2Ks,
            &FusedAvx2.Rows<Iq2KsBlock, VnniOff>,
            vnni ? &FusedAvx2.Rows<Iq2KsBlock, VnniOn> : &FusedAvx2.Rows<Iq2KsBlock, VnniOff>);
        Q(GgmlType.IQ3_KS, &Kernels.DecodeScalar.Iq3Ks,
            &FusedAvx2.Rows<Iq3KsBlock, VnniOff>,
            vnni ? &FusedAvx2.Rows<Iq3KsBlock, VnniOn> : &FusedAvx2.Rows<Iq3KsBlock, VnniOff>);
        Q(GgmlType.IQ2_K, &Kernels.DecodeScalar.Iq2K,
            &FusedAvx2.Rows<Iq2KBlock, VnniOff>,
            vnni ? &FusedAvx2.Rows<Iq2KBlock, VnniOn> : &FusedAvx2.Rows<Iq2KBlock, VnniOff>);
        Q(GgmlType.IQ3_K, &Kernels.DecodeScalar.Iq3K,
            &FusedAvx2.Rows<Iq3KBlock, VnniOff>,
            vnni ? &FusedAvx2.Rows<Iq3KBlock, VnniOn> : &FusedAvx2.Rows<Iq3KBlock, VnniOff>);
        Q(GgmlType.IQ4_K, &Kernels.DecodeScalar.Iq4K,
            &FusedAvx2.Rows<Iq4KBlock, VnniOff>,
            vnni ? &FusedAvx2.Rows<Iq4KBlock, VnniOn> : &FusedAvx2.Rows<Iq4KBlock, VnniOff>);
        Q(GgmlType.IQ5_K, &Kernels.DecodeScalar.Iq5K,
            &FusedAvx2.Rows<Iq5KBlock, VnniOff>,
            vnni ? &FusedAvx2.Rows<Iq5KBlock, VnniOn> : &FusedAvx2.Rows<Iq5KBlock, VnniOff>);
        Q(GgmlType.IQ5_KS, &Kernels.DecodeScalar.Iq5Ks,
            &FusedAvx2.Rows<Iq5KsBlock, VnniOff>,
            vnni ? &FusedAvx2.Rows<Iq5KsBlock, VnniOn> : &FusedAvx2.Rows<Iq5KsBlock, VnniOff>);
        Q(GgmlType.IQ6_K, &Kernels.DecodeScalar.Iq6K,
            &FusedAvx2.Rows<Iq6KBlock, VnniOff>,
            vbmi && vnni ? &FusedAvx2.Rows<Iq6KVbmiBlock, VnniOn> : vbmi ? &FusedAvx2.Rows<Iq6KVbmiBlock, VnniOff> : vnni ? &FusedAvx2.Rows<Iq6KBlock, VnniOn> : &FusedAvx2.Rows<Iq6KBlock, VnniOff>);
        Q(GgmlType.IQ4_KSS, &Kernels.DecodeScalar.Iq4Kss,
            &FusedAvx2.Rows<Iq4KssBlock, VnniOff>,
            vnni ? &FusedAvx2.Rows<Iq4KssBlock, VnniOn> : &FusedAvx2.Rows<Iq4KssBlock, VnniOff>);
        Q(GgmlType.IQ2_KL, &Kernels.DecodeScalar.Iq2Kl,
            &FusedAvx2.Rows<Iq2KlBlock, VnniOff>,
            vnni ? &FusedAvx2.Rows<Iq2KlBlock, VnniOn> : &FusedAvx2.Rows<Iq2KlBlock, VnniOff>);
        Q(GgmlType.Q2_K, &Kernels.DecodeScalar.Q2K,
            &FusedAvx2.Rows<Q2KBlock, VnniOff>,
            vnni ? &FusedAvx2.Rows<Q2KBlock, VnniOn> : &FusedAvx2.Rows<Q2KBlock, VnniOff>, min: true);
        Q(GgmlType.Q3_K, &Kernels.DecodeScalar.Q3K,
            &FusedAvx2.Rows<Q3KBlock, VnniOff>,
            vnni ? &FusedAvx2.Rows<Q3KBlock, VnniOn> : &FusedAvx2.Rows<Q3KBlock, VnniOff>);
        Q(GgmlType.Q4_K, &Kernels.DecodeScalar.Q4K,
            &FusedAvx2.Rows<Q4KBlock, VnniOff>,
            vnni ? &FusedAvx2.Rows<Q4KBlock, VnniOn> : &FusedAvx2.Rows<Q4KBlock, VnniOff>, min: true);
        Q(GgmlType.Q5_K, &Kernels.DecodeScalar.Q5K,
            &FusedAvx2.Rows<Q5KBlock, VnniOff>,
            vnni ? &FusedAvx2.Rows<Q5KBlock, VnniOn> : &FusedAvx2.Rows<Q5KBlock, VnniOff>, min: true);
        Q(GgmlType.Q6_K, &Kernels.DecodeScalar.Q6K,
            &FusedAvx2.Rows<Q6KBlock, VnniOff>,
            vnni ? &FusedAvx2.Rows<Q6KBlock, VnniOn> : &FusedAvx2.Rows<Q6KBlock, VnniOff>);
        return d;
    }
}
