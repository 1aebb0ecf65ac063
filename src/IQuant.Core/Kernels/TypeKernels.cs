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
    /// <summary>32-weight block types (Q8_0, Q4_0, Q5_0, Q6_0, IQ4_NL): activations quantized to Q8_0 blocks of 32.</summary>
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
    /// <summary>Row kernel of the 32-weight block types (Q8_0 activations): (w, level, act, actRowBytes, nVec, y, start, end).</summary>
    public delegate* managed<WeightMatrix, SimdLevel, byte*, long, int, float*, int, int, void> RowsQ80;
    /// <summary>Row kernel for the AVX-512 level (AVX-VNNI / VBMI variants of the fused kernels when the CPU has them).</summary>
    public delegate* managed<WeightMatrix, byte*, long, int, float*, int, int, void> RowsAvx512;
    /// <summary>Vector512 (zmm) variant of the AVX-512 level kernel (<see cref="Fused512"/>).</summary>
    public delegate* managed<WeightMatrix, byte*, long, int, float*, int, int, void> RowsZmm;

    /// <summary>
    /// Use the zmm kernels at the AVX-512 level (environment IQUANT_ZMM=1). Off by default: on the development machine
    /// (AMD EPYC VM) they measured the same as the EVEX-encoded 256-bit kernels with AVX-VNNI <c>vpdpwssd</c> (.NET 10
    /// exposes no AVX512-VNNI intrinsics and AVX-512 has no <c>vpsignb</c>, so the zmm path needs a masked negate and
    /// a separate <c>vpmaddwd</c> + add per 64 weights), and 256-bit code avoids 512-bit frequency licences elsewhere.
    /// </summary>
    internal static bool UseZmm = Environment.GetEnvironmentVariable("IQUANT_ZMM") == "1";
    public bool HasMin;

    private static readonly Dictionary<GgmlType, TypeKernel> s_kernels = Build();

    public static TypeKernel Get(GgmlType type) =>
        s_kernels.TryGetValue(type, out var k) ? k
        : Codecs.CanDequantize(type) ? new TypeKernel { Type = type, Act = ActivationKind.Reference }
        : throw new NotSupportedException($"IQuant cannot multiply {type} weights.");

    public static bool HasKernel(GgmlType type) => s_kernels.ContainsKey(type);

    /// <summary>The fused row kernel for <paramref name="level"/>, or null for the scalar (decode-then-dot) path.</summary>
    public delegate* managed<WeightMatrix, byte*, long, int, float*, int, int, void> Rows(SimdLevel level) =>
        level == SimdLevel.Avx512 ? (UseZmm ? RowsZmm : RowsAvx512) : level == SimdLevel.Avx2 ? RowsAvx2 : null;

    /// <summary>
    /// Registers a super-block type: scalar decoder (reference), fused AVX2 kernel over <typeparamref name="T2"/>, and for
    /// the AVX-512 level the fused kernel over <typeparamref name="T5"/> (a VBMI variant where one exists) with AVX-VNNI
    /// <c>vpdpwssd</c> when the CPU has it and 8 activation rows per weight pass (32 EVEX registers).
    /// </summary>
    private static void Add<T2, T5>(Dictionary<GgmlType, TypeKernel> d, GgmlType t, delegate* managed<byte*, int, Decoded*, void> scalar, bool min = false)
        where T2 : struct, IAvx2Block where T5 : struct, IAvx2Block
    {
        d[t] = new TypeKernel
        {
            Type = t, Act = ActivationKind.Q8K, DecodeScalar = scalar, HasMin = min,
            RowsAvx2 = &FusedAvx2.Rows<T2, No, No>,
            RowsAvx512 = AvxVnni.IsSupported ? &FusedAvx2.Rows<T5, Yes, Yes> : &FusedAvx2.Rows<T5, No, Yes>,
            RowsZmm = AvxVnni.IsSupported ? &Fused512.Rows<T5, Yes> : &Fused512.Rows<T5, No>,
        };
    }

    private static Dictionary<GgmlType, TypeKernel> Build()
    {
        var d = new Dictionary<GgmlType, TypeKernel>();
        d[GgmlType.F32] = new TypeKernel { Type = GgmlType.F32, Act = ActivationKind.Float };
        d[GgmlType.F16] = new TypeKernel { Type = GgmlType.F16, Act = ActivationKind.Float };
        d[GgmlType.Q8_0] = new TypeKernel { Type = GgmlType.Q8_0, Act = ActivationKind.Q80, RowsQ80 = &RowDots.RowsB32<Q8_0Block> };
        d[GgmlType.Q4_0] = new TypeKernel { Type = GgmlType.Q4_0, Act = ActivationKind.Q80, RowsQ80 = &RowDots.RowsB32<Q4_0Block> };
        d[GgmlType.Q5_0] = new TypeKernel { Type = GgmlType.Q5_0, Act = ActivationKind.Q80, RowsQ80 = &RowDots.RowsB32<Q5_0Block> };
        d[GgmlType.Q6_0] = new TypeKernel { Type = GgmlType.Q6_0, Act = ActivationKind.Q80, RowsQ80 = &RowDots.RowsB32<Q6_0Block> };
        d[GgmlType.IQ4_NL] = new TypeKernel { Type = GgmlType.IQ4_NL, Act = ActivationKind.Q80, RowsQ80 = &RowDots.RowsB32<Iq4NlBlock> };
        bool vbmi = Avx512Vbmi.VL.IsSupported;
        Add<Iq4KsBlock, Iq4KsBlock>(d, GgmlType.IQ4_KS, &Kernels.DecodeScalar.Iq4Ks);
        Add<Iq2KsBlock, Iq2KsBlock>(d, GgmlType.IQ2_KS, &Kernels.DecodeScalar.Iq2Ks);
        Add<Iq3KsBlock, Iq3KsBlock>(d, GgmlType.IQ3_KS, &Kernels.DecodeScalar.Iq3Ks);
        Add<Iq2KBlock, Iq2KBlock>(d, GgmlType.IQ2_K, &Kernels.DecodeScalar.Iq2K);
        Add<Iq3KBlock, Iq3KBlock>(d, GgmlType.IQ3_K, &Kernels.DecodeScalar.Iq3K);
        Add<Iq4KBlock, Iq4KBlock>(d, GgmlType.IQ4_K, &Kernels.DecodeScalar.Iq4K);
        Add<Iq5KBlock, Iq5KBlock>(d, GgmlType.IQ5_K, &Kernels.DecodeScalar.Iq5K);
        Add<Iq5KsBlock, Iq5KsBlock>(d, GgmlType.IQ5_KS, &Kernels.DecodeScalar.Iq5Ks);
        if (vbmi) Add<Iq6KBlock, Iq6KVbmiBlock>(d, GgmlType.IQ6_K, &Kernels.DecodeScalar.Iq6K);
        else Add<Iq6KBlock, Iq6KBlock>(d, GgmlType.IQ6_K, &Kernels.DecodeScalar.Iq6K);
        Add<Iq4KssBlock, Iq4KssBlock>(d, GgmlType.IQ4_KSS, &Kernels.DecodeScalar.Iq4Kss);
        Add<Iq4XsBlock, Iq4XsBlock>(d, GgmlType.IQ4_XS, &Kernels.DecodeScalar.Iq4Xs);
        Add<Iq2KlBlock, Iq2KlBlock>(d, GgmlType.IQ2_KL, &Kernels.DecodeScalar.Iq2Kl);
        Add<Q2KBlock, Q2KBlock>(d, GgmlType.Q2_K, &Kernels.DecodeScalar.Q2K, min: true);
        Add<Q3KBlock, Q3KBlock>(d, GgmlType.Q3_K, &Kernels.DecodeScalar.Q3K);
        Add<Q4KBlock, Q4KBlock>(d, GgmlType.Q4_K, &Kernels.DecodeScalar.Q4K, min: true);
        Add<Q5KBlock, Q5KBlock>(d, GgmlType.Q5_K, &Kernels.DecodeScalar.Q5K, min: true);
        Add<Q6KBlock, Q6KBlock>(d, GgmlType.Q6_K, &Kernels.DecodeScalar.Q6K);
        return d;
    }
}
