namespace Cleft.Models.Vision;

/// <summary>
/// Parameter counts from a <see cref="VitConfig"/> alone (no weights), for the `params` report. The base config
/// gives 86,583,552 with HF's mask_token (86.58M, docs/RECIPE.md §params); <see cref="VisionTransformer"/> has no mask token
/// (it is only used for masked-image pretraining), and the tests check that its own count equals
/// <see cref="Backbone"/> with includeMaskToken false.
/// </summary>
public static class VitParameterCount
{
    /// <summary>Embeddings + blocks + final LayerNorm, with the position table for <paramref name="imageSize"/> (default: the config's).</summary>
    public static long Backbone(VitConfig c, int? imageSize = null, bool includeMaskToken = true)
    {
        long h = c.HiddenSize, grid = c.Grid(imageSize);
        long embeddings = h                                   // cls_token
            + (includeMaskToken ? h : 0)                      // mask_token
            + c.RegisterTokens * h                            // register_tokens
            + (1 + grid * grid) * h                           // position_embeddings (CLS + patches)
            + c.PatchDim * h + h;                             // patch projection (conv) weight + bias
        return embeddings + c.Layers * Block(c) + 2 * h;      // final layernorm
    }

    /// <summary>One block: two LayerNorms, q/k/v/output projections, two LayerScales, the MLP.</summary>
    public static long Block(VitConfig c)
    {
        long h = c.HiddenSize, m = c.MlpHidden;
        long qkv = 3 * (h * h + (c.QkvBias ? h : 0));
        return 2 * 2 * h + qkv + (h * h + h) + 2 * h + (h * m + m) + (m * h + h);
    }

    /// <summary>The image encoder: backbone without mask token + Linear(hidden, embedDim) with bias.</summary>
    public static long ImageEncoder(VitConfig c, int embedDim, int? imageSize = null) =>
        Backbone(c, imageSize, includeMaskToken: false) + (long)c.HiddenSize * embedDim + embedDim;
}
