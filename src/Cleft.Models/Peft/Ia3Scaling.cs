using Cleft.Autograd;
using Cleft.Kernels;

namespace Cleft.Models.Peft;

/// <summary>
/// PEFT's IA3 vector: y = x * l over the feature axis with a learnable l [features] initialised to ones (so the
/// model starts unchanged). CLEFT's option puts one on c_attn's output and one on mlp.c_proj's input.
/// Parameter name "ia3_l" as in PEFT's state dicts.
/// </summary>
public sealed class Ia3Scaling : Module
{
    public Ia3Scaling(IBackend device, int features)
    {
        if (features <= 0) throw new ArgumentException($"Ia3Scaling: features must be positive, got {features}");
        Features = features;
        L = AddParameter("ia3_l", Parameter.Full(device, 1f, features));
    }

    public int Features { get; }
    public Parameter L { get; }

    public Tensor Forward(Tensor x) => Ops.Ia3(x, L);
}
