using Cleft.Models.Peft;

namespace Cleft.Models.Gpt2;

/// <summary>
/// What is trained and how the frozen weights are stored. CLEFT's default (<see cref="Cleft"/>): base frozen,
/// LoRA r 8 / alpha 32 / dropout 0.1 on every fused c_attn.
/// </summary>
public sealed record Gpt2Options
{
    /// <summary>Freeze every pretrained weight (the LLM is a frozen feature extractor plus adapters).</summary>
    public bool FreezeBase { get; init; } = true;
    /// <summary>Store the frozen matrices (c_attn, c_proj, c_fc, mlp.c_proj) in fp16: half the memory, fp32 sums.</summary>
    public bool HalfBase { get; init; }
    /// <summary>
    /// LoRA (null: none) on its TargetModules, c_attn when it names none: shorthand for <see cref="Adapter"/>.
    /// </summary>
    public LoraConfig? Lora { get; init; }
    /// <summary>Any PEFT adapter (LoRA or IA3), put on its target modules by <see cref="PeftInjection.Inject"/>.</summary>
    public AdapterConfig? Adapter { get; init; }

    /// <summary>The adapter the model gets: <see cref="Adapter"/>, or <see cref="Lora"/> with its targets made explicit.</summary>
    public AdapterConfig? EffectiveAdapter =>
        Adapter ?? (Lora is { } l ? l with { TargetModules = l.TargetModules is { Length: > 0 } t ? t : ["c_attn"] } : null);
    /// <summary>CLEFT's --train_embed: the token embedding wte is trained (wpe stays frozen).</summary>
    public bool TrainEmbeddings { get; init; }
    /// <summary>CLEFT's --unlock_ln: every LayerNorm (ln_1, ln_2, ln_f) is trained.</summary>
    public bool UnlockLayerNorm { get; init; }
    /// <summary>
    /// HF GPT-2's training-mode dropout: embd_pdrop on the embeddings and resid_pdrop after each attention and
    /// MLP projection (what CLEFT gets by calling model.train() on the LLM). attn_pdrop on the attention
    /// probabilities is not reproduced: the fused attention never forms them. Off by default (deterministic).
    /// </summary>
    public bool HfDropout { get; init; }

    public static Gpt2Options Cleft => new() { Lora = new LoraConfig(8, 32f, 0.1f, ["c_attn"]) };

    public void Validate()
    {
        if (HalfBase && !FreezeBase)
            throw new ArgumentException("Gpt2Options: HalfBase stores the base weights in fp16, which cannot be trained; set FreezeBase too");
        if (Lora is not null && Adapter is not null)
            throw new ArgumentException("Gpt2Options: set Lora or Adapter, not both");
        if (EffectiveAdapter is not null && !FreezeBase)
            throw new ArgumentException("Gpt2Options: adapters are trained over a frozen base; set FreezeBase (or drop the adapter for full fine-tuning)");
        EffectiveAdapter?.Validate();
    }
}
