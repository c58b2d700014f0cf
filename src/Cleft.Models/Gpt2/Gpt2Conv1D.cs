using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Layers;
using Cleft.Models.Peft;

namespace Cleft.Models.Gpt2;

/// <summary>
/// One of GPT-2's Conv1D projections (W [in, out], y = x W + b) in whichever form the options ask for: a
/// trainable or frozen fp32 <see cref="Linear"/>, a frozen fp16 <see cref="FrozenLinear"/>, or a
/// <see cref="LoraLinear"/> over either. Not a module itself: its inner module is registered under the HF
/// name by the block, so parameter names stay HF's ("h.0.attn.c_attn.weight", "...c_attn.lora_A.weight").
/// </summary>
public sealed class Gpt2Conv1D
{
    readonly Func<Tensor, Tensor> _forward;

    Gpt2Conv1D(Module module, Func<Tensor, Tensor> forward, Parameter? weight, HalfTensor? half, Parameter? bias, int inF, int outF)
    {
        Module = module; _forward = forward; Weight = weight; HalfWeight = half; Bias = bias; InFeatures = inF; OutFeatures = outF;
    }

    public Module Module { get; }
    public Parameter? Weight { get; }
    public HalfTensor? HalfWeight { get; }
    public Parameter? Bias { get; }
    public int InFeatures { get; }
    public int OutFeatures { get; }
    public LoraLinear? Lora => Module as LoraLinear;

    public Tensor Forward(Tensor x) => _forward(x);

    /// <summary>Writes the pretrained weight (fp32 host values, rounded once if stored in fp16).</summary>
    public void LoadWeight(float[] values)
    {
        if (HalfWeight is not null) HalfWeight.Load(values);
        else Weight!.Load(values);
    }

    public static Gpt2Conv1D Create(IBackend device, Rng rng, int inF, int outF, Gpt2Options options, bool lora)
    {
        var linear = new Linear(device, rng, inF, outF);
        if (lora && options.Lora is { } cfg)
        {
            var l = new LoraLinear(linear, cfg, rng, options.HalfBase);
            return new Gpt2Conv1D(l, l.Forward, l.Weight, l.HalfWeight, l.Bias, inF, outF);
        }
        if (options.HalfBase)
        {
            var f = new FrozenLinear(linear);
            return new Gpt2Conv1D(f, f.Forward, null, f.Weight, f.Bias, inF, outF);
        }
        if (options.FreezeBase) linear.RequiresGrad(false);
        return new Gpt2Conv1D(linear, linear.Forward, linear.Weight, null, linear.Bias, inF, outF);
    }
}
