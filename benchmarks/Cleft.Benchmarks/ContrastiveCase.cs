using Cleft.Autograd;
using Cleft.Kernels.Cpu;

namespace Cleft.Benchmarks;

/// <summary>
/// The "contrastive" side-by-side case: CLIP loss forward + backward through the engine on the managed
/// backend — L2-normalise image and text embeddings [n, 512], fused symmetric InfoNCE with a learnable
/// scale, gradients to both embeddings and the scale. Counted work: the three n x n x 512 products.
/// </summary>
static class ContrastiveCase
{
    public const int Dim = 512;

    public static Workload Build(int n)
    {
        var dev = new CpuBackend();
        var img = new Parameter(dev, Data.Uniform((long)n * Dim, 3), n, Dim);
        var txt = new Parameter(dev, Data.Uniform((long)n * Dim, 4), n, Dim);
        var scale = Parameter.Full(dev, MathF.Log(1f / 0.07f), 1);
        return new Workload(() =>
        {
            using var scope = new TensorScope();
            img.ZeroGrad(); txt.ZeroGrad(); scale.ZeroGrad();
            Ops.ContrastiveLoss(Ops.L2Normalize(img), Ops.L2Normalize(txt), scale).Backward();
        }, 6.0 * n * n * Dim);
    }
}
