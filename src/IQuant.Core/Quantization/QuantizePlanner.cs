using IQuant.Core.Gguf;
using IQuant.Core.Types;

namespace IQuant.Core.Quantization;

/// <summary>Builds <see cref="TensorPlanItem"/> lists for a model: from an ftype recipe, or "these tensors to one type".</summary>
public static class QuantizePlanner
{
    /// <summary>The hyper-parameters the recipe needs, read from the model's metadata.</summary>
    public static RecipeModel ModelOf(GgufFile f)
    {
        string arch = f.FindMetadata("general.architecture")?.Value as string ?? "";
        int Int(string key, int def)
        {
            var v = f.FindMetadata($"{arch}.{key}")?.Value;
            return v switch
            {
                null => def,
                Array a => a.Length > 0 ? Convert.ToInt32(a.GetValue(0)) : def,   // per-layer arrays: layer 0
                IConvertible c => c.ToInt32(null),
                _ => def,
            };
        }
        int heads = Int("attention.head_count", 0);
        return new RecipeModel(arch, heads, Int("attention.head_count_kv", heads), Int("expert_count", 0), Int("block_count", 0));
    }

    /// <summary>The plan of <c>llama-quantize in out FTYPE</c> (spec §8), with imatrix entries attached.</summary>
    public static List<TensorPlanItem> ForRecipe(GgufFile f, LlamaFileType ftype, RecipeOptions options, ImatrixFile? imatrix, Action<string>? warn = null)
    {
        var tensors = f.Tensors.Select(t => new RecipeTensor(t.Name, t.Shape, t.Type)).ToList();
        var decisions = Recipe.Plan(tensors, ModelOf(f), ftype, options with { HasImatrix = imatrix is not null });
        var plan = new List<TensorPlanItem>(decisions.Count);
        for (int i = 0; i < decisions.Count; i++)
        {
            var d = decisions[i];
            var t = f.Tensors[i];
            plan.Add(new TensorPlanItem(t, d.TargetType, d.Quantize, d.Reason, d.Quantize ? ImatrixFor(t, imatrix, warn) : null));
        }
        return plan;
    }

    /// <summary>
    /// The pipeline-mode plan: the tensors named in <paramref name="selected"/> go to <paramref name="type"/> (or its
    /// row-length fallback), every other tensor is copied. Tensors llama.cpp never quantizes (norms, 1-D tensors,
    /// integer tensors) are copied with a warning.
    /// </summary>
    public static List<TensorPlanItem> ForTensors(GgufFile f, IReadOnlySet<string> selected, GgmlType type, ImatrixFile? imatrix, Action<string>? warn = null)
    {
        var plan = new List<TensorPlanItem>(f.Tensors.Count);
        var none = new RecipeOptions();
        foreach (var t in f.Tensors)
        {
            if (!selected.Contains(t.Name)) { plan.Add(new TensorPlanItem(t, t.Type, false, "not selected: copied")); continue; }
            var rt = new RecipeTensor(t.Name, t.Shape, t.Type);
            if (!Recipe.IsQuantizable(rt, none))
            {
                warn?.Invoke($"Tensor '{t.Name}' is not a quantizable weight (1-D, a norm, or an integer tensor); it is copied unchanged.");
                plan.Add(new TensorPlanItem(t, t.Type, false, "not quantizable: copied"));
                continue;
            }
            GgmlType target;
            string reason = $"-Type {type}";
            try { target = Recipe.Fallback(type, t.RowLength); }
            catch (ArgumentException ex) { throw new QuantizePlanException("RowLengthNotMultipleOfBlock", t.Name, $"Tensor '{t.Name}': {ex.Message}"); }
            if (target != type)
            {
                reason += $"; row length {t.RowLength} is not a multiple of {TypeTable.Get(type).BlockSize}: falls back to {target}";
                warn?.Invoke($"Tensor '{t.Name}' has rows of {t.RowLength}; {type} needs a multiple of {TypeTable.Get(type).BlockSize}, so it becomes {target} (as llama-quantize does).");
            }
            bool q = target != t.Type;
            plan.Add(new TensorPlanItem(t, target, q, q ? reason : reason + " (already that type: copied)", q ? ImatrixFor(t, imatrix, warn) : null));
        }
        return plan;
    }

    /// <summary>The importance weights llama-quantize would pass for a tensor (spec §7.4), or null.</summary>
    public static float[]? ImatrixFor(GgufTensorInfo t, ImatrixFile? imatrix, Action<string>? warn)
    {
        if (imatrix is null) return null;
        var e = imatrix.FindFor(t.Name);
        if (e is null)
        {
            warn?.Invoke($"The imatrix has no entry for '{t.Name}'; it is quantized without importance weights.");
            return null;
        }
        long experts = t.Shape.Length >= 3 ? t.Shape[2] : 1;
        if (e.Values.Length != t.RowLength * experts)
        {
            if (t.Name == "token_embd.weight")
            {
                warn?.Invoke($"The imatrix entry for token_embd.weight has {e.Values.Length} values, not {t.RowLength * experts}; it is quantized without importance weights.");
                return null;
            }
            throw new QuantizePlanException("ImatrixSizeMismatch", t.Name,
                $"The imatrix entry for '{t.Name}' has {e.Values.Length} values; the tensor needs {t.RowLength * experts} (ne0 × experts).");
        }
        return e.Weights();
    }
}
