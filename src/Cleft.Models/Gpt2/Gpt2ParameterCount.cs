namespace Cleft.Models.Gpt2;

/// <summary>
/// Parameter counts of a GPT-2 text encoder from its configuration alone (no allocation), so the paper's
/// claims can be checked for BioMedLM without 10 GB of weights; <see cref="Gpt2TextEncoder"/>'s own counts
/// agree with these (tested on a small config).
/// </summary>
/// <remarks><c>Lora</c> counts whichever adapter the options carry (LoRA or IA3).</remarks>
public readonly record struct Gpt2ParameterCount(long Base, long Lora, long Projection, long Trainable)
{
    public long Total => Base + Lora + Projection;

    public static Gpt2ParameterCount Compute(Gpt2Config config, Gpt2Options options, int? embedDim = 512)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        long c = config.NEmbd, inner = config.NInner, l = config.NLayer;
        long embeddings = config.VocabSize * c + config.NPositions * c;
        long layerNorms = l * 4 * c + 2 * c; // ln_1, ln_2 per block + ln_f, weight and bias each
        long perBlockLinear = (c * 3 * c + 3 * c) + (c * c + c) + (c * inner + inner) + (inner * c + c);
        long baseCount = embeddings + layerNorms + l * perBlockLinear;
        long lora = options.EffectiveAdapter is { } adapter ? l * AdapterPerBlock(adapter, c, inner) : 0;
        long projection = embedDim is int d ? c * d + d : 0;
        long trainableBase = !options.FreezeBase ? baseCount
            : (options.TrainEmbeddings ? config.VocabSize * c : 0) + (options.UnlockLayerNorm ? layerNorms : 0);
        return new Gpt2ParameterCount(baseCount, lora, projection, trainableBase + lora + projection);
    }

    /// <summary>
    /// The adapter's parameters in one block, over the projections its targets match (by the name in block 0):
    /// LoRA A [r, in] + B [out, r]; IA3 a vector over out (in for a feed-forward module).
    /// </summary>
    static long AdapterPerBlock(Peft.AdapterConfig adapter, long c, long inner)
    {
        (string Name, long In, long Out)[] projections =
            [("h.0.attn.c_attn", c, 3 * c), ("h.0.attn.c_proj", c, c), ("h.0.mlp.c_fc", c, inner), ("h.0.mlp.c_proj", inner, c)];
        return projections.Where(p => (adapter.TargetModules ?? []).Any(t => Peft.AdapterConfig.Matches(p.Name, t))).Sum(p => adapter switch
        {
            Peft.LoraConfig lc => lc.R * (p.In + p.Out),
            Peft.Ia3Config ia3 => ia3.IsFeedforward(p.Name) ? p.In : p.Out,
            _ => throw new ArgumentException($"Gpt2ParameterCount: unknown adapter {adapter.PeftType}"),
        });
    }

    public override string ToString() =>
        $"total {Total:N0} (base {Base:N0}, LoRA {Lora:N0}, projection {Projection:N0}); trainable {Trainable:N0} ({100.0 * Trainable / Total:F2}%)";
}
