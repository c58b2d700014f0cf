using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Layers;
using Cleft.Models.Peft;

namespace Cleft.Models.Gpt2;

/// <summary>
/// A view of one of GPT-2's Conv1D projections (W [in, out], y = x W + b) under its HF name in a block. Not a
/// module itself: it reads whatever <see cref="IProjection"/> the block currently holds under that name, so
/// after <see cref="PeftInjection.Inject"/> has swapped the layer for a LoRA or IA3 wrapper the view follows it, and
/// parameter names stay HF's ("h.0.attn.c_attn.weight", "...c_attn.lora_A.weight").
/// </summary>
public sealed class Gpt2Conv1D
{
    readonly Func<Module> _current;

    internal Gpt2Conv1D(Func<Module> current) => _current = current;

    public Module Module => _current();
    IProjection Projection => (IProjection)_current();
    public Parameter? Weight => Projection.Weight;
    public HalfTensor? HalfWeight => Projection.HalfWeight;
    public Parameter? Bias => Projection.Bias;
    public int InFeatures => Projection.InFeatures;
    public int OutFeatures => Projection.OutFeatures;
    public LoraLinear? Lora => Module as LoraLinear;
    public Ia3Linear? Ia3 => Module as Ia3Linear;

    public Tensor Forward(Tensor x) => Projection.Forward(x);

    /// <summary>Writes the pretrained weight (fp32 host values, rounded once if stored in fp16).</summary>
    public void LoadWeight(float[] values)
    {
        if (HalfWeight is not null) HalfWeight.Load(values);
        else Weight!.Load(values);
    }

    /// <summary>The base layer the options ask for: a trainable or frozen fp32 Linear, or a frozen fp16 FrozenLinear.</summary>
    internal static Module Create(IBackend device, Rng rng, int inF, int outF, Gpt2Options options)
    {
        var linear = new Linear(device, rng, inF, outF);
        if (options.HalfBase) return new FrozenLinear(linear);
        if (options.FreezeBase) linear.RequiresGrad(false);
        return linear;
    }
}
