using Cleft.Autograd;
using Cleft.Autograd.IO;

namespace Cleft.Models.Vision;

/// <summary>
/// Loads Hugging Face Dinov2WithRegisters weights (model.safetensors of facebook/dinov2-with-registers-base) into a
/// <see cref="VisionTransformer"/>. Names are HF's one to one; values are converted where our layout differs:
/// nn.Linear weights [out, in] are transposed to <see cref="Layers.Linear"/>'s [in, out]; the patch conv weight
/// [hidden, C, p, p] is flattened and transposed to [C*p*p, hidden]; the position table is resampled when the
/// checkpoint's grid differs from the model's (<see cref="PositionInterpolation"/>, as HF does per forward).
/// embeddings.mask_token is accepted and ignored. Every missing, unexpected or misshaped tensor is collected
/// and reported together, by name, with the file path; nothing is loaded unless all are right.
/// </summary>
public static class VitCheckpoint
{
    const string MaskToken = "embeddings.mask_token";
    const string PatchWeight = "embeddings.patch_embeddings.projection.weight";
    const string Positions = "embeddings.position_embeddings";

    /// <summary>Loads <paramref name="path"/> into <paramref name="vit"/>; throws InvalidDataException listing every problem.</summary>
    public static void Load(VisionTransformer vit, string path)
    {
        using var file = SafetensorsFile.Open(path);
        var c = vit.Config;
        var problems = new List<string>();
        var plan = new List<(Parameter Param, string Key, Func<float[], float[]> Convert)>();
        var named = vit.NamedParameters().ToList();
        foreach (var (name, p) in named)
        {
            if (!file.Entries.TryGetValue(name, out var e)) { problems.Add($"missing '{name}' (expected {HfTensors.Shape(HfShape(name, p, c))})"); continue; }
            if (name == Positions)
            {
                if (PositionPlan(e, vit, problems) is { } convert) plan.Add((p, name, convert));
                continue;
            }
            var want = HfShape(name, p, c);
            if (!e.Shape.SequenceEqual(want)) { problems.Add($"'{name}' is {HfTensors.Shape(e.Shape)}, expected {HfTensors.Shape(want)}"); continue; }
            Func<float[], float[]> conv =
                name == PatchWeight ? v => HfTensors.Transpose(v, c.HiddenSize, c.PatchDim)
                : p.Rank == 2 ? v => HfTensors.Transpose(v, p.Shape[1], p.Shape[0])
                : v => v;
            plan.Add((p, name, conv));
        }
        var known = named.Select(x => x.Name).Append(MaskToken).ToHashSet();
        problems.AddRange(file.Entries.Keys.Where(k => !known.Contains(k)).Order().Select(k => $"unexpected '{k}' {HfTensors.Shape(file.Entries[k].Shape)}"));
        if (problems.Count > 0)
            throw new InvalidDataException($"{path}: does not match the ViT config (hidden {c.HiddenSize}, {c.Layers} layers, patch {c.PatchSize}, {c.RegisterTokens} registers):\n  " + string.Join("\n  ", problems));
        foreach (var (param, key, convert) in plan)
        {
            float[] values;
            try { values = convert(file.ReadFloats(key)); }
            catch (InvalidDataException ex) { throw new InvalidDataException($"{path}: tensor '{key}': {ex.Message}", ex); }
            param.Load(values);
        }
    }

    /// <summary>The shape HF stores for one of our parameters.</summary>
    static int[] HfShape(string name, Parameter p, VitConfig c) =>
        name == PatchWeight ? [c.HiddenSize, c.Channels, c.PatchSize, c.PatchSize]
        : p.Rank == 2 ? [p.Shape[1], p.Shape[0]]   // nn.Linear [out, in]
        : p.Shape;

    /// <summary>[1, 1 + g*g, hidden] for any square g; resampled to the model's grid when g differs.</summary>
    static Func<float[], float[]>? PositionPlan(SafetensorsEntry e, VisionTransformer vit, List<string> problems)
    {
        int h = vit.Config.HiddenSize, dst = vit.Embeddings.Grid;
        int n = e.Shape.Length == 3 && e.Shape[0] == 1 && e.Shape[2] == h ? e.Shape[1] - 1 : -1;
        int src = n > 0 ? (int)Math.Round(Math.Sqrt(n)) : -1;
        if (n <= 0 || src * src != n)
        {
            problems.Add($"'{Positions}' is {HfTensors.Shape(e.Shape)}, expected [1, 1 + g*g, {h}] for a square patch grid g (the model's is {dst})");
            return null;
        }
        if (src == dst) return v => v;
        return v =>
        {
            var patches = PositionInterpolation.Resample(v.AsSpan(h), src, dst, h);
            return [.. v.AsSpan(0, h), .. patches];
        };
    }
}
