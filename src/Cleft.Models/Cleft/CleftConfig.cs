using Cleft.Models.Gpt2;
using Cleft.Models.Vision;
using BertShape = Cleft.Models.Bert.BertConfig;

namespace Cleft.Models.Recipe;

/// <summary>
/// Shape and options of a CLEFT model (docs/RECIPE.md §vision, §text, §peft): the ViT image tower at
/// <see cref="ImageSize"/>, the text tower, the joint dimension, the caption length, and the loss flavour. The text
/// tower is CLEFT's GPT-2 (<see cref="Text"/>, with its PEFT options <see cref="TextOptions"/>) or, for the BERT-CLIP
/// baseline, a fully fine-tuned BERT (<see cref="Bert"/>); exactly one of the two shapes is set.
/// <see cref="SumLoss"/> true = CLEFT's released code (two CE directions added), false = open_clip's mean.
/// <see cref="ClampLogitScale"/> clamps s to [0, ln 100] after each step (open_clip; CLEFT's code does not).
/// </summary>
public sealed record CleftConfig(
    VitConfig Vision,
    Gpt2Config? Text,
    Gpt2Options TextOptions,
    int ImageSize = 224,
    int EmbedDim = 512,
    int MaxTextLength = 64,
    bool SumLoss = false,
    bool ClampLogitScale = true,
    BertShape? Bert = null)
{
    /// <summary>The paper's model: DINOv2-B/14 with registers at 224 px + BioMedLM with LoRA r 8 on c_attn.</summary>
    public static CleftConfig Paper => new(VitConfig.Dinov2WithRegistersBase, Gpt2Config.BioMedLm(), Gpt2Options.Cleft);

    /// <summary>The GPT-2 text shape; throws for a BERT-CLIP config, naming what needed GPT-2.</summary>
    public Gpt2Config Gpt2(string purpose) => Text
        ?? throw new NotSupportedException($"{purpose} needs CLEFT's GPT-2 text tower; this model's text tower is a BERT (the BERT-CLIP baseline)");

    public void Validate()
    {
        Vision.Validate();
        TextOptions.Validate();
        if ((Text is null) == (Bert is null))
            throw new ArgumentException("CleftConfig: give exactly one text tower shape, GPT-2 (Text) or BERT (Bert)");
        int positions;
        string positionsName;
        if (Bert is { } bert)
        {
            bert.Validate();
            // The baseline fine-tunes BERT whole (CLEFT's paper); GPT-2's frozen-base options have no BERT counterpart here.
            if (TextOptions.FreezeBase || TextOptions.EffectiveAdapter is not null || TextOptions.HalfBase || TextOptions.HfDropout)
                throw new ArgumentException("CleftConfig: a BERT text tower is fully fine-tuned; frozen-base options (freeze, LoRA/IA3, fp16 base, GPT-2 dropout) do not apply to it");
            (positions, positionsName) = (bert.MaxPositions, "max_position_embeddings");
        }
        else
        {
            Text!.Validate();
            (positions, positionsName) = (Text.NPositions, "n_positions");
        }
        if (EmbedDim <= 0) throw new ArgumentException($"CleftConfig: embed dim must be positive, got {EmbedDim}");
        if (MaxTextLength <= 0 || MaxTextLength > positions)
            throw new ArgumentException($"CleftConfig: max text length {MaxTextLength} must be in [1, {positionsName} {positions}]");
        if (ImageSize <= 0 || ImageSize % Vision.PatchSize != 0)
            throw new ArgumentException($"CleftConfig: image size {ImageSize} must be a positive multiple of the patch size {Vision.PatchSize}");
    }
}
