using Cleft.Kernels;

namespace Cleft.Autograd.Optim;

/// <summary>
/// What AdamW and SGD share: parameter groups, a settable learning rate (a schedule writes it each step),
/// optional clipping by global gradient norm, and per-parameter state allocated once. The clip coefficient
/// lives on the device and is read by the fused update kernels, so a step never waits for the host; the norm
/// is read back only when someone asks for <see cref="LastGradNorm"/>, or by <see cref="StepIfFinite"/>.
/// </summary>
public abstract class Optimizer : IDisposable
{
    readonly DeviceBuffer<float> _partial, _norm, _coef, _one;
    // Reused every step: the gradients (null where a parameter has none) and lengths the norm reads.
    readonly DeviceBuffer<float>?[] _grads;
    readonly long[] _lengths;
    bool _normOnDevice;
    float? _hostNorm;

    protected Optimizer(string name, IEnumerable<ParamGroup> groups, float lr)
    {
        Name = name;
        Groups = groups.ToArray();
        Params = Groups.SelectMany(g => g.Parameters).ToArray();
        if (Params.Length == 0) throw new ArgumentException($"{name}: no parameters to optimise");
        if (Params.Distinct(ReferenceEqualityComparer.Instance).Count() != Params.Length)
            throw new ArgumentException($"{name}: a parameter appears in more than one group");
        if (!(lr >= 0)) throw new ArgumentException($"{name}: invalid learning rate {lr}");
        Device = Params[0].Device;
        if (Params.Any(p => !ReferenceEquals(p.Device, Device)))
            throw new ArgumentException($"{name}: parameters live on different devices");
        LearningRate = lr;
        _grads = new DeviceBuffer<float>?[Params.Length];
        _lengths = Params.Select(p => (long)p.Length).ToArray();
        _partial = Device.Allocate<float>(Params.Length);
        _norm = Device.Allocate<float>(1);
        _coef = Device.Allocate<float>(1);
        _one = Device.Allocate<float>(1);
        Device.Fill(_one, 1, 1f);
    }

    public string Name { get; }
    public IReadOnlyList<ParamGroup> Groups { get; }
    protected Parameter[] Params { get; }
    protected IBackend Device { get; }

    /// <summary>Base learning rate; each group uses LearningRate * LrScale.</summary>
    public float LearningRate { get; set; }

    /// <summary>When set, gradients are scaled by min(1, max / (global norm + 1e-6)) inside the update.</summary>
    public float? MaxGradNorm { get; set; }

    /// <summary>Steps taken so far.</summary>
    public int StepCount { get; private set; }

    /// <summary>
    /// The global gradient norm of the last clipped step or <see cref="StepIfFinite"/> call (a device read after a
    /// clipped <see cref="Step"/>; null when the last step computed no norm).
    /// </summary>
    public float? LastGradNorm
    {
        get
        {
            if (_hostNorm is not null || !_normOnDevice) return _hostNorm;
            var host = new float[1];
            Device.CopyToHost(_norm, host);
            return host[0];
        }
    }

    public void Step()
    {
        using var _ = GradMode.NoGrad();
        _hostNorm = null;
        _normOnDevice = MaxGradNorm is not null;
        if (MaxGradNorm is { } max) ReduceNorm(max);
        Apply(MaxGradNorm is null ? _one : _coef);
    }

    /// <summary>
    /// The NaN/Inf guard's step: computes the global gradient norm (one sum-of-squares pass over the gradients,
    /// which clipping makes anyway, and a read-back of one float, which waits for the backward pass to finish)
    /// and steps only when it is finite. A non-finite norm (a NaN or infinite gradient, or squares overflowing
    /// float) leaves everything as it was: parameters, moments, <see cref="StepCount"/>. Returns the norm.
    /// </summary>
    public float StepIfFinite()
    {
        using var _ = GradMode.NoGrad();
        // Without clipping the coefficient is computed against +inf (it is 1) and not used.
        ReduceNorm(MaxGradNorm ?? float.PositiveInfinity);
        var host = new float[1];
        Device.CopyToHost(_norm, host);
        _hostNorm = host[0];
        _normOnDevice = true;
        if (float.IsFinite(host[0])) Apply(MaxGradNorm is null ? _one : _coef);
        return host[0];
    }

    /// <summary>Global norm into _norm and the clip coefficient for <paramref name="max"/> into _coef, on the device.</summary>
    void ReduceNorm(float max)
    {
        // Parameters without a gradient contribute 0 to the norm, as in torch (SumSquares writes 0 for them).
        for (int i = 0; i < Params.Length; i++) _grads[i] = Params[i].Grad?.Buffer;
        Device.SumSquares(_grads, _lengths, _partial);
        Array.Clear(_grads); // hold no gradient buffer past the step
        Device.ClipCoefficient(_partial, Params.Length, max, _norm, _coef);
    }

    void Apply(DeviceBuffer<float> scale)
    {
        StepCount++;
        int first = 0;
        foreach (var group in Groups)
        {
            Update(group, first, LearningRate * group.LrScale, scale);
            first += group.Parameters.Count;
        }
    }

    /// <summary>
    /// The fused update of one group's parameters that have a gradient; parameter j of the group is number
    /// <paramref name="firstIndex"/> + j in group order (the index of its state slots).
    /// </summary>
    protected abstract void Update(ParamGroup group, int firstIndex, float lr, DeviceBuffer<float> gradScale);

    public void ZeroGrad() { foreach (var p in Params) p.ZeroGrad(); }

    /// <summary>A zero-filled state tensor shaped like <paramref name="p"/>, outside any scope.</summary>
    protected static Tensor State(Parameter p)
    {
        var t = Tensor.Create(p.Device, p.Shape, scoped: false);
        p.Device.Fill(t.Buffer, t.Length, 0f);
        return t;
    }

    protected virtual void DisposeState() { }

    /// <summary>Per-parameter state arrays by kind (AdamW: exp_avg, exp_avg_sq; SGD: momentum), slot i = parameter i in group order.</summary>
    protected virtual IEnumerable<(string Kind, Tensor?[] Slots)> StateSlots() => [];

    /// <summary>
    /// Host copies of the optimizer state for a checkpoint, keyed "{kind}.{index}" (index = parameter number in
    /// group order; slots not yet allocated are left out). Together with <see cref="StepCount"/> this is what a
    /// resumed run needs to continue bit-identically.
    /// </summary>
    public Dictionary<string, float[]> ExportState()
    {
        var state = new Dictionary<string, float[]>();
        foreach (var (kind, slots) in StateSlots())
            for (int i = 0; i < slots.Length; i++)
                if (slots[i] is { } t) state[$"{kind}.{i}"] = t.ToArray();
        return state;
    }

    /// <summary>Restores <see cref="ExportState"/>'s output and the step count (for bias correction); keys must match this optimizer's kinds and sizes.</summary>
    public void ImportState(IReadOnlyDictionary<string, float[]> state, int stepCount)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (stepCount < 0) throw new ArgumentOutOfRangeException(nameof(stepCount), $"{Name}: step count {stepCount} is negative");
        var known = new HashSet<string>();
        foreach (var (kind, slots) in StateSlots())
            for (int i = 0; i < slots.Length; i++)
            {
                string key = $"{kind}.{i}";
                known.Add(key);
                if (!state.TryGetValue(key, out var values)) continue;
                if (values.Length != Params[i].Length)
                    throw new ArgumentException($"{Name}.ImportState: '{key}' has {values.Length} values, parameter {i} is {Params[i].ShapeString}");
                var t = slots[i] ??= State(Params[i]);
                t.Device.CopyFromHost<float>(values, t.Buffer);
            }
        var extra = state.Keys.Where(k => !known.Contains(k)).ToList();
        if (extra.Count > 0) throw new ArgumentException($"{Name}.ImportState: unexpected state [{string.Join(", ", extra)}]");
        StepCount = stepCount;
    }

    public void Dispose()
    {
        DisposeState();
        Device.Release(_partial); Device.Release(_norm); Device.Release(_coef); Device.Release(_one);
        GC.SuppressFinalize(this);
    }
}
