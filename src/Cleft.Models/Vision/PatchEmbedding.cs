using Cleft.Autograd;
using Cleft.Kernels;

namespace Cleft.Models.Vision;

/// <summary>
/// HF's patch_embeddings.projection: Conv2d(C, hidden, kernel = stride = patch). With kernel = stride the patches
/// do not overlap, so the convolution is an im2col layout op (Reshape + Permute, no gather) and one GEMM with the bias. The
/// weight is stored [C*p*p, hidden] (the conv weight [hidden, C, p, p] flattened and transposed) so the GEMM
/// needs no transpose; <see cref="VitCheckpoint"/> converts HF's layout on load.
/// </summary>
public sealed class PatchEmbedding : Module
{
    readonly int _channels, _patch, _hidden;

    public PatchEmbedding(IBackend device, Rng rng, VitConfig config)
    {
        _channels = config.Channels; _patch = config.PatchSize; _hidden = config.HiddenSize;
        // torch's Conv2d default init: U(+-1/sqrt(fan_in)), fan_in = C*p*p.
        float bound = 1f / MathF.Sqrt(config.PatchDim);
        Weight = AddParameter("weight", Parameter.Uniform(device, rng, bound, config.PatchDim, config.HiddenSize));
        Bias = AddParameter("bias", Parameter.Uniform(device, rng, bound, config.HiddenSize));
    }

    public Parameter Weight { get; }
    public Parameter Bias { get; }

    /// <summary>pixels [B, C, H, W] (H = W, a multiple of the patch) -> [B, (H/p)^2, hidden], patches in row-major order.</summary>
    public Tensor Forward(Tensor pixels)
    {
        if (pixels.Rank != 4 || pixels.Dim(1) != _channels || pixels.Dim(2) != pixels.Dim(3) || pixels.Dim(2) % _patch != 0)
            throw new ArgumentException($"PatchEmbedding: expected pixels [batch, {_channels}, S, S] with S a multiple of {_patch}, got {pixels.Describe()}");
        int b = pixels.Dim(0), g = pixels.Dim(2) / _patch, p = _patch;
        // [B, C, gy, py, gx, px] -> [B, gy, gx, C, py, px]: one row per patch, features in the conv weight's (C, py, px) order.
        using var grid = Ops.Reshape(pixels, b, _channels, g, p, g, p);
        using var cols = Ops.Permute(grid, 0, 2, 4, 1, 3, 5);
        using var patches = Ops.Reshape(cols, b, g * g, _channels * p * p);
        // One op with the bias (added as the GEMM stores C, same bits as MatMul then Add): no second [B, N, hidden] pass.
        return Ops.Linear(patches, Weight, Bias);
    }
}
