using Cleft.Kernels;

namespace Cleft.Autograd.Optim;

/// <summary>
/// SGD with momentum and decoupled weight decay: v = mu v + g; p = p (1 - lr wd) - lr v (plain p -= lr g
/// without momentum). One fused kernel per parameter per step; velocity buffers are allocated on first use.
/// </summary>
public sealed class Sgd : Optimizer
{
    readonly Tensor?[] _velocity;

    public Sgd(IEnumerable<ParamGroup> groups, float lr, float momentum = 0f, float weightDecay = 0f) : base("Sgd", groups, lr)
    {
        if (lr <= 0 || momentum < 0 || momentum >= 1 || weightDecay < 0)
            throw new ArgumentException($"Sgd: invalid hyperparameters lr={lr}, momentum={momentum}, weight decay={weightDecay}");
        _velocity = new Tensor?[Params.Length];
        Momentum = momentum;
        WeightDecay = weightDecay;
    }

    public Sgd(IEnumerable<Parameter> parameters, float lr, float momentum = 0f, float weightDecay = 0f)
        : this([new ParamGroup(parameters)], lr, momentum, weightDecay) { }

    public float Momentum { get; }
    public float WeightDecay { get; }

    protected override void Update(ParamGroup group, int firstIndex, float lr, DeviceBuffer<float> gradScale)
    {
        var args = new SgdArgs(lr, Momentum, group.WeightDecay ?? WeightDecay, group.ClampMin, group.ClampMax);
        for (int j = 0; j < group.Parameters.Count; j++)
        {
            var p = group.Parameters[j];
            if (p.Grad is not { } grad) continue;
            var v = Momentum > 0 ? _velocity[firstIndex + j] ??= State(p) : null;
            Device.SgdStep(p.Buffer, grad.Buffer, v?.Buffer, gradScale, p.Length, args);
        }
    }

    protected override IEnumerable<(string Kind, Tensor?[] Slots)> StateSlots() => [("momentum", _velocity)];

    protected override void DisposeState()
    {
        foreach (var v in _velocity) v?.Dispose();
        Array.Clear(_velocity);
    }
}
