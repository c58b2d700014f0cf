using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Cleft.Autograd;
using Cleft.Autograd.IO;
using Cleft.Kernels;

namespace Cleft.Models.Gpt2;

/// <summary>
/// Loads Hugging Face GPT-2 checkpoints: config.json + model.safetensors, or the sharded form
/// model.safetensors.index.json + the shards its weight_map names (large models such as BioMedLM). Keys may
/// carry the "transformer." prefix (GPT2LMHeadModel files) or not (GPT2Model files); lm_head.weight (tied to
/// wte) is ignored and the h.{i}.attn.bias / masked_bias buffers (causal-mask constants, not weights) are
/// skipped. Every missing, unexpected or misshaped tensor is reported in one error naming the file.
/// </summary>
public static partial class Gpt2Checkpoint
{
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";
    const string Prefix = "transformer.";

    [GeneratedRegex(@"^h\.\d+\.attn\.(bias|masked_bias)$")]
    private static partial Regex MaskBuffer();

    /// <summary>Builds a model from <paramref name="directory"/>'s config.json and loads its weights into it.</summary>
    public static Gpt2Model Load(IBackend device, string directory, Gpt2Options options, Rng rng)
    {
        var config = Gpt2Config.FromFile(Path.Combine(directory, ConfigFile));
        var model = new Gpt2Model(device, config, options, rng);
        try
        {
            string single = Path.Combine(directory, WeightsFile), index = Path.Combine(directory, IndexFile);
            if (File.Exists(single) || !File.Exists(index)) LoadWeights(model, single);
            else LoadFiles(model, ShardsOf(index), index);
        }
        catch { model.Dispose(); throw; }
        return model;
    }

    /// <summary>Loads every base weight of <paramref name="model"/> from one safetensors file (F32, F16, BF16 or F64).</summary>
    public static void LoadWeights(Gpt2Model model, string path) => LoadFiles(model, [path], path);

    /// <summary>The shard files an index names (weight_map values), each inside the index's directory.</summary>
    static List<string> ShardsOf(string indexPath)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(indexPath)); }
        catch (JsonException e) { throw new InvalidDataException($"{indexPath}: not valid JSON: {e.Message}", e); }
        if (node?["weight_map"] is not JsonObject map || map.Count == 0)
            throw new InvalidDataException($"{indexPath}: expected a non-empty 'weight_map' object");
        var dir = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        var files = new List<string>();
        foreach (var (key, value) in map)
        {
            string? name = value?.GetValueKind() == JsonValueKind.String ? (string?)value : null;
            // A shard name is a plain file name: anything else could point outside the checkpoint directory.
            if (name is null || name.Length == 0 || name != Path.GetFileName(name) || name is "." or "..")
                throw new InvalidDataException($"{indexPath}: weight_map entry '{key}' names '{value?.ToJsonString()}', not a file in {dir}");
            var full = Path.Combine(dir, name);
            if (!files.Contains(full)) files.Add(full);
        }
        return files;
    }

    static void LoadFiles(Gpt2Model model, IReadOnlyList<string> paths, string source)
    {
        ArgumentNullException.ThrowIfNull(model);
        var files = new List<SafetensorsFile>();
        try
        {
            foreach (var p in paths) files.Add(SafetensorsFile.Open(p));
            Load(model, files, source);
        }
        finally
        {
            foreach (var f in files) f.Dispose();
        }
    }

    static void Load(Gpt2Model model, List<SafetensorsFile> files, string source)
    {
        string Where(SafetensorsFile f) => files.Count > 1 ? $" (in {f.Path})" : "";
        // HF name (prefix stripped) -> the file and key holding it.
        var keys = new Dictionary<string, (SafetensorsFile File, string Key)>(StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var file in files)
            foreach (var key in file.Entries.Keys)
            {
                if (key == "lm_head.weight") continue;
                string name = key.StartsWith(Prefix, StringComparison.Ordinal) ? key[Prefix.Length..] : key;
                if (MaskBuffer().IsMatch(name)) continue;
                if (!keys.TryAdd(name, (file, key)))
                    problems.Add($"'{name}' appears both as '{keys[name].Key}'{Where(keys[name].File)} and '{key}'{Where(file)}");
            }
        var expected = model.CheckpointTensors().ToList();
        var expectedNames = expected.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var (name, shape, _) in expected)
        {
            if (!keys.TryGetValue(name, out var at)) { problems.Add($"missing '{name}' {Fmt(shape)}"); continue; }
            var e = at.File.Entries[at.Key];
            if (!e.Shape.SequenceEqual(shape)) problems.Add($"'{at.Key}'{Where(at.File)} is {Fmt(e.Shape)}, the model expects {Fmt(shape)}");
        }
        foreach (var (name, at) in keys)
            if (!expectedNames.Contains(name)) problems.Add($"unexpected '{at.Key}'{Where(at.File)}");
        if (problems.Count > 0)
            throw new InvalidDataException($"{source}: does not match GPT-2 (n_embd {model.Config.NEmbd}, n_layer {model.Config.NLayer}, " +
                $"vocab {model.Config.VocabSize}, n_positions {model.Config.NPositions}): {string.Join("; ", problems)}");
        // One tensor at a time: a multi-GB checkpoint never sits in host memory whole.
        foreach (var (name, _, load) in expected)
        {
            var (file, key) = keys[name];
            load(file.ReadFloats(key));
        }
    }

    static string Fmt(int[] shape) => $"[{string.Join(",", shape)}]";
}
