using Cleft.Models.Bert;
using Cleft.Models.Vision;

namespace Cleft.Models.PTUnifier;

/// <summary>How much each pretraining objective counts (docs/RECIPE.md §ptunifier); 0 switches one off entirely.</summary>
public sealed record ObjectiveWeights(float Mlm = 1f, float Itm = 0.5f, float Itc = 0.1f)
{
    public void Validate()
    {
        if (!(Mlm >= 0 && Itm >= 0 && Itc >= 0) || !float.IsFinite(Mlm + Itm + Itc) || Mlm + Itm + Itc <= 0)
            throw new ArgumentException($"ObjectiveWeights: weights must be finite, >= 0 and not all 0, got mlm {Mlm}, itm {Itm}, itc {Itc}");
    }
}

/// <summary>
/// Shape of a PTUnifier model (docs/PTUNIFIER.md): the ViT and BERT towers, the two prompt pools (P rows each, the top
/// k visual / textual rows become pseudo tokens), the co-attention fusion (depth, heads; its width is the towers'),
/// the contrastive embedding width and temperature, the MLM masking rate and the objective weights. The pools are
/// scored by a dot product between a query of one modality and rows of the other's pool, so both towers must share
/// one width, as ViT-B and bert-base do.
/// </summary>
public sealed record PtunifierConfig(
    VitConfig Vision,
    BertConfig Text,
    int ImageSize = 224,
    int MaxTextLength = 64,
    int PoolSize = 1024,
    int VisualPrompts = 49,
    int TextualPrompts = 32,
    int FusionLayers = 2,
    int FusionHeads = 12,
    int EmbedDim = 256,
    float Temperature = 0.1f,
    float MaskProbability = 0.15f)
{
    public ObjectiveWeights Weights { get; init; } = new();

    public int Hidden => Text.HiddenSize;

    public PtunifierConfig Validate()
    {
        Vision.Validate();
        Text.Validate();
        Weights.Validate();
        void Need(bool ok, string what) { if (!ok) throw new ArgumentException($"PtunifierConfig: {what}"); }
        Need(Vision.HiddenSize == Text.HiddenSize,
            $"the vision tower is {Vision.HiddenSize} wide and the text tower {Text.HiddenSize}: the prompt pools score one modality's query against the other's rows, so the widths must agree");
        Need(ImageSize > 0 && ImageSize % Vision.PatchSize == 0, $"image size {ImageSize} must be a positive multiple of the patch size {Vision.PatchSize}");
        Need(MaxTextLength >= 3 && MaxTextLength <= Text.MaxPositions, $"max text length {MaxTextLength} must be in [3, max_position_embeddings {Text.MaxPositions}]");
        Need(PoolSize > 0, $"pool size {PoolSize} must be positive");
        Need(VisualPrompts > 0 && VisualPrompts <= PoolSize && TextualPrompts > 0 && TextualPrompts <= PoolSize,
            $"the visual ({VisualPrompts}) and textual ({TextualPrompts}) prompt counts must be in [1, pool size {PoolSize}]");
        Need(TextualPrompts + 1 <= Text.MaxPositions, $"[CLS] + {TextualPrompts} textual prompts exceed max_position_embeddings {Text.MaxPositions}");
        Need(FusionLayers > 0 && FusionHeads > 0 && Hidden % FusionHeads == 0,
            $"fusion depth {FusionLayers} and heads {FusionHeads} must be positive, and the width {Hidden} a multiple of the heads");
        Need(EmbedDim > 0, $"embed dim {EmbedDim} must be positive");
        Need(Temperature > 0 && float.IsFinite(Temperature), $"temperature {Temperature} must be positive");
        Need(MaskProbability is > 0 and < 1, $"mask probability {MaskProbability} must be in (0, 1)");
        return this;
    }
}
