using System.Text.Json;
using System.Text.Json.Nodes;
using Cleft.Autograd;
using Cleft.Autograd.IO;

namespace Cleft.Models.Peft;

/// <summary>
/// Saves and loads only the LoRA weights of a model, in PEFT's format: a directory with adapter_config.json
/// and adapter_model.safetensors whose keys are "base_model.model." + the parameter's dotted name, e.g.
/// base_model.model.h.0.attn.c_attn.lora_A.weight. A LoRA parameter is any named "lora_A.weight" or
/// "lora_B.weight" (see <see cref="LoraLinear"/>); the frozen base model is not written.
/// </summary>
public static class PeftAdapter
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";
    public const string KeyPrefix = "base_model.model.";

    static bool IsLora(string name) =>
        name == "lora_A.weight" || name == "lora_B.weight" || name.EndsWith(".lora_A.weight", StringComparison.Ordinal) || name.EndsWith(".lora_B.weight", StringComparison.Ordinal);

    /// <summary>The model's LoRA parameters by dotted name.</summary>
    public static List<(string Name, Parameter Param)> LoraParameters(Module model) =>
        model.NamedParameters().Where(x => IsLora(x.Name)).ToList();

    /// <summary>Writes the adapter (fp32 by default; "F16" halves the file).</summary>
    public static void Save(string directory, Module model, LoraConfig config, string dtype = "F32")
    {
        var lora = LoraParameters(model);
        if (lora.Count == 0) throw new InvalidOperationException($"PeftAdapter.Save: {model.GetType().Name} has no LoRA parameters");
        Directory.CreateDirectory(directory);
        var targets = config.TargetModules ?? lora.Select(x => TargetOf(x.Name)).Where(t => t.Length > 0).Distinct().ToArray();
        var json = new JsonObject
        {
            ["peft_type"] = "LORA",
            ["r"] = config.R,
            ["lora_alpha"] = config.Alpha,
            ["lora_dropout"] = config.Dropout,
            ["target_modules"] = new JsonArray(targets.Select(t => (JsonNode)t!).ToArray()),
            ["fan_in_fan_out"] = true, // GPT-2 Conv1D: W stored [in, out]
            ["bias"] = "none",
            ["init_lora_weights"] = true,
            ["inference_mode"] = true,
            ["task_type"] = null,
            ["base_model_name_or_path"] = null,
            ["modules_to_save"] = null,
        };
        DurableFile.WriteAllText(Path.Combine(directory, ConfigFile), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        SafetensorsWriter.Write(Path.Combine(directory, WeightsFile),
            lora.Select(x => new SafetensorsWriter.Item(KeyPrefix + x.Name, x.Param.Shape, x.Param.ToArray())), dtype);
    }

    /// <summary>Last module name before lora_A/lora_B ("c_attn" for h.0.attn.c_attn.lora_A.weight).</summary>
    static string TargetOf(string name)
    {
        var parts = name.Split('.');
        return parts.Length >= 3 ? parts[^3] : "";
    }

    /// <summary>
    /// Loads the adapter into <paramref name="model"/>'s LoRA parameters. Every LoRA parameter must be in the
    /// file with its exact shape, the file must hold nothing else, and r in the config must match the model's
    /// (and lora_alpha too when a LoraLinear itself is passed); errors name the file and key. Returns the config read.
    /// </summary>
    public static LoraConfig Load(string directory, Module model)
    {
        string configPath = Path.Combine(directory, ConfigFile), weightsPath = Path.Combine(directory, WeightsFile);
        var config = ReadConfig(configPath);
        // Module lists parameters, not typed children: a LoraLinear passed itself is checked for r and alpha;
        // in a larger model r is checked through lora_A's shape below (alpha is the caller's to match).
        if (model is LoraLinear m && (m.Config.R != config.R || m.Config.Alpha != config.Alpha))
            throw new InvalidDataException($"{configPath}: r={config.R}, lora_alpha={config.Alpha}, but the layer uses r={m.Config.R}, alpha={m.Config.Alpha}");
        using var file = SafetensorsFile.Open(weightsPath);
        var lora = LoraParameters(model);
        var expected = lora.Select(x => KeyPrefix + x.Name).ToHashSet(StringComparer.Ordinal);
        var extra = file.Entries.Keys.Where(k => !expected.Contains(k)).ToList();
        var missing = expected.Where(k => !file.Entries.ContainsKey(k)).ToList();
        if (extra.Count > 0 || missing.Count > 0)
            throw new InvalidDataException($"{weightsPath}: missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", extra)}]");
        foreach (var (name, p) in lora)
        {
            if (name.EndsWith("lora_A.weight", StringComparison.Ordinal) && p.Dim(0) != config.R)
                throw new InvalidDataException($"{configPath}: r={config.R}, but the model's '{name}' is {p.ShapeString}");
            var e = file.Entries[KeyPrefix + name];
            if (!e.Shape.SequenceEqual(p.Shape))
                throw new InvalidDataException($"{weightsPath}: '{e.Name}' is [{string.Join(",", e.Shape)}], the model's parameter is {p.ShapeString}");
            p.Load(file.ReadFloats(e.Name));
        }
        return config;
    }

    static LoraConfig ReadConfig(string path)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON: {e.Message}", e); }
        if (node is not JsonObject o) throw new InvalidDataException($"{path}: expected a JSON object");
        string? type = o["peft_type"]?.GetValueKind() == JsonValueKind.String ? (string?)o["peft_type"] : null;
        if (type != "LORA") throw new InvalidDataException($"{path}: peft_type is '{type}', expected 'LORA'");
        try
        {
            int r = (int)o["r"]!;
            float alpha = (float)o["lora_alpha"]!;
            float dropout = o["lora_dropout"] is { } d ? (float)d : 0f;
            string[]? targets = o["target_modules"] is JsonArray a ? a.Select(x => (string)x!).ToArray() : null;
            var cfg = new LoraConfig(r, alpha, dropout, targets);
            cfg.Validate();
            return cfg;
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException or ArgumentException)
        {
            throw new InvalidDataException($"{path}: bad r / lora_alpha / lora_dropout / target_modules: {e.Message}", e);
        }
    }
}
