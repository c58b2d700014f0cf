using Cleft.Autograd;
using Cleft.Kernels;

namespace Cleft.Models.Gpt2;

/// <summary>GPT-2's LayerNorm over the last axis, parameters named as in HF ("weight", "bias").</summary>
public sealed class Gpt2LayerNorm : Module
{
    public Gpt2LayerNorm(IBackend device, int features, float eps)
    {
        Eps = eps;
        Weight = AddParameter("weight", Parameter.Full(device, 1f, features));
        Bias = AddParameter("bias", Parameter.Zeros(device, features));
    }

    public float Eps { get; }
    public Parameter Weight { get; }
    public Parameter Bias { get; }

    public Tensor Forward(Tensor x) => Ops.LayerNorm(x, Weight, Bias, Eps);
}
