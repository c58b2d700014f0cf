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
    /// <summary>LoRA on c_attn (null: no LoRA).</summary>
    public LoraConfig? Lora { get; init; }
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
        if (Lora is not null && !FreezeBase)
            throw new ArgumentException("Gpt2Options: LoRA trains adapters over a frozen base; set FreezeBase (or drop Lora for full fine-tuning)");
        Lora?.Validate();
    }
}
