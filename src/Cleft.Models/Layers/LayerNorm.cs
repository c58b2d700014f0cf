using Cleft.Autograd;
using Cleft.Kernels;

namespace Cleft.Models.Layers;

/// <summary>LayerNorm over the last axis with learned weight (ones) and bias (zeros), as torch.nn.LayerNorm.</summary>
public sealed class LayerNorm : Module
{
    public LayerNorm(IBackend device, int features, float eps)
    {
        if (features <= 0) throw new ArgumentException($"LayerNorm: features must be positive, got {features}");
        Features = features;
        Eps = eps;
        Weight = AddParameter("weight", Parameter.Full(device, 1f, features));
        Bias = AddParameter("bias", Parameter.Zeros(device, features));
    }

    public int Features { get; }
    public float Eps { get; }
    public Parameter Weight { get; }
    public Parameter Bias { get; }

    public Tensor Forward(Tensor x) => Ops.LayerNorm(x, Weight, Bias, Eps);
}
