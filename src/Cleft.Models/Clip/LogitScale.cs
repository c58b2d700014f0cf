using Cleft.Autograd;
using Cleft.Autograd.Optim;
using Cleft.Kernels;

namespace Cleft.Models.Clip;

/// <summary>
/// CLIP's learnable temperature: a scalar s with logits = exp(s) cos-sim, initialised to ln(1/0.07).
/// <para>
/// Clamping: on by default to [0, ln 100], applied to the parameter value after each optimizer step (as
/// open_clip does), never inside the loss — the loss stays smooth and its gradient check meaningful. Two ways
/// to apply it: put <see cref="Group"/> in the optimizer (the fused update kernel clamps), or call
/// <see cref="Clamp"/> after Step() with any optimizer. CLEFT's released code does not clamp: pass clamp: false.
/// </para>
/// </summary>
public sealed class LogitScale : Module
{
    /// <summary>ln(1 / 0.07) = 2.6593.</summary>
    public static readonly float Init = MathF.Log(1f / 0.07f);
    /// <summary>ln 100, open_clip's upper bound.</summary>
    public static readonly float Max = MathF.Log(100f);

    public LogitScale(IBackend device, float? init = null, bool clamp = true)
    {
        Value = AddParameter("logit_scale", Parameter.Full(device, init ?? Init, 1));
        ClampMin = clamp ? 0f : float.NegativeInfinity;
        ClampMax = clamp ? Max : float.PositiveInfinity;
    }

    public Parameter Value { get; }
    public float ClampMin { get; }
    public float ClampMax { get; }

    /// <summary>The parameter's optimizer group: no weight decay, clamped inside the update kernel.</summary>
    public ParamGroup Group() => new([Value], weightDecay: 0f, clampMin: ClampMin, clampMax: ClampMax);

    /// <summary>Clamps the value in place on the device (for optimizers built without <see cref="Group"/>).</summary>
    public void Clamp()
    {
        if (float.IsFinite(ClampMin) || float.IsFinite(ClampMax)) Value.Device.Clamp(Value.Buffer, 1, ClampMin, ClampMax);
    }

    /// <summary>Host read of s (a metric: exp of it is the temperature's inverse).</summary>
    public float Read() => Value.ToArray()[0];

    /// <summary>
    /// AdamW groups for a CLIP-style model: weight decay on matrices, none on 1-D parameters and biases,
    /// and this scale in its own clamped group.
    /// </summary>
    public ParamGroup[] Groups(Module model, float weightDecay)
    {
        var rest = model.NamedParameters().Where(x => !ReferenceEquals(x.Param, Value));
        return [.. ParamGroup.DecayAndNoDecay(rest, weightDecay), Group()];
    }
}
