using Cleft.Kernels;

namespace Cleft.Autograd;

/// <summary>
/// A learnable (or frozen) tensor owned by a module. Never scoped: it lives until its module is disposed,
/// and so does its gradient, which is zeroed in place between steps rather than reallocated.
/// </summary>
public sealed class Parameter : Tensor
{
    public Parameter(IBackend device, ReadOnlySpan<float> data, params int[] shape)
        : base(new Storage(device.Allocate<float>(ShapeUtil.Count(Validated(shape)))), (int[])shape.Clone(), scoped: false)
    {
        if (data.Length != Length)
            throw new ArgumentException($"Parameter: {data.Length} values do not fill shape {ShapeUtil.Format(shape)}");
        device.CopyFromHost(data, Buffer);
        RequiresGrad = true;
    }

    static int[] Validated(int[] shape) { ShapeUtil.Validate(shape); return shape; }

    public static new Parameter Zeros(IBackend device, params int[] shape) => new(device, new float[ShapeUtil.Count(shape)], shape);
    public static new Parameter Full(IBackend device, float value, params int[] shape)
    {
        var data = new float[ShapeUtil.Count(shape)];
        Array.Fill(data, value);
        return new Parameter(device, data, shape);
    }
    public static Parameter Normal(IBackend device, Rng rng, float std, params int[] shape)
    {
        var data = new float[ShapeUtil.Count(shape)];
        rng.FillNormal(data, 0f, std);
        return new Parameter(device, data, shape);
    }
    public static Parameter Uniform(IBackend device, Rng rng, float bound, params int[] shape)
    {
        var data = new float[ShapeUtil.Count(shape)];
        rng.FillUniform(data, -bound, bound);
        return new Parameter(device, data, shape);
    }

    /// <summary>Overwrites the values from the host (loading a checkpoint).</summary>
    public void Load(ReadOnlySpan<float> data)
    {
        if (data.Length != Length) throw new ArgumentException($"Parameter {Describe()}: {data.Length} values given");
        Device.CopyFromHost(data, Buffer);
    }

    /// <summary>
    /// Marks the gradient zero without touching its memory: the next backward's first accumulation copies into it,
    /// and anything reading <see cref="Tensor.Grad"/> before then gets real zeros.
    /// </summary>
    public void ZeroGrad()
    {
        if (GradStorage is not null) GradMarkedZero = true;
    }
}

/// <summary>
/// A layer or model: named parameters and child modules, giving dotted names ("h.0.attn.c_attn.weight")
/// for state dicts, optimizers and reports.
/// </summary>
public abstract class Module : IDisposable
{
    readonly List<(string Name, Parameter Param)> _parameters = new();
    readonly List<(string Name, Module Child)> _children = new();
    readonly List<(string Name, Rng Stream)> _randomStreams = new();

    /// <summary>True in training mode (dropout active); see <see cref="Train"/> and <see cref="Eval"/>.</summary>
    public bool Training { get; private set; } = true;

    protected Parameter AddParameter(string name, Parameter p)
    {
        if (_parameters.Any(x => x.Name == name) || _children.Any(x => x.Name == name))
            throw new ArgumentException($"{GetType().Name}: a parameter or module named '{name}' already exists");
        p.Name = name;
        _parameters.Add((name, p));
        return p;
    }

    /// <summary>
    /// Registers a random stream the module draws from while training (dropout masks), so checkpoints can save
    /// and restore it: without it a resumed run with dropout on would draw different masks.
    /// </summary>
    protected Rng AddRandomStream(string name, Rng stream)
    {
        if (_randomStreams.Any(x => x.Name == name))
            throw new ArgumentException($"{GetType().Name}: a random stream named '{name}' already exists");
        _randomStreams.Add((name, stream));
        return stream;
    }

    /// <summary>Every registered random stream by dotted name ("h.0.attn.c_attn.dropout").</summary>
    public IEnumerable<(string Name, Rng Stream)> NamedRandomStreams(string prefix = "")
    {
        foreach (var (n, r) in _randomStreams) yield return (prefix + n, r);
        foreach (var (n, c) in _children)
            foreach (var x in c.NamedRandomStreams(prefix + n + ".")) yield return x;
    }

    protected T AddModule<T>(string name, T child) where T : Module
    {
        if (_parameters.Any(x => x.Name == name) || _children.Any(x => x.Name == name))
            throw new ArgumentException($"{GetType().Name}: a parameter or module named '{name}' already exists");
        _children.Add((name, child));
        return child;
    }

    /// <summary>The direct children by the name they were registered under (may itself be dotted: "attn.c_attn").</summary>
    public IEnumerable<(string Name, Module Child)> NamedChildren() => _children.AsReadOnly();

    /// <summary>
    /// The child registered as <paramref name="name"/> as it is now: after <see cref="ReplaceModule"/> (an adapter
    /// injected by name) the replacement, which a reference cached at construction would miss.
    /// </summary>
    public Module Child(string name)
    {
        int i = _children.FindIndex(x => x.Name == name);
        if (i < 0)
            throw new ArgumentException($"{GetType().Name}: no child named '{name}' (children: {string.Join(", ", _children.Select(x => x.Name))})");
        return _children[i].Child;
    }

    /// <summary>
    /// Swaps the child registered as <paramref name="name"/> for <paramref name="newChild"/>, keeping its place
    /// (so parameter order and dotted names are unchanged). Exists for adapter injection (PeftInjection.Inject), which
    /// wraps a projection in a LoRA or IA3 layer from outside the model; the new child normally takes over the
    /// old one, so the old child is neither disposed nor returned here. A parent that caches typed references
    /// to its children must look them up again (<see cref="Child"/>).
    /// </summary>
    public void ReplaceModule(string name, Module newChild)
    {
        ArgumentNullException.ThrowIfNull(newChild);
        int i = _children.FindIndex(x => x.Name == name);
        if (i < 0)
            throw new ArgumentException($"{GetType().Name}.ReplaceModule: no child named '{name}' (children: {string.Join(", ", _children.Select(x => x.Name))})");
        newChild.Train(Training);
        _children[i] = (name, newChild);
    }

    public IEnumerable<(string Name, Parameter Param)> NamedParameters(string prefix = "")
    {
        foreach (var (n, p) in _parameters) yield return (prefix + n, p);
        foreach (var (n, c) in _children)
            foreach (var x in c.NamedParameters(prefix + n + ".")) yield return x;
    }

    public IEnumerable<Parameter> Parameters() => NamedParameters().Select(x => x.Param);
    public IEnumerable<Parameter> TrainableParameters() => Parameters().Where(p => p.RequiresGrad);

    public long ParameterCount(bool trainableOnly = false) =>
        (trainableOnly ? TrainableParameters() : Parameters()).Sum(p => p.Length);

    public void ZeroGrad() { foreach (var p in Parameters()) p.ZeroGrad(); }

    /// <summary>Freezes (or unfreezes) every parameter of this module and its children.</summary>
    public void RequiresGrad(bool value) { foreach (var p in Parameters()) p.RequiresGrad = value; }

    public void Train(bool on = true)
    {
        Training = on;
        foreach (var (_, c) in _children) c.Train(on);
    }

    public void Eval() => Train(false);

    /// <summary>Host copies of every parameter by dotted name.</summary>
    public Dictionary<string, float[]> StateDict() => NamedParameters().ToDictionary(x => x.Name, x => x.Param.ToArray());

    /// <summary>Loads values by name; with <paramref name="strict"/>, missing or unexpected names are errors.</summary>
    public void LoadStateDict(IReadOnlyDictionary<string, float[]> state, bool strict = true)
    {
        var named = NamedParameters().ToDictionary(x => x.Name, x => x.Param);
        if (strict)
        {
            var missing = named.Keys.Where(k => !state.ContainsKey(k)).ToList();
            var extra = state.Keys.Where(k => !named.ContainsKey(k)).ToList();
            if (missing.Count > 0 || extra.Count > 0)
                throw new ArgumentException($"{GetType().Name}.LoadStateDict: missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", extra)}]");
        }
        foreach (var (name, values) in state)
            if (named.TryGetValue(name, out var p))
            {
                if (values.Length != p.Length)
                    throw new ArgumentException($"{GetType().Name}.LoadStateDict: '{name}' has {values.Length} values, parameter is {p.ShapeString}");
                p.Load(values);
            }
    }

    public virtual void Dispose()
    {
        foreach (var (_, p) in _parameters) p.Dispose();
        foreach (var (_, c) in _children) c.Dispose();
        GC.SuppressFinalize(this);
    }
}
