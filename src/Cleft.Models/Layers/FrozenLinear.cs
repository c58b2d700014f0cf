using Cleft.Autograd;

namespace Cleft.Models.Layers;

/// <summary>
/// A frozen y = x W + b whose weight [in, out] is stored in fp16 (a frozen LLM's projections at half the
/// memory). The product is accumulated in fp32; gradients flow to x only. Built from a <see cref="Linear"/>,
/// whose fp32 weight it copies (rounded once) and then releases by disposing the Linear it takes over.
/// </summary>
public sealed class FrozenLinear : Module, IProjection
{
    public FrozenLinear(Linear source)
    {
        ArgumentNullException.ThrowIfNull(source);
        InFeatures = source.InFeatures;
        OutFeatures = source.OutFeatures;
        var dev = source.Weight.Device;
        Weight = new HalfTensor(dev, source.Weight.ToArray(), InFeatures, OutFeatures) { Name = "weight" };
        if (source.Bias is { } b)
        {
            Bias = AddParameter("bias", new Parameter(dev, b.ToArray(), OutFeatures));
            Bias.RequiresGrad = false;
        }
        source.Dispose();
    }

    public int InFeatures { get; }
    public int OutFeatures { get; }
    public HalfTensor Weight { get; }
    public Parameter? Bias { get; }
    Parameter? IProjection.Weight => null;
    HalfTensor? IProjection.HalfWeight => Weight;

    public Tensor Forward(Tensor x)
    {
        if (x.Dim(-1) != InFeatures)
            throw new ArgumentException($"FrozenLinear({InFeatures} -> {OutFeatures}): input {x.Describe()} has last axis {x.Dim(-1)}");
        return Ops.LinearHalf(x, Weight, Bias);
    }

    public override void Dispose()
    {
        Weight.Dispose();
        base.Dispose();
    }
}
