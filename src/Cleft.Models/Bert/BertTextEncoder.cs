using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Clip;
using Cleft.Models.Gpt2;
using Cleft.Models.Layers;

namespace Cleft.Models.Bert;

/// <summary>
/// The BERT-CLIP baseline's text tower (CLEFT's paper compares against a CLIP whose text tower is a fully
/// fine-tuned BERT): a <see cref="BertModel"/> whose pooled output — tanh(pooler.dense(h[CLS])), HF's
/// pooler_output — goes through a trainable Linear(hidden, embedDim). The pooled output rather than the raw [CLS]
/// state or a mean over tokens, because that is what open_clip's HF text tower takes for BERT (its ClsPooler with
/// use_pooler_output), and it keeps every BERT weight, the pooler included, on the loss's path. Every weight trains.
/// Parameter names: bert.* (HF's BertModel names), projection.*.
/// </summary>
public sealed class BertTextEncoder : TextTower
{
    public BertTextEncoder(IBackend device, BertModel bert, Rng rng, int embedDim)
    {
        ArgumentNullException.ThrowIfNull(bert);
        Bert = AddModule("bert", bert);
        Projection = AddModule("projection", new Linear(device, rng, bert.Config.HiddenSize, embedDim));
    }

    /// <summary>A freshly initialised encoder (a preset, or a shape for tests).</summary>
    public BertTextEncoder(IBackend device, BertConfig config, Rng rng, int embedDim)
        : this(device, new BertModel(device, rng, config), rng, embedDim) { }

    /// <summary>Loads an HF folder's config.json + model.safetensors (<see cref="BertCheckpoint"/>), then adds the projection.</summary>
    public static BertTextEncoder FromPretrained(IBackend device, string directory, Rng rng, int embedDim)
    {
        var bert = BertCheckpoint.Load(device, directory, rng);
        try { return new BertTextEncoder(device, bert, rng, embedDim); }
        catch { bert.Dispose(); throw; }
    }

    public BertModel Bert { get; }
    public Linear Projection { get; }

    public override Tensor Forward(Gpt2TextBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        return Projection.Forward(Bert.Forward(batch.Ids, batch.Mask).PooledOutput);
    }

    public override int PadId => Bert.Config.PadTokenId;
    public override bool KeepsClosingToken => true;
    public override Module Backbone => Bert;
}
