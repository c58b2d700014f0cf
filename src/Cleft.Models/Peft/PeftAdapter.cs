using System.Text.Json;
using System.Text.Json.Nodes;
using Cleft.Autograd;
using Cleft.Autograd.IO;

namespace Cleft.Models.Peft;

/// <summary>
/// Saves and loads only the adapter weights of a model (LoRA or IA3), in PEFT's format: a directory with
/// adapter_config.json and adapter_model.safetensors whose keys are "base_model.model." + the parameter's
/// dotted name, e.g. base_model.model.h.0.attn.c_attn.lora_A.weight or ...c_attn.ia3_l. An adapter parameter
/// is one <see cref="PeftInjection.IsAdapterParameter"/> names; the frozen base model is not written.
/// </summary>
public static class PeftAdapter
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";
    public const string KeyPrefix = "base_model.model.";

    /// <summary>The model's adapter parameters (LoRA matrices, IA3 vectors) by dotted name.</summary>
    public static List<(string Name, Parameter Param)> LoraParameters(Module model) =>
        model.NamedParameters().Where(x => PeftInjection.IsAdapterParameter(x.Name)).ToList();

    /// <summary>
    /// Writes the adapter (fp32 by default; "F16" halves the file). target_modules are the config's (what
    /// <see cref="PeftInjection.Inject"/> matched), or, when it names none, the modules that carry adapter parameters.
    /// </summary>
    public static void Save(string directory, Module model, AdapterConfig config, string dtype = "F32")
    {
        var adapter = LoraParameters(model);
        if (adapter.Count == 0) throw new InvalidOperationException($"PeftAdapter.Save: {model.GetType().Name} has no adapter parameters");
        Directory.CreateDirectory(directory);
        var targets = config.TargetModules ?? adapter.Select(x => TargetOf(x.Name)).Where(t => t.Length > 0).Distinct().ToArray();
        var json = new JsonObject
        {
            ["peft_type"] = config.PeftType,
            ["target_modules"] = new JsonArray(targets.Select(t => (JsonNode)t!).ToArray()),
            ["fan_in_fan_out"] = true, // GPT-2 Conv1D layout: every W is stored [in, out]
            ["inference_mode"] = true,
            ["task_type"] = null,
            ["base_model_name_or_path"] = null,
            ["modules_to_save"] = null,
        };
        switch (config)
        {
            case LoraConfig lora:
                json["r"] = lora.R;
                json["lora_alpha"] = lora.Alpha;
                json["lora_dropout"] = lora.Dropout;
                json["bias"] = "none";
                json["init_lora_weights"] = true;
                break;
            case Ia3Config ia3:
                json["feedforward_modules"] = new JsonArray((ia3.FeedforwardModules ?? []).Select(t => (JsonNode)t!).ToArray());
                json["init_ia3_weights"] = true;
                break;
        }
        DurableFile.WriteAllText(Path.Combine(directory, ConfigFile), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        SafetensorsWriter.Write(Path.Combine(directory, WeightsFile),
            adapter.Select(x => new SafetensorsWriter.Item(KeyPrefix + x.Name, x.Param.Shape, x.Param.ToArray())), dtype);
    }

    /// <summary>The module name before the adapter's ("c_attn" for h.0.attn.c_attn.lora_A.weight or h.0.attn.c_attn.ia3_l).</summary>
    static string TargetOf(string name)
    {
        var parts = name.Split('.');
        int back = parts[^1] == "ia3_l" ? 2 : 3;
        return parts.Length >= back ? parts[^back] : "";
    }

    /// <summary>
    /// Loads the adapter into <paramref name="model"/>'s adapter parameters. Every one must be in the file with
    /// its exact shape, the file must hold nothing else, and for LoRA r in the config must match the model's
    /// (and lora_alpha too when a LoraLinear itself is passed); errors name the file and key. Returns the config read.
    /// </summary>
    public static AdapterConfig Load(string directory, Module model)
    {
        string configPath = Path.Combine(directory, ConfigFile), weightsPath = Path.Combine(directory, WeightsFile);
        var config = ReadConfig(configPath);
        var lora = config as LoraConfig;
        // Module lists parameters, not typed children: a LoraLinear passed itself is checked for r and alpha;
        // in a larger model r is checked through lora_A's shape below (alpha is the caller's to match).
        if (model is LoraLinear m && lora is not null && (m.Config.R != lora.R || m.Config.Alpha != lora.Alpha))
            throw new InvalidDataException($"{configPath}: r={lora.R}, lora_alpha={lora.Alpha}, but the layer uses r={m.Config.R}, alpha={m.Config.Alpha}");
        using var file = SafetensorsFile.Open(weightsPath);
        var adapter = LoraParameters(model);
        var expected = adapter.Select(x => KeyPrefix + x.Name).ToHashSet(StringComparer.Ordinal);
        var extra = file.Entries.Keys.Where(k => !expected.Contains(k)).ToList();
        var missing = expected.Where(k => !file.Entries.ContainsKey(k)).ToList();
        if (extra.Count > 0 || missing.Count > 0)
            throw new InvalidDataException($"{weightsPath}: missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", extra)}]");
        foreach (var (name, p) in adapter)
        {
            if (lora is not null && name.EndsWith("lora_A.weight", StringComparison.Ordinal) && p.Dim(0) != lora.R)
                throw new InvalidDataException($"{configPath}: r={lora.R}, but the model's '{name}' is {p.ShapeString}");
            var e = file.Entries[KeyPrefix + name];
            if (!e.Shape.SequenceEqual(p.Shape))
                throw new InvalidDataException($"{weightsPath}: '{e.Name}' is [{string.Join(",", e.Shape)}], the model's parameter is {p.ShapeString}");
            p.Load(file.ReadFloats(e.Name));
        }
        return config;
    }

    static AdapterConfig ReadConfig(string path)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON: {e.Message}", e); }
        if (node is not JsonObject o) throw new InvalidDataException($"{path}: expected a JSON object");
        string? type = o["peft_type"]?.GetValueKind() == JsonValueKind.String ? (string?)o["peft_type"] : null;
        if (type is not ("LORA" or "IA3")) throw new InvalidDataException($"{path}: peft_type is '{type}', expected 'LORA' or 'IA3'");
        static string[]? Names(JsonNode? n) => n is JsonArray a ? a.Select(x => (string)x!).ToArray() : null;
        try
        {
            string[]? targets = Names(o["target_modules"]);
            AdapterConfig cfg = type == "IA3"
                ? new Ia3Config(targets, Names(o["feedforward_modules"]))
                : new LoraConfig((int)o["r"]!, (float)o["lora_alpha"]!, o["lora_dropout"] is { } d ? (float)d : 0f, targets);
            cfg.Validate();
            return cfg;
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException or ArgumentException)
        {
            throw new InvalidDataException($"{path}: bad {type} settings (r / lora_alpha / lora_dropout / target_modules / feedforward_modules): {e.Message}", e);
        }
    }
}
