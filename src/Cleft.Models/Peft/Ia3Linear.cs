using Cleft.Autograd;
using Cleft.Models.Layers;

namespace Cleft.Models.Peft;

/// <summary>
/// PEFT's IA3 around a frozen projection: y = base(x) * l (l [out]), or y = base(x * l) (l [in]) for a
/// feed-forward module. l starts at ones, so the wrapped layer starts exactly equal to the base. The base's
/// parameters keep their names beside the vector ("h.0.attn.c_attn.weight", "h.0.attn.c_attn.ia3_l", as in
/// PEFT's saved state dicts) and are frozen. The wrapper takes ownership of the base layer.
/// </summary>
public sealed class Ia3Linear : Module, IProjection
{
    readonly IProjection _base;
    readonly Module _baseModule;

    public Ia3Linear(Module baseLayer, bool feedforward)
    {
        ArgumentNullException.ThrowIfNull(baseLayer);
        if (baseLayer is not (Linear or FrozenLinear))
            throw new ArgumentException($"Ia3Linear: cannot wrap a {baseLayer.GetType().Name} (a Linear or FrozenLinear is needed)");
        _baseModule = baseLayer;
        _base = (IProjection)baseLayer;
        Feedforward = feedforward;
        foreach (var (name, p) in baseLayer.NamedParameters())
        {
            AddParameter(name, p);
            p.RequiresGrad = false;
        }
        var dev = _base.Weight?.Device ?? _base.HalfWeight!.Device;
        L = AddParameter("ia3_l", Parameter.Full(dev, 1f, feedforward ? InFeatures : OutFeatures));
    }

    /// <summary>True when l scales the input (PEFT's feedforward_modules) rather than the output.</summary>
    public bool Feedforward { get; }
    public Parameter L { get; }
    public int InFeatures => _base.InFeatures;
    public int OutFeatures => _base.OutFeatures;
    public Parameter? Weight => _base.Weight;
    public HalfTensor? HalfWeight => _base.HalfWeight;
    public Parameter? Bias => _base.Bias;

    public Tensor Forward(Tensor x)
    {
        using var inner = Feedforward ? Ops.Ia3(x, L) : _base.Forward(x);
        return Feedforward ? _base.Forward(inner) : Ops.Ia3(inner, L);
    }

    public override void Dispose()
    {
        _baseModule.Dispose(); // its parameters are also registered here; Tensor.Dispose is idempotent
        base.Dispose();
    }
}
