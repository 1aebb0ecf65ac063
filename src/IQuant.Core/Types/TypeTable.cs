using System.Collections.Frozen;

namespace IQuant.Core.Types;

/// <summary>The ggml type table with ik_llama.cpp's ids (spec §2), plus the row-length fallbacks of spec §8.3.</summary>
public static class TypeTable
{
    private static readonly TypeInfo[] s_all = Build();
    private static readonly FrozenDictionary<int, TypeInfo> s_byId = s_all.ToFrozenDictionary(t => (int)t.Type);
    private static readonly FrozenDictionary<string, TypeInfo> s_byName = BuildNames();

    /// <summary>Every type ik_llama.cpp defines, in id order.</summary>
    public static IReadOnlyList<TypeInfo> All => s_all;

    /// <summary>The row for a type id, or null for an id ik_llama.cpp does not define.</summary>
    public static TypeInfo? TryGet(int id) => s_byId.TryGetValue(id, out var t) ? t : null;

    /// <summary>The row for a type.</summary>
    public static TypeInfo Get(GgmlType type) =>
        s_byId.TryGetValue((int)type, out var t) ? t : throw new ArgumentOutOfRangeException(nameof(type), type, "Unknown ggml type.");

    /// <summary>Looks a type up by enum name (IQ4_KS) or ggml name (iq4_ks), case-insensitively.</summary>
    public static bool TryParse(string name, out TypeInfo info)
    {
        if (s_byName.TryGetValue(name, out var t)) { info = t; return true; }
        info = null!;
        return false;
    }

    /// <summary>Looks a type up by name; throws <see cref="ArgumentException"/> naming the valid choices.</summary>
    public static TypeInfo Parse(string name) =>
        TryParse(name, out var t) ? t : throw new ArgumentException($"Unknown ggml type '{name}'.", nameof(name));

    private static FrozenDictionary<string, TypeInfo> BuildNames()
    {
        var d = new Dictionary<string, TypeInfo>(StringComparer.OrdinalIgnoreCase);
        foreach (var t in s_all)
        {
            d.TryAdd(t.DisplayName, t);
            d.TryAdd(t.Name, t);
        }
        return d.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
    }

    private static TypeInfo[] Build()
    {
        const TypeKind F = TypeKind.Float, I = TypeKind.Integer, Q = TypeKind.Quantized, A = TypeKind.Activation, R = TypeKind.Interleaved;
        const GgmlType NL = GgmlType.IQ4_NL, Q50 = GgmlType.Q5_0, Q60 = GgmlType.Q6_0, Q80 = GgmlType.Q8_0;
        TypeInfo T(GgmlType t, string n, int bs, int bb, int meta, TypeKind k, GgmlType? fb = null, int il = 1) => new(t, n, bs, bb, meta, k, fb, il);
        return new[]
        {
            T(GgmlType.F32, "f32", 1, 4, 0, F),
            T(GgmlType.F16, "f16", 1, 2, 0, F),
            T(GgmlType.Q4_0, "q4_0", 32, 18, 0, Q),
            T(GgmlType.Q4_1, "q4_1", 32, 20, 0, Q),
            T(GgmlType.Q5_0, "q5_0", 32, 22, 0, Q),
            T(GgmlType.Q5_1, "q5_1", 32, 24, 0, Q),
            T(GgmlType.Q8_0, "q8_0", 32, 34, 0, Q),
            T(GgmlType.Q8_1, "q8_1", 32, 36, 0, A),
            T(GgmlType.Q2_K, "q2_K", 256, 84, 0, Q, NL),
            T(GgmlType.Q3_K, "q3_K", 256, 110, 0, Q, NL),
            T(GgmlType.Q4_K, "q4_K", 256, 144, 0, Q, Q50),
            T(GgmlType.Q5_K, "q5_K", 256, 176, 0, Q, Q60),
            T(GgmlType.Q6_K, "q6_K", 256, 210, 0, Q, Q80),
            T(GgmlType.Q8_K, "q8_K", 256, 296, 0, A),
            T(GgmlType.IQ2_XXS, "iq2_xxs", 256, 66, 0, Q, NL),
            T(GgmlType.IQ2_XS, "iq2_xs", 256, 74, 0, Q, NL),
            T(GgmlType.IQ3_XXS, "iq3_xxs", 256, 98, 0, Q, NL),
            T(GgmlType.IQ1_S, "iq1_s", 256, 50, 0, Q, NL),
            T(GgmlType.IQ4_NL, "iq4_nl", 32, 18, 0, Q),
            T(GgmlType.IQ3_S, "iq3_s", 256, 110, 0, Q, NL),
            T(GgmlType.IQ2_S, "iq2_s", 256, 82, 0, Q, NL),
            T(GgmlType.IQ4_XS, "iq4_xs", 256, 136, 0, Q, NL),
            T(GgmlType.I8, "i8", 1, 1, 0, I),
            T(GgmlType.I16, "i16", 1, 2, 0, I),
            T(GgmlType.I32, "i32", 1, 4, 0, I),
            T(GgmlType.I64, "i64", 1, 8, 0, I),
            T(GgmlType.F64, "f64", 1, 8, 0, F),
            T(GgmlType.IQ1_M, "iq1_m", 256, 56, 0, Q, NL),
            T(GgmlType.BF16, "bf16", 1, 2, 0, F),
            T(GgmlType.Q4_0_4_4, "q4_0_4x4", 32, 18, 0, R),
            T(GgmlType.Q4_0_4_8, "q4_0_4x8", 32, 18, 0, R),
            T(GgmlType.Q4_0_8_8, "q4_0_8x8", 32, 18, 0, R),
            T(GgmlType.I2_S, "i2_s", 1, 1, 0, Q),
            T(GgmlType.MXFP4, "mxfp4", 32, 17, 0, Q),
            T(GgmlType.Q1_0_G128, "q1_0_g128", 128, 18, 0, Q),
            T(GgmlType.Q8_0_X4, "q8_0_x4", 32, 34, 0, A),
            T(GgmlType.Q8_1_X4, "q8_1_x4", 32, 36, 0, A),
            T(GgmlType.Q8_2_X4, "q8_2_x4", 32, 36, 0, A),
            T(GgmlType.Q6_0, "q6_0", 32, 26, 0, Q),
            T(GgmlType.IQ1_BN, "iq1_bn", 64, 13, 2, Q),
            T(GgmlType.IQ2_BN, "iq2_bn", 64, 16, 4, Q),
            T(GgmlType.Q8_K64, "q8_K64", 64, 68, 0, A),
            T(GgmlType.IQ2_K, "iq2_k", 256, 76, 0, Q, NL),
            T(GgmlType.IQ3_K, "iq3_k", 256, 110, 0, Q, NL),
            T(GgmlType.IQ4_K, "iq4_k", 256, 144, 0, Q, Q50),
            T(GgmlType.IQ5_K, "iq5_k", 256, 176, 0, Q, Q60),
            T(GgmlType.IQ6_K, "iq6_k", 256, 212, 0, Q, Q80),
            T(GgmlType.IQ4_KS, "iq4_ks", 256, 136, 4, Q, NL),
            T(GgmlType.IQ2_KS, "iq2_ks", 256, 70, 2, Q, NL),
            T(GgmlType.IQ4_KSS, "iq4_kss", 256, 128, 4, Q, NL),
            T(GgmlType.Q8_K16, "q8_K16", 64, 64, 20, A),
            T(GgmlType.Q8_K32, "q8_K32", 256, 296, 0, A),
            T(GgmlType.Q8_KR8, "q8_KR8", 256, 296, 0, A),
            T(GgmlType.Q8_K128, "q8_K128", 128, 140, 0, A),
            T(GgmlType.Q8_KV, "q8_KV", 32, 32, 8, Q),
            T(GgmlType.IQ5_KS, "iq5_ks", 256, 168, 4, Q, Q50),
            T(GgmlType.IQ2_KT, "iq2_kt", 256, 68, 4, Q, NL),
            T(GgmlType.IQ3_KT, "iq3_kt", 256, 100, 4, Q, NL),
            T(GgmlType.IQ4_KT, "iq4_kt", 256, 128, 4, Q, NL),
            T(GgmlType.IQ3_KS, "iq3_ks", 256, 102, 2, Q, NL),
            T(GgmlType.IQ2_KL, "iq2_kl", 256, 86, 2, Q, NL),
            T(GgmlType.IQ1_KT, "iq1_kt", 256, 56, 4, Q, NL),
            T(GgmlType.Q4_0_R8, "q4_0_r8", 32, 18, 0, R, null, 8),
            T(GgmlType.Q5_0_R4, "q5_0_r4", 32, 22, 0, R, null, 4),
            T(GgmlType.Q8_0_R8, "q8_0_r8", 32, 34, 0, R, null, 8),
            T(GgmlType.Q2_K_R4, "q2_k_r4", 256, 84, 0, R, NL, 4),
            T(GgmlType.Q3_K_R4, "q3_k_r4", 256, 110, 0, R, NL, 4),
            T(GgmlType.Q4_K_R4, "q4_k_r4", 256, 144, 0, R, Q50, 4),
            T(GgmlType.Q5_K_R4, "q5_k_r4", 256, 176, 0, R, Q60, 4),
            T(GgmlType.Q6_K_R4, "q6_k_r4", 256, 210, 0, R, Q80, 4),
            T(GgmlType.IQ2_XXS_R4, "iq2_xxs_r4", 256, 66, 0, R, NL, 4),
            T(GgmlType.IQ2_XS_R4, "iq2_xs_r4", 256, 74, 0, R, NL, 4),
            T(GgmlType.IQ3_XXS_R4, "iq3_xxs_r4", 256, 98, 0, R, NL, 4),
            T(GgmlType.IQ1_S_R4, "iq1_s_r4", 32, 6, 2, R, null, 4),
            T(GgmlType.IQ4_NL_R4, "iq4_nl_r4", 32, 18, 0, R, null, 4),
            T(GgmlType.IQ3_S_R4, "iq3_s_r4", 256, 110, 0, R, NL, 4),
            T(GgmlType.IQ2_S_R4, "iq2_s_r4", 256, 82, 0, R, NL, 4),
            T(GgmlType.IQ4_XS_R8, "iq4_xs_r8", 256, 136, 0, R, NL, 8),
            T(GgmlType.IQ1_M_R4, "iq1_m_r4", 32, 7, 2, R, null, 4),
            T(GgmlType.BF16_R16, "bf16_r16", 1, 2, 0, R, null, 16),
            T(GgmlType.Q6_0_R4, "q6_0_r4", 32, 26, 0, R, null, 4),
            T(GgmlType.IQ2_BN_R4, "iq2_bn_r4", 64, 16, 4, R, null, 4),
            T(GgmlType.IQ2_K_R4, "iq2_k_r4", 256, 76, 0, R, NL, 4),
            T(GgmlType.IQ3_K_R4, "iq3_k_r4", 256, 110, 0, R, NL, 4),
            T(GgmlType.IQ4_K_R4, "iq4_k_r4", 256, 144, 0, R, Q50, 4),
            T(GgmlType.IQ5_K_R4, "iq5_k_r4", 256, 176, 0, R, Q60, 4),
            T(GgmlType.IQ4_KS_R4, "iq4_ks_r4", 256, 136, 4, R, NL, 4),
            T(GgmlType.IQ5_KS_R4, "iq5_ks_r4", 256, 168, 4, R, Q50, 4),
            T(GgmlType.MXFP4_R8, "mxfp4_r8", 32, 17, 0, R, null, 8),
            T(GgmlType.Q8_K_R16, "q8_k_r16", 256, 258, 0, R, null, 16),
            T(GgmlType.Q8_KV_R8, "q8_KV_r8", 32, 32, 4, R, null, 8),
            T(GgmlType.Q8_K_R8, "q8_k_r8", 256, 258, 0, R, Q80, 8),
        };
    }
}
