using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Layers;

namespace Cleft.Models.Bert;

/// <summary>The two outputs of HF's BertModel: last_hidden_state [B, T, hidden] and pooler_output [B, hidden].</summary>
public readonly record struct BertOutput(Tensor LastHiddenState, Tensor PooledOutput);

/// <summary>
/// Hugging Face's BertModel: embeddings, num_hidden_layers post-norm blocks (encoder.layer.{i}), and the pooler
/// tanh(pooler.dense(h[:, 0])) on the [CLS] position. Parameter names are HF's without the "bert." prefix
/// (embeddings.word_embeddings.weight, encoder.layer.0.attention.self.query.weight, pooler.dense.weight), so
/// <see cref="BertCheckpoint"/> maps a model.safetensors one to one. Dropout is omitted.
/// </summary>
public sealed class BertModel : Module
{
    public BertModel(IBackend device, Rng rng, BertConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config.Validate();
        Embeddings = AddModule("embeddings", new BertEmbeddings(device, rng, config));
        var layers = new BertLayer[config.Layers];
        for (int i = 0; i < layers.Length; i++) layers[i] = AddModule($"encoder.layer.{i}", new BertLayer(device, rng, config));
        Layers = layers;
        AddModule("pooler.dense", new Linear(device, rng, config.HiddenSize, config.HiddenSize));
    }

    public BertConfig Config { get; }
    public BertEmbeddings Embeddings { get; }
    public IReadOnlyList<BertLayer> Layers { get; }
    /// <summary>Looked up on each use: PeftInjection.Inject may have wrapped it.</summary>
    public IProjection Pooler => (IProjection)Child("pooler.dense");

    /// <summary>
    /// ids [B, T]; attentionMask [B, T] of 0/1 or null (no padding); tokenTypes [B, T] or null (all 0).
    /// </summary>
    public BertOutput Forward(IntTensor ids, IntTensor? attentionMask = null, IntTensor? tokenTypes = null) =>
        Encode(Embeddings.Forward(ids, tokenTypes), attentionMask);

    /// <summary>HF's inputs_embeds path (see <see cref="BertEmbeddings.ForwardEmbeddings"/>), then the encoder and pooler.</summary>
    public BertOutput ForwardEmbeddings(Tensor inputsEmbeds, IntTensor? attentionMask = null, IntTensor? tokenTypes = null) =>
        Encode(Embeddings.ForwardEmbeddings(inputsEmbeds, tokenTypes), attentionMask);

    BertOutput Encode(Tensor x, IntTensor? attentionMask)
    {
        int b = x.Dim(0), t = x.Dim(1);
        if (attentionMask is not null && !attentionMask.Shape.SequenceEqual([b, t]))
            throw new ArgumentException($"BertModel: attention mask {attentionMask.ShapeString} does not match the input [{b}, {t}]");
        foreach (var layer in Layers)
            using (var input = x) x = layer.Forward(input, attentionMask); // x is ours (the embeddings' output)
        var cls = Ops.Reshape(Ops.Slice(x, 1, 0, 1), b, Config.HiddenSize);
        return new BertOutput(x, Tanh(Pooler.Forward(cls)));
    }

    /// <summary>
    /// tanh(z) = (e^z - e^-z) / (e^z + e^-z) = p0 - p1 for (p0, p1) = softmax([z, -z]): built from the engine's
    /// stable softmax, so the pooler needs no new kernel (it runs once per sequence, on [B, hidden] only).
    /// </summary>
    public static Tensor Tanh(Tensor z)
    {
        var shape = z.Shape;
        int[] pairShape = [.. shape, 1];
        var zz = Ops.Reshape(z, pairShape);
        var p = Ops.Softmax(Ops.Concat(shape.Length, zz, Ops.Scale(zz, -1f)));
        return Ops.Reshape(Ops.Sub(Ops.Slice(p, shape.Length, 0, 1), Ops.Slice(p, shape.Length, 1, 1)), shape);
    }
}
