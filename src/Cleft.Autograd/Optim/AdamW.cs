using Cleft.Kernels;

namespace Cleft.Autograd.Optim;

/// <summary>
/// AdamW as torch.optim.AdamW (decoupled weight decay, bias-corrected moments, eps outside the square root),
/// one fused multi-tensor update per parameter group per step (a backend may cover many parameters per launch).
/// Groups without their own weight decay use <see cref="WeightDecay"/>.
/// </summary>
public sealed class AdamW : Optimizer
{
    readonly Tensor?[] _m, _v;
    readonly AdamWTensor[] _batch; // reused each step: the group's parameters that have gradients

    public AdamW(IEnumerable<ParamGroup> groups, float lr, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 0.01f)
        : base("AdamW", groups, lr)
    {
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps > 0) || !(weightDecay >= 0))
            throw new ArgumentException($"AdamW: invalid hyperparameters betas=({beta1}, {beta2}), eps={eps}, weight decay={weightDecay}");
        Beta1 = beta1; Beta2 = beta2; Eps = eps; WeightDecay = weightDecay;
        _m = new Tensor?[Params.Length];
        _v = new Tensor?[Params.Length];
        _batch = new AdamWTensor[Params.Length];
    }

    /// <summary>All parameters in one group.</summary>
    public AdamW(IEnumerable<Parameter> parameters, float lr, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 0.01f)
        : this([new ParamGroup(parameters)], lr, beta1, beta2, eps, weightDecay) { }

    public float Beta1 { get; }
    public float Beta2 { get; }
    public float Eps { get; }
    public float WeightDecay { get; }

    protected override void Update(ParamGroup group, int firstIndex, float lr, DeviceBuffer<float> gradScale)
    {
        int count = 0;
        for (int j = 0; j < group.Parameters.Count; j++)
        {
            var p = group.Parameters[j];
            if (p.Grad is not { } grad) continue;
            var m = _m[firstIndex + j] ??= State(p);
            var v = _v[firstIndex + j] ??= State(p);
            _batch[count++] = new AdamWTensor(p.Buffer, grad.Buffer, m.Buffer, v.Buffer, p.Length);
        }
        if (count == 0) return;
        // Bias corrections in double: 1 - 0.999^t loses digits in float for small t.
        double t = StepCount;
        var args = new AdamWArgs(lr, Beta1, Beta2, Eps, group.WeightDecay ?? WeightDecay,
            (float)(1 - Math.Pow(Beta1, t)), (float)(1 - Math.Pow(Beta2, t)), group.ClampMin, group.ClampMax);
        Device.AdamWStep(_batch.AsSpan(0, count), gradScale, args);
        Array.Clear(_batch, 0, count); // hold no buffers past the step
    }

    protected override IEnumerable<(string Kind, Tensor?[] Slots)> StateSlots() => [("exp_avg", _m), ("exp_avg_sq", _v)];

    protected override void DisposeState()
    {
        foreach (var t in _m) t?.Dispose();
        foreach (var t in _v) t?.Dispose();
        Array.Clear(_m); Array.Clear(_v);
    }
}
