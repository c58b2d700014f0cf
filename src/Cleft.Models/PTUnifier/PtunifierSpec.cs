using System.Text.Json;
using Cleft.Autograd.IO;
using Cleft.Models.Bert;
using Cleft.Models.Recipe;
using Cleft.Models.Vision;

namespace Cleft.Models.PTUnifier;

/// <summary>
/// Everything needed to rebuild a PTUnifier model before its weights are loaded: where each tower comes from (a
/// Hugging Face folder, or a preset initialised from <see cref="Seed"/>: the vision presets of CLEFT's spec,
/// <see cref="BertPresets"/> for the text) and the shape options (defaults: docs/RECIPE.md §ptunifier). Saved as
/// ptunifier.json in a run folder and every checkpoint — not model.json, so CLEFT's loaders never mistake it for theirs.
/// </summary>
public sealed record PtunifierSpec
{
    public const string FileName = "ptunifier.json";

    public string Vision { get; init; } = "dinov2-vitb14-reg";
    public string Text { get; init; } = BertPresets.BaseUncased;
    public ulong Seed { get; init; } = 42;
    public int ImageSize { get; init; } = 224;
    public int MaxTextLength { get; init; } = 64;
    public int PoolSize { get; init; } = 2048;
    public int VisualPrompts { get; init; } = 49;
    public int TextualPrompts { get; init; } = 32;
    public int FusionLayers { get; init; } = 6;
    public int FusionHeads { get; init; } = 12;
    public int EmbedDim { get; init; } = 256;
    public float Temperature { get; init; } = 0.1f;
    public float MaskProbability { get; init; } = 0.15f;
    public ObjectiveWeights Weights { get; init; } = new();

    public VitConfig VisionConfig() => Directory.Exists(Vision)
        ? VitConfig.FromJson(Path.Combine(Vision, "config.json"))
        : CleftModelSpec.VisionPresets.TryGetValue(Vision, out var c) ? c
        : throw new ArgumentException($"vision tower '{Vision}' is neither a folder nor a preset ({string.Join(", ", CleftModelSpec.VisionPresets.Keys)})");

    public PtunifierConfig Config() => new PtunifierConfig(VisionConfig(), BertPresets.ConfigOf(Text), ImageSize, MaxTextLength, PoolSize,
        VisualPrompts, TextualPrompts, FusionLayers, FusionHeads, EmbedDim, Temperature, MaskProbability) { Weights = Weights }.Validate();

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static PtunifierSpec Read(string path)
    {
        try { return JsonSerializer.Deserialize<PtunifierSpec>(File.ReadAllText(path)) ?? throw new InvalidDataException($"{path}: empty PTUnifier spec"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a valid PTUnifier spec: {e.Message}", e); }
        catch (FileNotFoundException e) { throw new FileNotFoundException($"{path}: no PTUnifier spec (is this a `cleft ptunifier pretrain` run or checkpoint folder?)", path, e); }
    }
}
