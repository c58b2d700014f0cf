using Cleft.Autograd;

namespace Cleft.Models.Layers;

/// <summary>
/// A y = x W + b projection (W [in, out]) in any of its forms: trainable <see cref="Linear"/>, frozen fp16
/// <see cref="FrozenLinear"/>, or one wrapped by a PEFT adapter. Models call their projections through this
/// interface so that PeftInjection.Inject can swap a layer for its adapter-wrapped form without the model knowing.
/// </summary>
public interface IProjection
{
    int InFeatures { get; }
    int OutFeatures { get; }
    /// <summary>The fp32 base weight [in, out], or null when it is stored in fp16 (<see cref="HalfWeight"/>).</summary>
    Parameter? Weight { get; }
    HalfTensor? HalfWeight { get; }
    Parameter? Bias { get; }
    Tensor Forward(Tensor x);
}
