using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Clip;
using Cleft.Models.Layers;

namespace Cleft.Models.Gpt2;

/// <summary>
/// CLEFT's text tower: a GPT-2 (<see cref="Transformer"/>, frozen + LoRA by default) whose ln_f hidden state at
/// each row's EOS/pad position (<see cref="Gpt2TextBatch.EosPositions"/>) is gathered and projected by a
/// trainable Linear(n_embd, embedDim). The result is the raw text embedding; the contrastive head L2-normalises it.
/// </summary>
public sealed class Gpt2TextEncoder : TextTower
{
    public Gpt2TextEncoder(Gpt2Model transformer, Rng rng, int embedDim = 512)
    {
        ArgumentNullException.ThrowIfNull(transformer);
        Transformer = AddModule("transformer", transformer);
        Projection = AddModule("projection", new Linear(transformer.Wte.Device, rng, transformer.Config.NEmbd, embedDim));
    }

    /// <summary>A freshly initialised encoder (tests, or before <see cref="Gpt2Checkpoint.LoadWeights"/>).</summary>
    public Gpt2TextEncoder(IBackend device, Gpt2Config config, Gpt2Options options, Rng rng, int embedDim = 512)
        : this(new Gpt2Model(device, config, options, rng), rng, embedDim) { }

    /// <summary>Loads config.json + model.safetensors from an HF directory, then adds the projection.</summary>
    public static Gpt2TextEncoder FromPretrained(IBackend device, string directory, Gpt2Options options, Rng rng, int embedDim = 512)
    {
        var model = Gpt2Checkpoint.Load(device, directory, options, rng);
        try { return new Gpt2TextEncoder(model, rng, embedDim); }
        catch { model.Dispose(); throw; }
    }

    public Gpt2Model Transformer { get; }
    public Linear Projection { get; }
    public int EmbedDim => Projection.OutFeatures;

    /// <summary>Hidden states after ln_f at each row's feature position: [B, n_embd].</summary>
    public Tensor Features(Gpt2TextBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        // Only the feature rows leave the transformer: its last block runs them alone (Gpt2Model.ForwardEmbeddings).
        return Transformer.Forward(batch.Ids, batch.Mask, batch.GatherIndex);
    }

    /// <summary>Text embeddings [B, embedDim].</summary>
    public override Tensor Forward(Gpt2TextBatch batch)
    {
        using var features = Features(batch);
        return Projection.Forward(features);
    }

    public override int PadId => Transformer.Config.EosTokenId;
    public override bool KeepsClosingToken => false;
    public override Module Backbone => Transformer;
    public override long HalfParameterCount => Transformer.HalfParameterCount;

    public override IEnumerable<(string Name, float[] Values)> HalfWeights()
    {
        foreach (var (i, block) in Transformer.Blocks.Index())
            foreach (var (name, proj) in block.Projections())
                if (proj.HalfWeight is { } half) yield return ($"h.{i}.{name}", half.ToArray());
    }

    /// <summary>Every parameter including the fp16-stored frozen matrices.</summary>
    public long TotalParameterCount => ParameterCount() + HalfParameterCount;

    /// <summary>The module's own trainable / total counts, to set beside <see cref="Gpt2ParameterCount.Compute"/>.</summary>
    public string ParameterReport()
    {
        long total = TotalParameterCount, trainable = ParameterCount(trainableOnly: true);
        long lora = NamedParameters().Where(x => x.Name.EndsWith(".lora_A.weight", StringComparison.Ordinal) || x.Name.EndsWith(".lora_B.weight", StringComparison.Ordinal)).Sum(x => x.Param.Length);
        return $"total {total:N0} (fp16 {Transformer.HalfParameterCount:N0}, LoRA {lora:N0}, projection {Projection.ParameterCount():N0}); trainable {trainable:N0} ({100.0 * trainable / total:F2}%)";
    }
}
