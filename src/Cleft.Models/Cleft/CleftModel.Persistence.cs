using System.Security.Cryptography;
using System.Runtime.InteropServices;
using Cleft.Autograd;
using Cleft.Autograd.IO;
using Cleft.Kernels;
using Cleft.Models.Bert;
using Cleft.Models.Clip;
using Cleft.Models.Gpt2;
using Cleft.Models.Peft;
using Cleft.Models.Vision;

namespace Cleft.Models.Recipe;

/// <summary>
/// Building a model from a <see cref="CleftModelSpec"/>, fingerprinting its frozen weights, and saving / loading
/// the weights training changes. A saved model directory holds model.json (spec + fingerprint),
/// model.safetensors (trainable parameters other than LoRA, by name) and adapter/ (LoRA in PEFT's format).
/// </summary>
public sealed partial class CleftModel
{
    public const string WeightsFile = "model.safetensors", AdapterDirectory = "adapter";

    /// <summary>The spec this model was built from (null for models made with <see cref="Create"/> / <see cref="FromPretrained"/>).</summary>
    public CleftModelSpec? Spec { get; private set; }

    /// <summary>
    /// Builds the towers the spec names: the image tower first, then the text tower, from one Rng seeded by
    /// <see cref="CleftModelSpec.Seed"/> — so a preset's random frozen base is the same every time for that seed.
    /// </summary>
    public static CleftModel Build(IBackend device, CleftModelSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var config = spec.Config();
        config.Validate();
        var tokenize = spec.CreateTokenizer();
        var rng = new Rng(spec.Seed);
        VitImageEncoder? image = null;
        TextTower? text = null;
        try
        {
            image = new VitImageEncoder(device, rng, config.Vision, config.ImageSize, config.EmbedDim);
            if (CleftModelSpec.IsFolder(spec.Vision)) VitCheckpoint.Load(image.Vit, Path.Combine(spec.Vision, "model.safetensors"));
            text = !CleftModelSpec.IsFolder(spec.Text) ? NewText(device, config, rng)
                : spec.IsBert ? BertTextEncoder.FromPretrained(device, spec.Text, rng, config.EmbedDim)
                : Gpt2TextEncoder.FromPretrained(device, spec.Text, config.TextOptions, rng, config.EmbedDim);
            return new CleftModel(config, image, text, tokenize, device) { Spec = spec };
        }
        catch { image?.Dispose(); text?.Dispose(); throw; }
    }

    /// <summary>
    /// SHA-256 (first 16 hex digits) over the names and values of every weight training never changes: the
    /// frozen parameters and the fp16 base matrices. A checkpoint's trainable weights are only meaningful on
    /// top of the same frozen base, so resuming and evaluating compare this value.
    /// </summary>
    public string FrozenFingerprint()
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(string name, float[] values)
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(name));
            sha.AppendData(MemoryMarshal.AsBytes(values.AsSpan()));
        }
        foreach (var (name, p) in NamedParameters().Where(x => !x.Param.RequiresGrad).OrderBy(x => x.Name, StringComparer.Ordinal))
            Add(name, p.ToArray());
        foreach (var (name, values) in Text.HalfWeights()) Add($"text.{name}.weight(fp16)", values);
        return Convert.ToHexStringLower(sha.GetHashAndReset())[..16];
    }

    /// <summary>Writes model.json, model.safetensors and adapter/ into <paramref name="directory"/>.</summary>
    public void SaveWeights(string directory, string? frozenFingerprint = null)
    {
        Directory.CreateDirectory(directory);
        var lora = LoraNames();
        SafetensorsWriter.Write(Path.Combine(directory, WeightsFile), TrainableNamedParameters()
            .Where(x => !lora.Contains(x.Name))
            .Select(x => new SafetensorsWriter.Item(x.Name, x.Param.Shape, x.Param.ToArray())));
        if (Config.TextOptions.EffectiveAdapter is { } adapter && lora.Count > 0)
            PeftAdapter.Save(Path.Combine(directory, AdapterDirectory), Text.Backbone, adapter);
        if (Spec is not null)
            DurableFile.WriteAllText(Path.Combine(directory, CleftModelSpec.FileName), Spec.ToJson(frozenFingerprint ?? FrozenFingerprint()));
    }

    /// <summary>Loads what <see cref="SaveWeights"/> wrote; names and shapes must match the model exactly.</summary>
    public void LoadWeights(string directory)
    {
        var named = TrainableNamedParameters().ToDictionary(x => x.Name, x => x.Param);
        var lora = LoraNames();
        string modelPath = Path.Combine(directory, WeightsFile);
        using (var file = SafetensorsFile.Open(modelPath))
        {
            var expected = named.Keys.Where(k => !lora.Contains(k)).ToHashSet();
            var missing = expected.Where(k => !file.Entries.ContainsKey(k)).ToList();
            var extra = file.Entries.Keys.Where(k => !expected.Contains(k)).ToList();
            if (missing.Count > 0 || extra.Count > 0)
                throw new InvalidDataException($"{modelPath}: missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", extra)}]");
            foreach (var name in expected)
            {
                var e = file.Entries[name];
                if (!e.Shape.SequenceEqual(named[name].Shape))
                    throw new InvalidDataException($"{modelPath}: '{name}' is [{string.Join(",", e.Shape)}], the model's parameter is {named[name].ShapeString}");
                named[name].Load(file.ReadFloats(name));
            }
        }
        string adapter = Path.Combine(directory, AdapterDirectory);
        if (lora.Count > 0)
        {
            if (!Directory.Exists(adapter)) throw new InvalidDataException($"{directory}: the model has LoRA adapters but there is no {AdapterDirectory}/ folder");
            PeftAdapter.Load(adapter, Text.Backbone);
        }
    }

    /// <summary>
    /// An inference-ready model from a run folder (its best checkpoint by validation loss, else its last) or a
    /// saved model directory (a checkpoint): rebuilds the towers from model.json, refuses a frozen base whose
    /// fingerprint differs from the saved one (naming both), loads the trained weights, switches to eval mode.
    /// </summary>
    public static CleftModel Load(IBackend device, string directory)
    {
        directory = ResolveDirectory(directory);
        var (spec, saved) = CleftModelSpec.Read(Path.Combine(directory, CleftModelSpec.FileName));
        var model = Build(device, spec);
        try
        {
            CheckFingerprint(model.FrozenFingerprint(), saved, directory);
            model.LoadWeights(directory);
            model.Eval();
            return model;
        }
        catch { model.Dispose(); throw; }
    }

    /// <summary>The folder holding the weights: <paramref name="path"/> itself when it has them, else the best (lowest
    /// validation loss) or last checkpoint listed in <paramref name="path"/>/checkpoints/checkpoints.json.</summary>
    public static string ResolveDirectory(string path)
    {
        if (File.Exists(Path.Combine(path, WeightsFile)) && File.Exists(Path.Combine(path, CleftModelSpec.FileName))) return path;
        string index = Path.Combine(path, "checkpoints", "checkpoints.json");
        if (!File.Exists(index))
            throw new ArgumentException($"{path}: not a run folder with checkpoints (no checkpoints/checkpoints.json) nor a checkpoint folder (no {WeightsFile})");
        List<SavedCheckpoint>? entries;
        try { entries = System.Text.Json.JsonSerializer.Deserialize<List<SavedCheckpoint>>(File.ReadAllText(index)); }
        catch (System.Text.Json.JsonException e) { throw new InvalidDataException($"{index}: not a valid checkpoint index: {e.Message}", e); }
        var pick = entries?.Where(e => e.ValLoss is not null).MinBy(e => e.ValLoss) ?? entries?.MaxBy(e => e.Step)
            ?? throw new ArgumentException($"{index}: the run has no checkpoint yet");
        return Path.Combine(path, "checkpoints", pick.Name);
    }

    /// <summary>The fields of a checkpoint index entry that choosing one needs (the index is written by the trainers' CheckpointStore).</summary>
    sealed record SavedCheckpoint(string Name, int Step, float? ValLoss);

    /// <summary>Throws when the frozen base differs from the one <paramref name="source"/> was trained on.</summary>
    public static void CheckFingerprint(string actual, string? expected, string source)
    {
        if (expected is not null && !string.Equals(actual, expected, StringComparison.Ordinal))
            throw new InvalidDataException($"{source}: trained against frozen weights with fingerprint {expected}, but the model built now has " +
                $"fingerprint {actual} (a different base model folder, weights file or seed); refusing to combine them");
    }

    HashSet<string> LoraNames() => PeftAdapter.LoraParameters(this).Select(x => x.Name).ToHashSet();
}
