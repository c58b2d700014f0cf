namespace Cleft.Models.Gpt2;

/// <summary>
/// Parameter counts of a GPT-2 text encoder from its configuration alone (no allocation), so the paper's
/// claims can be checked for BioMedLM without 10 GB of weights; <see cref="Gpt2TextEncoder"/>'s own counts
/// agree with these (tested on a small config).
/// </summary>
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
        // LoRA on c_attn [C, 3C]: A [r, C] + B [3C, r] per block.
        long lora = options.Lora is { } lc ? l * (lc.R * c + 3 * c * lc.R) : 0;
        long projection = embedDim is int d ? c * d + d : 0;
        long trainableBase = !options.FreezeBase ? baseCount
            : (options.TrainEmbeddings ? config.VocabSize * c : 0) + (options.UnlockLayerNorm ? layerNorms : 0);
        return new Gpt2ParameterCount(baseCount, lora, projection, trainableBase + lora + projection);
    }

    public override string ToString() =>
        $"total {Total:N0} (base {Base:N0}, LoRA {Lora:N0}, projection {Projection:N0}); trainable {Trainable:N0} ({100.0 * Trainable / Total:F2}%)";
}
