using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Layers;

namespace Cleft.Models.Vision;

/// <summary>
/// CLEFT's image tower (docs/RECIPE.md §vision): the mean over ALL tokens (CLS and registers included) of the last block's
/// output before the final LayerNorm, then Linear(hidden, embedDim). The backbone's final LayerNorm is loaded
/// with the checkpoint but takes no part (and so gets no gradient). Parameter names: vit.* and proj.*.
/// </summary>
public sealed class VitImageEncoder : Module
{
    public VitImageEncoder(IBackend device, Rng rng, VitConfig config, int imageSize = 224, int embedDim = 512)
    {
        Vit = AddModule("vit", new VisionTransformer(device, rng, config, imageSize));
        Projection = AddModule("proj", new Linear(device, rng, config.HiddenSize, embedDim));
    }

    public VisionTransformer Vit { get; }
    public Linear Projection { get; }
    public int EmbedDim => Projection.OutFeatures;

    /// <summary>Mean-pooled tokens [B, hidden] (the linear probe's features).</summary>
    public Tensor Pooled(Tensor pixels)
    {
        using var tokens = Vit.ForwardTokens(pixels); // the mean saves nothing: the last block's output goes here
        return Ops.Mean(tokens, 1);
    }

    /// <summary>pixels [B, C, S, S] -> image embedding [B, embedDim] (not normalised; the contrastive head does that).</summary>
    public Tensor Forward(Tensor pixels)
    {
        using var pooled = Pooled(pixels);
        return Projection.Forward(pooled);
    }
}
