using Cleft.Models.Gpt2;
using Cleft.Models.Vision;

namespace Cleft.Models.Recipe;

/// <summary>
/// Shape and options of a CLEFT model (docs/RECIPE.md §vision, §text, §peft): the ViT image tower at
/// <see cref="ImageSize"/>, the GPT-2 text tower with its PEFT options, the joint dimension, the caption length, and the loss flavour.
/// <see cref="SumLoss"/> true = CLEFT's released code (two CE directions added), false = open_clip's mean.
/// <see cref="ClampLogitScale"/> clamps s to [0, ln 100] after each step (open_clip; CLEFT's code does not).
/// </summary>
public sealed record CleftConfig(
    VitConfig Vision,
    Gpt2Config Text,
    Gpt2Options TextOptions,
    int ImageSize = 224,
    int EmbedDim = 512,
    int MaxTextLength = 64,
    bool SumLoss = false,
    bool ClampLogitScale = true)
{
    /// <summary>The paper's model: DINOv2-B/14 with registers at 224 px + BioMedLM with LoRA r 8 on c_attn.</summary>
    public static CleftConfig Paper => new(VitConfig.Dinov2WithRegistersBase, Gpt2Config.BioMedLm(), Gpt2Options.Cleft);

    public void Validate()
    {
        Vision.Validate();
        Text.Validate();
        TextOptions.Validate();
        if (EmbedDim <= 0) throw new ArgumentException($"CleftConfig: embed dim must be positive, got {EmbedDim}");
        if (MaxTextLength <= 0 || MaxTextLength > Text.NPositions)
            throw new ArgumentException($"CleftConfig: max text length {MaxTextLength} must be in [1, n_positions {Text.NPositions}]");
        if (ImageSize <= 0 || ImageSize % Vision.PatchSize != 0)
            throw new ArgumentException($"CleftConfig: image size {ImageSize} must be a positive multiple of the patch size {Vision.PatchSize}");
    }
}
