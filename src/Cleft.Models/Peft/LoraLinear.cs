using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Layers;

namespace Cleft.Models.Peft;

/// <summary>
/// A PEFT-style LoRA wrapper around a <see cref="Linear"/> (Conv1D layout, W [in, out]):
/// y = x W + b + (dropout(x) lora_A^T) lora_B^T * alpha / r. The base weight and bias are frozen; lora_A
/// [r, in] starts kaiming-uniform (U(±1/sqrt(in))) and lora_B [out, r] at zero, so the wrapped layer starts
/// exactly equal to the base. Parameter names follow PEFT: weight, bias, lora_A.weight, lora_B.weight.
/// <para>With <c>halfBase</c> the base weight is kept in fp16 (<see cref="HalfTensor"/>), half the memory of
/// fp32; the fp32 copy is released. The wrapper takes ownership of the Linear either way.</para>
/// </summary>
public sealed class LoraLinear : Module, IProjection
{
    readonly Linear? _base;
    readonly Rng _dropoutRng;

    public LoraLinear(Linear baseLayer, LoraConfig config, Rng rng, bool halfBase = false)
        : this(halfBase ? new FrozenLinear(baseLayer ?? throw new ArgumentNullException(nameof(baseLayer))) : (Module)baseLayer, config, rng)
    {
    }

    /// <summary>LoRA over a frozen fp16 projection: takes over its half weight and bias.</summary>
    public LoraLinear(FrozenLinear baseLayer, LoraConfig config, Rng rng) : this((Module)baseLayer, config, rng)
    {
    }

    LoraLinear(Module baseLayer, LoraConfig config, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(baseLayer);
        config.Validate();
        Config = config;
        IBackend dev;
        if (baseLayer is FrozenLinear f)
        {
            (InFeatures, OutFeatures, dev) = (f.InFeatures, f.OutFeatures, f.Weight.Device);
            HalfWeight = f.Weight; // ownership moves here (disposed in Dispose); the FrozenLinear holds nothing else
            if (f.Bias is { } b) Bias = AddParameter("bias", b);
        }
        else if (baseLayer is Linear l)
        {
            (InFeatures, OutFeatures, dev) = (l.InFeatures, l.OutFeatures, l.Weight.Device);
            _base = l;
            Weight = AddParameter("weight", l.Weight);
            if (l.Bias is { } b) Bias = AddParameter("bias", b);
        }
        else throw new ArgumentException($"LoraLinear: cannot wrap a {baseLayer.GetType().Name} (a Linear or FrozenLinear is needed)");
        if (Weight is not null) Weight.RequiresGrad = false;
        if (Bias is not null) Bias.RequiresGrad = false;
        LoraA = AddParameter("lora_A.weight", Parameter.Uniform(dev, rng, 1f / MathF.Sqrt(InFeatures), config.R, InFeatures));
        LoraB = AddParameter("lora_B.weight", Parameter.Zeros(dev, OutFeatures, config.R));
        // Dropout masks get their own stream so they do not shift other draws from the caller's Rng.
        _dropoutRng = AddRandomStream("lora_dropout", new Rng(rng.NextUInt64()));
    }

    public LoraConfig Config { get; }
    public int InFeatures { get; }
    public int OutFeatures { get; }
    /// <summary>The frozen fp32 base weight, or null when it is stored in fp16 (<see cref="HalfWeight"/>).</summary>
    public Parameter? Weight { get; }
    public HalfTensor? HalfWeight { get; }
    public Parameter? Bias { get; }
    public Parameter LoraA { get; }
    public Parameter LoraB { get; }
    /// <summary>True while the low-rank update is folded into the base weight (forward = base layer alone).</summary>
    public bool Merged { get; private set; }

    /// <summary>x [..., in] -&gt; [..., out]. Dropout on the LoRA input only in training mode.</summary>
    public Tensor Forward(Tensor x)
    {
        if (x.Dim(-1) != InFeatures)
            throw new ArgumentException($"LoraLinear({InFeatures} -> {OutFeatures}): input {x.Describe()} has last axis {x.Dim(-1)}");
        if (Merged) return HalfWeight is not null ? Ops.LinearHalf(x, HalfWeight, Bias) : _base!.Forward(x);
        float p = Training ? Config.Dropout : 0f;
        ulong seed = p > 0f ? _dropoutRng.NextUInt64() : 0UL;
        return HalfWeight is not null
            ? Ops.LoraLinear(x, HalfWeight, Bias, LoraA, LoraB, Config.Scaling, p, seed)
            : Ops.LoraLinear(x, Weight!, Bias, LoraA, LoraB, Config.Scaling, p, seed);
    }

    /// <summary>W += (B A)^T * scaling (PEFT's merge for fan_in_fan_out). Merging twice is an error.</summary>
    public void Merge()
    {
        if (Merged) throw new InvalidOperationException("LoraLinear.Merge: already merged");
        AddDelta(+1f);
        Merged = true;
    }

    /// <summary>W -= (B A)^T * scaling. With an fp16 base this restores W only to within fp16 rounding.</summary>
    public void Unmerge()
    {
        if (!Merged) throw new InvalidOperationException("LoraLinear.Unmerge: not merged");
        AddDelta(-1f);
        Merged = false;
    }

    /// <summary>The [in, out] update (B A)^T * scaling = scaling A^T B^T as a host array.</summary>
    public float[] DeltaWeight()
    {
        var dev = LoraA.Device;
        using var delta = Tensor.Empty(dev, InFeatures, OutFeatures);
        dev.Gemm(LoraA.Buffer, LoraB.Buffer, delta.Buffer,
            GemmShape.Contiguous(1, InFeatures, OutFeatures, Config.R, transA: true, transB: true, alpha: Config.Scaling));
        return delta.ToArray();
    }

    void AddDelta(float sign)
    {
        var delta = DeltaWeight();
        if (HalfWeight is not null)
        {
            // fp16 has no device axpy here: widen, add in fp32, round once.
            var w = HalfWeight.ToArray();
            for (int i = 0; i < w.Length; i++) w[i] += sign * delta[i];
            HalfWeight.Load(w);
            return;
        }
        var dev = Weight!.Device;
        using var d = Tensor.FromArray(dev, delta, InFeatures, OutFeatures);
        dev.Axpy(sign, d.Buffer, Weight.Buffer, Weight.Length);
    }

    public override void Dispose()
    {
        HalfWeight?.Dispose();
        base.Dispose();
    }
}
