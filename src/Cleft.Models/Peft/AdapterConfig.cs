using System.Text.Json.Serialization;

namespace Cleft.Models.Peft;

/// <summary>
/// What <see cref="PeftInjection.Inject"/> puts where: the adapter kind (<see cref="LoraConfig"/> or <see cref="Ia3Config"/>)
/// and PEFT's target_modules, matched against dotted module names by <see cref="Matches"/>.
/// </summary>
public abstract record AdapterConfig(string[]? TargetModules)
{
    /// <summary>PEFT's peft_type as written to adapter_config.json ("LORA", "IA3").</summary>
    [JsonIgnore] public abstract string PeftType { get; }

    public abstract void Validate();

    /// <summary>PEFT's rule: a target names a module whose dotted name is the target or ends with "." + target.</summary>
    public static bool Matches(string moduleName, string target) =>
        moduleName == target || moduleName.EndsWith("." + target, StringComparison.Ordinal);
}

/// <summary>PEFT's LoRA settings (CLEFT: r 8, alpha 32, dropout 0.1 on c_attn). Scaling = alpha / r.</summary>
public sealed record LoraConfig(int R = 8, float Alpha = 32f, float Dropout = 0.1f, string[]? TargetModules = null)
    : AdapterConfig(TargetModules)
{
    public float Scaling => Alpha / R;
    [JsonIgnore] public override string PeftType => "LORA";

    public override void Validate()
    {
        if (R <= 0) throw new ArgumentException($"LoRA rank must be positive, got r={R}");
        if (!(Dropout >= 0f && Dropout < 1f)) throw new ArgumentException($"LoRA dropout must be in [0, 1), got {Dropout}");
        if (!float.IsFinite(Alpha)) throw new ArgumentException($"LoRA alpha must be finite, got {Alpha}");
    }
}

/// <summary>
/// PEFT's IA3: a learned vector (ones at init) scales each target's output, or its input for the targets also
/// listed in <paramref name="FeedforwardModules"/> (which, as in PEFT, must be a subset of the targets).
/// </summary>
public sealed record Ia3Config(string[]? TargetModules = null, string[]? FeedforwardModules = null)
    : AdapterConfig(TargetModules)
{
    [JsonIgnore] public override string PeftType => "IA3";

    /// <summary>The CLEFT code's IA3 option: c_attn (output scaled) and mlp.c_proj (input scaled).</summary>
    public static Ia3Config Cleft => new(["c_attn", "mlp.c_proj"], ["mlp.c_proj"]);

    public override void Validate()
    {
        var stray = (FeedforwardModules ?? []).Where(f => !(TargetModules ?? []).Contains(f)).ToList();
        if (stray.Count > 0)
            throw new ArgumentException($"IA3 feedforward_modules [{string.Join(", ", stray)}] are not in target_modules [{string.Join(", ", TargetModules ?? [])}]");
    }

    /// <summary>True when the module's IA3 vector scales its input (a feed-forward output projection).</summary>
    public bool IsFeedforward(string moduleName) => (FeedforwardModules ?? []).Any(f => Matches(moduleName, f));
}
