using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Layers;

namespace Cleft.Models.Peft;

/// <summary>
/// PEFT's get_peft_model for any model built from <see cref="IProjection"/> layers: every projection whose
/// dotted name matches one of the config's target_modules (<see cref="AdapterConfig.Matches"/>) is replaced in
/// its parent by a <see cref="LoraLinear"/> or <see cref="Ia3Linear"/> wrapping it, and every other parameter is
/// frozen. Parameter names of the base weights do not change; the adapter's sit beside them
/// ("encoder.layer.0.attention.self.query.lora_A.weight").
/// </summary>
public static class PeftInjection
{
    /// <summary>
    /// Wraps the targeted projections of <paramref name="model"/> and returns their dotted names in model order.
    /// LoRA's A matrices (and dropout streams) are drawn from <paramref name="rng"/> in that order. A target that
    /// matches no projection is an error naming the projections there are.
    /// </summary>
    public static IReadOnlyList<string> Inject(Module model, AdapterConfig config, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(rng);
        config.Validate();
        if (config.TargetModules is not { Length: > 0 } targets)
            throw new ArgumentException($"PeftInjection.Inject: the {config.PeftType} config names no target_modules");
        var sites = Projections(model, "").ToList();
        foreach (var target in targets)
            if (!sites.Any(s => AdapterConfig.Matches(s.FullName, target)))
                throw new ArgumentException($"PeftInjection.Inject: target module '{target}' matches no projection of {model.GetType().Name}; " +
                    $"available: {string.Join(", ", sites.Select(s => s.LocalName).Distinct())}");
        var injected = new List<string>();
        foreach (var (parent, local, full, child) in sites)
        {
            if (!targets.Any(t => AdapterConfig.Matches(full, t))) continue;
            if (child is LoraLinear or Ia3Linear)
                throw new ArgumentException($"PeftInjection.Inject: '{full}' already has an adapter ({child.GetType().Name})");
            parent.ReplaceModule(local, Wrap(child, full, config, rng));
            injected.Add(full);
        }
        foreach (var (name, p) in model.NamedParameters()) p.RequiresGrad = IsAdapterParameter(name);
        return injected;
    }

    static Module Wrap(Module child, string name, AdapterConfig config, Rng rng) => (config, child) switch
    {
        (LoraConfig lora, Linear l) => new LoraLinear(l, lora, rng),
        (LoraConfig lora, FrozenLinear f) => new LoraLinear(f, lora, rng),
        (Ia3Config ia3, _) => new Ia3Linear(child, ia3.IsFeedforward(name)),
        _ => throw new ArgumentException($"PeftInjection.Inject: cannot put a {config.PeftType} adapter on '{name}' ({child.GetType().Name})"),
    };

    /// <summary>The projections under <paramref name="module"/>: parent, name within it, dotted name, layer.</summary>
    static IEnumerable<(Module Parent, string LocalName, string FullName, Module Child)> Projections(Module module, string prefix)
    {
        foreach (var (name, child) in module.NamedChildren())
        {
            if (child is IProjection) yield return (module, name, prefix + name, child);
            else foreach (var x in Projections(child, prefix + name + ".")) yield return x;
        }
    }

    /// <summary>True for a parameter an adapter adds (lora_A / lora_B weights, IA3 vectors), by dotted name.</summary>
    public static bool IsAdapterParameter(string name) =>
        IsLast(name, "lora_A.weight") || IsLast(name, "lora_B.weight") || IsLast(name, "ia3_l");

    static bool IsLast(string name, string suffix) =>
        name == suffix || name.EndsWith("." + suffix, StringComparison.Ordinal);
}
