using Cleft.Autograd;
using Cleft.Autograd.IO;
using Cleft.Kernels;

namespace Cleft.Models.Bert;

/// <summary>
/// Loads Hugging Face BERT checkpoints (config.json + model.safetensors) into a <see cref="BertModel"/>. Keys
/// may carry the "bert." prefix (BertForPreTraining / BertForMaskedLM files; then every key outside it, the
/// cls.* heads, is ignored) or not (BertModel files). The embeddings.position_ids buffer is skipped. nn.Linear
/// weights [out, in] are transposed to <see cref="Layers.Linear"/>'s [in, out]; embedding tables load as they
/// are. Every missing, unexpected or misshaped tensor is reported together, by name, with the file path; nothing
/// is loaded unless all are right.
/// </summary>
public static class BertCheckpoint
{
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.safetensors";
    const string Prefix = "bert.";
    const string PositionIds = "embeddings.position_ids";

    /// <summary>Builds a model from <paramref name="directory"/>'s config.json and loads its model.safetensors.</summary>
    public static BertModel Load(IBackend device, string directory, Rng rng)
    {
        var config = BertConfig.FromJson(Path.Combine(directory, ConfigFile));
        var model = new BertModel(device, rng, config);
        try { LoadWeights(model, Path.Combine(directory, WeightsFile)); }
        catch { model.Dispose(); throw; }
        return model;
    }

    /// <summary>Loads every weight of <paramref name="model"/> from one safetensors file (F32, F16, BF16 or F64).</summary>
    public static void LoadWeights(BertModel model, string path)
    {
        using var file = SafetensorsFile.Open(path);
        string prefix = file.Entries.Keys.Any(k => k.StartsWith(Prefix, StringComparison.Ordinal)) ? Prefix : "";
        var c = model.Config;
        var problems = new List<string>();
        var plan = new List<(Parameter Param, string Key, bool Transpose)>();
        var named = model.NamedParameters().ToList();
        foreach (var (name, p) in named)
        {
            string key = prefix + name;
            bool linear = p.Rank == 2 && !name.StartsWith("embeddings.", StringComparison.Ordinal);
            int[] want = linear ? [p.Shape[1], p.Shape[0]] : p.Shape;
            if (!file.Entries.TryGetValue(key, out var e)) { problems.Add($"missing '{key}' (expected {HfTensors.Shape(want)})"); continue; }
            if (!e.Shape.SequenceEqual(want)) { problems.Add($"'{key}' is {HfTensors.Shape(e.Shape)}, expected {HfTensors.Shape(want)}"); continue; }
            plan.Add((p, key, linear));
        }
        var known = named.Select(x => prefix + x.Name).Append(prefix + PositionIds).ToHashSet();
        problems.AddRange(file.Entries.Keys
            .Where(k => !known.Contains(k) && k.StartsWith(prefix, StringComparison.Ordinal))
            .Order().Select(k => $"unexpected '{k}' {HfTensors.Shape(file.Entries[k].Shape)}"));
        if (problems.Count > 0)
            throw new InvalidDataException($"{path}: does not match the BERT config (hidden {c.HiddenSize}, {c.Layers} layers, vocab {c.VocabSize}, {c.MaxPositions} positions):\n  " + string.Join("\n  ", problems));
        foreach (var (param, key, transpose) in plan)
        {
            float[] values;
            try { values = file.ReadFloats(key); }
            catch (InvalidDataException ex) { throw new InvalidDataException($"{path}: tensor '{key}': {ex.Message}", ex); }
            param.Load(transpose ? HfTensors.Transpose(values, param.Shape[1], param.Shape[0]) : values);
        }
    }
}
