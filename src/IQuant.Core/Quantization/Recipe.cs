using System.Text.RegularExpressions;
using IQuant.Core.Types;

namespace IQuant.Core.Quantization;

/// <summary>A tensor as the recipe sees it: name, ggml shape (ne0 first) and current type.</summary>
public readonly record struct RecipeTensor(string Name, long[] Shape, GgmlType Type)
{
    /// <summary>ggml_n_dims: the number of dimensions without trailing 1s (at least 1).</summary>
    public int Dims
    {
        get
        {
            int n = Shape.Length;
            while (n > 1 && Shape[n - 1] == 1) n--;
            return Math.Max(n, 1);
        }
    }
}

/// <summary>The model hyper-parameters the recipe rules look at (spec §8.2).</summary>
public sealed record RecipeModel(string Architecture, int HeadCount, int HeadCountKv, int ExpertCount, int LayerCount)
{
    /// <summary>n_head / n_head_kv of layer 0 (1 when unknown).</summary>
    public int Gqa => HeadCountKv > 0 ? Math.Max(1, HeadCount / HeadCountKv) : 1;

    /// <summary>llama.cpp's MODEL_70B: an 80-layer llama.</summary>
    public bool Is70B => Architecture == "llama" && LayerCount == 80;

    /// <summary>Falcon gets Q8_0 output and a plain attn_output rule.</summary>
    public bool IsFalcon => Architecture == "falcon";
}

/// <summary>Options of a recipe, mirroring llama-quantize's flags.</summary>
public sealed record RecipeOptions
{
    /// <summary>--pure: every quantizable tensor gets the default type (then the 256 fallback).</summary>
    public bool Pure { get; init; }
    /// <summary>An imatrix was given (changes the IQ4_KS ffn_down rule).</summary>
    public bool HasImatrix { get; init; }
    /// <summary>--output-tensor-type.</summary>
    public GgmlType? OutputTensorType { get; init; }
    /// <summary>--token-embedding-type.</summary>
    public GgmlType? TokenEmbeddingType { get; init; }
    /// <summary>--leave-output-tensor: output.weight is copied unchanged.</summary>
    public bool LeaveOutputTensor { get; init; }
    /// <summary>--custom-q: (regex, type) pairs; the first regex that matches anywhere in the name wins.</summary>
    public IReadOnlyList<(Regex Pattern, GgmlType Type)> CustomTypes { get; init; } = [];
}

/// <summary>The decision for one tensor.</summary>
public sealed record RecipeDecision(string Name, GgmlType SourceType, GgmlType TargetType, bool Quantize, string Reason)
{
    /// <summary>True if the tensor's bytes are copied as they are.</summary>
    public bool Copy => !Quantize;
}

/// <summary>
/// llama-quantize's per-tensor type choice (<c>llama_tensor_get_type</c> and <c>change_type_if_necessary</c>,
/// spec §8) for the IQ*_K / IQ*_KS ftypes, plus IQuant's plain "everything to one type" recipe.
/// </summary>
public static class Recipe
{
    /// <summary>The ftypes that have an ik_llama.cpp recipe here, and the ftype's default tensor type.</summary>
    public static readonly IReadOnlyDictionary<LlamaFileType, GgmlType> DefaultTypes = new Dictionary<LlamaFileType, GgmlType>
    {
        [LlamaFileType.IQ2_K] = GgmlType.IQ2_K, [LlamaFileType.IQ2_KS] = GgmlType.IQ2_KS,
        [LlamaFileType.IQ3_K] = GgmlType.IQ3_K, [LlamaFileType.IQ3_KS] = GgmlType.IQ3_KS,
        [LlamaFileType.IQ4_K] = GgmlType.IQ4_K, [LlamaFileType.IQ4_KS] = GgmlType.IQ4_KS,
        [LlamaFileType.IQ5_K] = GgmlType.IQ5_K, [LlamaFileType.IQ5_KS] = GgmlType.IQ5_KS,
        [LlamaFileType.IQ6_K] = GgmlType.IQ6_K, [LlamaFileType.IQ4_KSS] = GgmlType.IQ4_KSS,
        [LlamaFileType.IQ2_KL] = GgmlType.IQ2_KL,
        [LlamaFileType.Q8_0] = GgmlType.Q8_0, [LlamaFileType.Q4_0] = GgmlType.Q4_0, [LlamaFileType.Q5_0] = GgmlType.Q5_0,
        [LlamaFileType.Q6_0] = GgmlType.Q6_0, [LlamaFileType.IQ4_NL] = GgmlType.IQ4_NL, [LlamaFileType.IQ4_XS] = GgmlType.IQ4_XS,
        [LlamaFileType.Q6_K] = GgmlType.Q6_K, [LlamaFileType.F16] = GgmlType.F16, [LlamaFileType.BF16] = GgmlType.BF16,
        [LlamaFileType.F32] = GgmlType.F32,
    };

    /// <summary>The llama ftype whose default type is <paramref name="type"/> (for general.file_type).</summary>
    public static LlamaFileType? FileTypeFor(GgmlType type)
    {
        foreach (var (ft, t) in DefaultTypes) if (t == type) return ft;
        return null;
    }

    /// <summary>True if llama-quantize would quantize this tensor at all (spec §8.1).</summary>
    public static bool IsQuantizable(RecipeTensor t, RecipeOptions options)
    {
        if (t.Type is GgmlType.I8 or GgmlType.I16 or GgmlType.I32 or GgmlType.I64) return false;
        var n = t.Name;
        if (!n.EndsWith("weight", StringComparison.Ordinal)) return false;
        if (t.Dims < 2) return false;
        if (n.Contains("_norm.weight", StringComparison.Ordinal)) return false;
        if (options.LeaveOutputTensor && n == "output.weight") return false;
        if (n.Contains("ffn_gate_inp.weight", StringComparison.Ordinal)) return false;
        if (n.Contains("position_embd", StringComparison.Ordinal) || n.Contains("token_types", StringComparison.Ordinal)) return false;
        if (n.Contains("ssm_conv1d.weight", StringComparison.Ordinal) || n.Contains("ssm_x.weight", StringComparison.Ordinal)
            || n.Contains("ssm_dt.weight", StringComparison.Ordinal) || n.Contains("attn_rel_b.weight", StringComparison.Ordinal)) return false;
        return true;
    }

    /// <summary>Plans every tensor of a model for an ftype recipe, as <c>llama-quantize in out FTYPE</c> would.</summary>
    public static IReadOnlyList<RecipeDecision> Plan(IReadOnlyList<RecipeTensor> tensors, RecipeModel model, LlamaFileType ftype, RecipeOptions options)
    {
        if (!DefaultTypes.TryGetValue(ftype, out var defaultType))
            throw new NotSupportedException($"IQuant has no recipe for file type {ftype}.");
        bool hasOutput = tensors.Any(t => t.Name == "output.weight");
        int nFfnDown = tensors.Count(t => t.Name.Contains("ffn_down", StringComparison.Ordinal) && IsQuantizable(t, options));
        int iFfnDown = 0;
        var result = new List<RecipeDecision>(tensors.Count);
        foreach (var t in tensors)
        {
            if (!IsQuantizable(t, options))
            {
                result.Add(new(t.Name, t.Type, t.Type, false, "not quantized (llama-quantize keeps it)"));
                continue;
            }
            GgmlType target;
            string reason;
            if (options.Pure)
            {
                target = defaultType; reason = "pure";
                if (t.Name == "token_embd.weight" && options.TokenEmbeddingType is { } te) { target = te; reason = "token embedding type"; }
                if ((t.Name == "output.weight" || (!hasOutput && t.Name == "token_embd.weight")) && options.OutputTensorType is { } ot)
                { target = ot; reason = "output tensor type"; }
            }
            else
            {
                (target, reason) = Rule(t, model, ftype, defaultType, options, hasOutput, nFfnDown, ref iFfnDown);
                foreach (var (pattern, type) in options.CustomTypes)
                {
                    if (pattern.IsMatch(t.Name)) { target = type; reason = $"custom rule '{pattern}'"; break; }
                }
            }
            var fb = Fallback(target, t.Shape[0]);
            if (fb != target) { reason += $"; row length {t.Shape[0]} is not a multiple of {TypeTable.Get(target).BlockSize}: {target} falls back to {fb}"; target = fb; }
            bool quantize = target != t.Type;
            result.Add(new(t.Name, t.Type, target, quantize, quantize ? reason : reason + " (already that type: copied)"));
        }
        return result;
    }

    /// <summary>Plans the "convert these tensors to one type" job (ConvertTo-IQuant's pipeline mode).</summary>
    public static GgmlType ForSingleType(GgmlType type, long ne0) => Fallback(type, ne0);

    /// <summary>change_type_if_necessary (spec §8.3): the fallback chain when a row is not a multiple of the block.</summary>
    public static GgmlType Fallback(GgmlType type, long ne0)
    {
        var info = TypeTable.Get(type);
        var t = type;
        // A chain at most two long (e.g. a super-block type → IQ4_NL, which needs 32).
        for (int guard = 0; guard < 4 && ne0 % TypeTable.Get(t).BlockSize != 0; guard++)
        {
            var fb = TypeTable.Get(t).Fallback;
            if (fb is null) break;
            t = fb.Value;
        }
        if (ne0 % TypeTable.Get(t).BlockSize != 0)
            throw new ArgumentException($"A row of {ne0} values cannot be stored as {info.DisplayName} or its fallbacks.");
        return t;
    }

    private static (GgmlType, string) Rule(RecipeTensor t, RecipeModel m, LlamaFileType ftype, GgmlType def, RecipeOptions o,
        bool hasOutput, int nFfnDown, ref int iFfnDown)
    {
        string name = t.Name;
        int nexp = m.ExpertCount, gqa = m.Gqa;
        bool isOutput = name == "output.weight" || (!hasOutput && name == "token_embd.weight");
        if (isOutput)
        {
            if (o.OutputTensorType is { } ot) return (ot, "output tensor type");
            if (m.IsFalcon || t.Shape[0] % 256 != 0) return (GgmlType.Q8_0, "output: Falcon or row not a multiple of 256");
            GgmlType r = ftype switch
            {
                LlamaFileType.IQ4_K => GgmlType.Q6_K,
                LlamaFileType.IQ4_KS => hasOutput ? GgmlType.Q6_K : GgmlType.IQ5_K,
                LlamaFileType.IQ2_K or LlamaFileType.IQ2_KS or LlamaFileType.IQ3_K or LlamaFileType.IQ3_KS => hasOutput ? GgmlType.Q5_K : GgmlType.IQ4_K,
                _ => def is GgmlType.Q8_0 or GgmlType.IQ6_K or GgmlType.F16 or GgmlType.BF16 or GgmlType.F32 ? def : GgmlType.Q6_K,
            };
            return (r, hasOutput ? "output tensor rule" : "tied token embedding used as output");
        }
        if (name == "token_embd.weight")
            return o.TokenEmbeddingType is { } te ? (te, "token embedding type") : (def, "token embedding: default type");

        bool Has(string s) => name.Contains(s, StringComparison.Ordinal);
        if (ftype == LlamaFileType.IQ2_KS)
        {
            if (Has("attn_v.weight"))
                return gqa >= 4 || nexp >= 4 ? (GgmlType.IQ4_K, "attn_v, gqa >= 4 or experts >= 4")
                     : gqa >= 2 || nexp >= 2 ? (GgmlType.IQ3_K, "attn_v, gqa >= 2 or experts >= 2")
                     : (GgmlType.Q2_K, "attn_v, no GQA");
            if (nexp >= 8 && Has("attn_k")) return (GgmlType.Q4_K, "attn_k with >= 8 experts");
            if (nexp >= 8 && Has("attn_q")) return (GgmlType.Q4_K, "attn_q with >= 8 experts");
            if (Has("attn_qkv.weight")) return (GgmlType.IQ2_K, "attn_qkv");
            if (Has("ffn_down"))
            {
                bool first = iFfnDown < nFfnDown / 8;
                iFfnDown++;
                return first ? (GgmlType.Q2_K, "ffn_down in the first eighth") : (def, "ffn_down: default type");
            }
            if (Has("attn_output.weight")) return nexp >= 4 ? (GgmlType.Q5_K, "attn_output with >= 4 experts") : (def, "attn_output: default type");
            return (def, "default type");
        }
        if (Has("attn_v.weight"))
        {
            if (nexp >= 4) return (GgmlType.Q8_0, "attn_v with >= 4 experts");
            if (m.Is70B)
                return (ftype switch
                {
                    LlamaFileType.IQ3_K => GgmlType.IQ5_K,
                    _ => def,
                }, "attn_v of a 70B model");
            if (gqa >= 2)
                return (ftype switch
                {
                    LlamaFileType.IQ2_K or LlamaFileType.IQ3_K => GgmlType.IQ4_K,
                    LlamaFileType.IQ3_KS => GgmlType.IQ4_KS,
                    LlamaFileType.IQ4_K or LlamaFileType.IQ4_KS => GgmlType.IQ5_K,
                    _ => def,
                }, "attn_v with GQA");
            return (ftype switch
            {
                LlamaFileType.IQ2_K => GgmlType.IQ3_K,
                _ => def,
            }, "attn_v without GQA");
        }
        if (Has("attn_k")) return nexp >= 4 ? (GgmlType.Q8_0, "attn_k with >= 4 experts") : (def, "default type");
        if (Has("attn_q")) return (def, "default type");
        if (Has("ffn_down"))
        {
            int layer = nexp > 0 ? LayerOf(name) ?? iFfnDown : iFfnDown;
            iFfnDown++;
            if (ftype == LlamaFileType.IQ4_KS && !o.HasImatrix && layer < m.LayerCount / 8)
                return (GgmlType.Q5_K, "ffn_down of an early layer without imatrix");
            return (def, "default type");
        }
        if (Has("attn_output.weight") && !m.IsFalcon)
        {
            if (nexp >= 4) return (GgmlType.Q5_K, "attn_output with >= 4 experts");
            if (ftype == LlamaFileType.IQ2_K) return (GgmlType.IQ3_K, "attn_output");
            return (def, "default type");
        }
        return (def, "default type");
    }

    private static int? LayerOf(string name)
    {
        if (!name.StartsWith("blk.", StringComparison.Ordinal)) return null;
        int end = name.IndexOf('.', 4);
        return end > 4 && int.TryParse(name.AsSpan(4, end - 4), out var n) ? n : null;
    }
}
