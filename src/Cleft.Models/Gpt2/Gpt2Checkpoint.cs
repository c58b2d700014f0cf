using System.Text.RegularExpressions;
using Cleft.Autograd;
using Cleft.Autograd.IO;
using Cleft.Kernels;

namespace Cleft.Models.Gpt2;

/// <summary>
/// Loads Hugging Face GPT-2 checkpoints: config.json + a single model.safetensors. Keys may carry the
/// "transformer." prefix (GPT2LMHeadModel files) or not (GPT2Model files); lm_head.weight (tied to wte) is
/// ignored and the h.{i}.attn.bias / masked_bias buffers (causal-mask constants, not weights) are skipped.
/// Every missing, unexpected or misshaped tensor is reported in one error naming the file.
/// </summary>
public static partial class Gpt2Checkpoint
{
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.safetensors";
    const string Prefix = "transformer.";

    [GeneratedRegex(@"^h\.\d+\.attn\.(bias|masked_bias)$")]
    private static partial Regex MaskBuffer();

    /// <summary>Builds a model from <paramref name="directory"/>'s config.json and loads model.safetensors into it.</summary>
    public static Gpt2Model Load(IBackend device, string directory, Gpt2Options options, Rng rng)
    {
        var config = Gpt2Config.FromFile(Path.Combine(directory, ConfigFile));
        var model = new Gpt2Model(device, config, options, rng);
        try { LoadWeights(model, Path.Combine(directory, WeightsFile)); }
        catch { model.Dispose(); throw; }
        return model;
    }

    /// <summary>Loads every base weight of <paramref name="model"/> from a safetensors file (F32, F16, BF16 or F64).</summary>
    public static void LoadWeights(Gpt2Model model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var file = SafetensorsFile.Open(path);
        // HF name (prefix stripped) -> the key in the file.
        var keys = new Dictionary<string, string>(StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var key in file.Entries.Keys)
        {
            if (key == "lm_head.weight") continue;
            string name = key.StartsWith(Prefix, StringComparison.Ordinal) ? key[Prefix.Length..] : key;
            if (MaskBuffer().IsMatch(name)) continue;
            if (!keys.TryAdd(name, key)) problems.Add($"'{name}' appears both as '{keys[name]}' and '{key}'");
        }
        var expected = model.CheckpointTensors().ToList();
        var expectedNames = expected.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var (name, shape, _) in expected)
        {
            if (!keys.TryGetValue(name, out var key)) { problems.Add($"missing '{name}' {Fmt(shape)}"); continue; }
            var e = file.Entries[key];
            if (!e.Shape.SequenceEqual(shape)) problems.Add($"'{key}' is {Fmt(e.Shape)}, the model expects {Fmt(shape)}");
        }
        foreach (var (name, key) in keys)
            if (!expectedNames.Contains(name)) problems.Add($"unexpected '{key}'");
        if (problems.Count > 0)
            throw new InvalidDataException($"{path}: does not match GPT-2 (n_embd {model.Config.NEmbd}, n_layer {model.Config.NLayer}, " +
                $"vocab {model.Config.VocabSize}, n_positions {model.Config.NPositions}): {string.Join("; ", problems)}");
        // One tensor at a time: a multi-GB checkpoint never sits in host memory whole.
        foreach (var (name, _, load) in expected) load(file.ReadFloats(keys[name]));
    }

    static string Fmt(int[] shape) => $"[{string.Join(",", shape)}]";
}
