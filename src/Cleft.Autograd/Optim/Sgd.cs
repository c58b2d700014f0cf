namespace Cleft.Autograd.Optim;

/// <summary>
/// SGD with momentum and decoupled weight decay: v = mu v + g; p -= lr (v + wd p). Updates run on the
/// device through backend ops; the velocity buffers are allocated once, on the first step.
/// </summary>
public sealed class Sgd : IDisposable
{
    readonly Parameter[] _params;
    readonly Tensor?[] _velocity;

    public Sgd(IEnumerable<Parameter> parameters, float lr, float momentum = 0f, float weightDecay = 0f)
    {
        _params = parameters.ToArray();
        if (_params.Length == 0) throw new ArgumentException("Sgd: no parameters to optimise");
        if (lr <= 0 || momentum < 0 || momentum >= 1 || weightDecay < 0)
            throw new ArgumentException($"Sgd: invalid hyperparameters lr={lr}, momentum={momentum}, weight decay={weightDecay}");
        _velocity = new Tensor?[_params.Length];
        LearningRate = lr;
        Momentum = momentum;
        WeightDecay = weightDecay;
    }

    public float LearningRate { get; set; }
    public float Momentum { get; }
    public float WeightDecay { get; }

    public void Step()
    {
        using var _ = GradMode.NoGrad();
        for (int i = 0; i < _params.Length; i++)
        {
            var p = _params[i];
            if (p.Grad is not { } g) continue;
            var dev = p.Device;
            var update = g;
            if (Momentum > 0)
            {
                if (_velocity[i] is null)
                {
                    _velocity[i] = Tensor.Create(dev, p.Shape, scoped: false);
                    dev.Fill(_velocity[i]!.Buffer, p.Length, 0f);
                }
                var v = _velocity[i]!;
                dev.Scale(Momentum, v.Buffer, v.Buffer, p.Length);
                dev.Axpy(1f, g.Buffer, v.Buffer, p.Length);
                update = v;
            }
            if (WeightDecay > 0) dev.Scale(1f - LearningRate * WeightDecay, p.Buffer, p.Buffer, p.Length);
            dev.Axpy(-LearningRate, update.Buffer, p.Buffer, p.Length);
        }
    }

    public void ZeroGrad() { foreach (var p in _params) p.ZeroGrad(); }

    public void Dispose()
    {
        foreach (var v in _velocity) v?.Dispose();
        Array.Clear(_velocity);
    }
}
