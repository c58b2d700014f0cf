using Cleft.Autograd;
using Cleft.Autograd.IO;
using Cleft.Kernels;
using Cleft.Models.Bert;
using Cleft.Models.Recipe;
using Cleft.Models.Vision;

namespace Cleft.Models.PTUnifier;

/// <summary>
/// Building from a <see cref="PtunifierSpec"/> and saving / loading the weights. Every parameter trains, so a saved
/// model directory holds ptunifier.json and model.safetensors with all parameters by name.
/// </summary>
public sealed partial class PtunifierModel
{
    public const string WeightsFile = "model.safetensors";

    /// <summary>The spec this model was built from (null for models made with the constructor).</summary>
    public PtunifierSpec? Spec { get; private set; }

    /// <summary>Builds the model the spec names from one Rng seeded by <see cref="PtunifierSpec.Seed"/>; folder towers load their weights.</summary>
    public static PtunifierModel Build(IBackend device, PtunifierSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var tokenizer = BertPresets.Tokenizer(spec.Text);
        var model = new PtunifierModel(device, spec.Config(), tokenizer, new Rng(spec.Seed)) { Spec = spec };
        try
        {
            if (Directory.Exists(spec.Vision)) VitCheckpoint.Load(model.Vision, Path.Combine(spec.Vision, "model.safetensors"));
            if (Directory.Exists(spec.Text)) BertCheckpoint.LoadWeights(model.Text, Path.Combine(spec.Text, BertCheckpoint.WeightsFile));
            return model;
        }
        catch { model.Dispose(); throw; }
    }

    /// <summary>
    /// Nothing in PTUnifier is frozen, so the value only tells "no frozen base" apart from a CLEFT checkpoint's; it
    /// exists because the shared trainer compares fingerprints on resume.
    /// </summary>
    public static string FrozenFingerprint() => "ptunifier-all-trainable";

    /// <summary>Writes ptunifier.json (when built from a spec) and model.safetensors into <paramref name="directory"/>.</summary>
    public void SaveWeights(string directory)
    {
        Directory.CreateDirectory(directory);
        SafetensorsWriter.Write(Path.Combine(directory, WeightsFile),
            NamedParameters().Select(x => new SafetensorsWriter.Item(x.Name, x.Param.Shape, x.Param.ToArray())));
        if (Spec is not null) DurableFile.WriteAllText(Path.Combine(directory, PtunifierSpec.FileName), Spec.ToJson());
    }

    /// <summary>Loads what <see cref="SaveWeights"/> wrote; names and shapes must match exactly (all problems in one error).</summary>
    public void LoadWeights(string directory)
    {
        string path = Path.Combine(directory, WeightsFile);
        using var file = SafetensorsFile.Open(path);
        var named = NamedParameters().ToDictionary(x => x.Name, x => x.Param);
        var problems = named.Keys.Where(k => !file.Entries.ContainsKey(k)).Select(k => $"missing '{k}'")
            .Concat(file.Entries.Keys.Where(k => !named.ContainsKey(k)).Select(k => $"unexpected '{k}'"))
            .Concat(named.Where(x => file.Entries.TryGetValue(x.Key, out var e) && !e.Shape.SequenceEqual(x.Value.Shape))
                .Select(x => $"'{x.Key}' is [{string.Join(",", file.Entries[x.Key].Shape)}], the model's is {x.Value.ShapeString}")).ToList();
        if (problems.Count > 0) throw new InvalidDataException($"{path}: does not match the PTUnifier model:\n  " + string.Join("\n  ", problems));
        foreach (var (name, p) in named) p.Load(file.ReadFloats(name));
    }

    /// <summary>
    /// An eval-mode model from a run folder (its best checkpoint by validation loss, else its last) or a checkpoint
    /// folder: rebuilt from its ptunifier.json, weights loaded.
    /// </summary>
    public static PtunifierModel Load(IBackend device, string directory)
    {
        string dir = File.Exists(Path.Combine(directory, PtunifierSpec.FileName)) && File.Exists(Path.Combine(directory, WeightsFile))
            ? directory : CleftModel.ResolveDirectory(directory);
        var model = Build(device, PtunifierSpec.Read(Path.Combine(dir, PtunifierSpec.FileName)));
        try
        {
            model.LoadWeights(dir);
            model.Eval();
            model.Source = dir;
            return model;
        }
        catch { model.Dispose(); throw; }
    }

    /// <summary>The checkpoint folder a loaded model came from (null when built fresh).</summary>
    public string? Source { get; private set; }
}
