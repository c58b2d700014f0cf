using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Bert;
using Cleft.Models.Layers;

namespace Cleft.Models.PTUnifier;

/// <summary>
/// Multi-head attention of queries from x [B, Tq, H] over keys and values from y [B, Tk, H] (y = x for self-attention),
/// with an optional key padding mask (host [B * Tk] of 0/1). Runs the engine's fused attention, which wants q, k and v
/// of one length: when Tq and Tk differ, the shorter side is padded with zero rows to max(Tq, Tk), padded keys are
/// masked out and padded queries cut off afterwards — so cross-attention needs no kernel of its own. Parameter
/// names: query, key, value, output (each .weight [in, out] and .bias).
/// </summary>
public sealed class MultiHeadAttention : Module
{
    readonly int _heads, _headDim;

    public MultiHeadAttention(IBackend device, Rng rng, int hidden, int heads)
    {
        if (heads <= 0 || hidden % heads != 0) throw new ArgumentException($"MultiHeadAttention: width {hidden} is not a multiple of {heads} heads");
        _heads = heads; _headDim = hidden / heads;
        Query = AddModule("query", new Linear(device, rng, hidden, hidden));
        Key = AddModule("key", new Linear(device, rng, hidden, hidden));
        Value = AddModule("value", new Linear(device, rng, hidden, hidden));
        Output = AddModule("output", new Linear(device, rng, hidden, hidden));
    }

    public Linear Query { get; }
    public Linear Key { get; }
    public Linear Value { get; }
    public Linear Output { get; }

    public Tensor Forward(Tensor x, Tensor y, int[]? keyMask, PtunifierBatch owner)
    {
        int b = x.Dim(0), tq = x.Dim(1), tk = y.Dim(1), t = Math.Max(tq, tk), h = _heads * _headDim;
        if (y.Dim(0) != b || x.Dim(2) != h || y.Dim(2) != h)
            throw new ArgumentException($"MultiHeadAttention: queries {x.Describe()} and keys {y.Describe()} must be [batch, T, {h}] with one batch");
        if (keyMask is not null && keyMask.Length != b * tk)
            throw new ArgumentException($"MultiHeadAttention: key mask of {keyMask.Length} values for keys [{b}, {tk}]");
        Tensor Heads(Linear proj, Tensor src) =>
            Ops.Permute(Ops.Reshape(proj.Forward(Pad(src, t)), b, t, _heads, _headDim), 0, 2, 1, 3);   // [B, heads, T, D]
        IntTensor? mask = null;
        if (keyMask is not null || tk < t)
        {
            var m = new int[b * t];
            for (int i = 0; i < b; i++)
                for (int j = 0; j < tk; j++) m[i * t + j] = keyMask is null ? 1 : keyMask[i * tk + j];
            mask = owner.Ints(m, b, t);
        }
        var a = Ops.Attention(Heads(Query, x), Heads(Key, y), Heads(Value, y), causal: false, keyPaddingMask: mask);
        var merged = Ops.Reshape(Ops.Permute(a, 0, 2, 1, 3), b, t, h);
        return Output.Forward(tq < t ? Ops.Slice(merged, 1, 0, tq) : merged);
    }

    /// <summary>x [B, T0, H] with zero rows appended along T up to <paramref name="t"/>.</summary>
    static Tensor Pad(Tensor x, int t)
    {
        int t0 = x.Dim(1);
        return t0 == t ? x : Ops.Concat(1, x, Tensor.Zeros(x.Device, x.Dim(0), t - t0, x.Dim(2)));
    }
}

/// <summary>
/// One co-attention block of one stream (METER's layout, post-norm as BERT): self-attention over the stream, then
/// cross-attention from the stream to the other modality, then the feed-forward (exact-erf GELU), each added back
/// and LayerNorm-ed. Names: self_attention, self_norm, cross_attention, cross_norm, intermediate, output, output_norm.
/// </summary>
public sealed class CoAttentionBlock : Module
{
    public CoAttentionBlock(IBackend device, Rng rng, int hidden, int heads, float eps)
    {
        SelfAttention = AddModule("self_attention", new MultiHeadAttention(device, rng, hidden, heads));
        SelfNorm = AddModule("self_norm", new LayerNorm(device, hidden, eps));
        CrossAttention = AddModule("cross_attention", new MultiHeadAttention(device, rng, hidden, heads));
        CrossNorm = AddModule("cross_norm", new LayerNorm(device, hidden, eps));
        Intermediate = AddModule("intermediate", new Linear(device, rng, hidden, 4 * hidden));
        Output = AddModule("output", new Linear(device, rng, 4 * hidden, hidden));
        OutputNorm = AddModule("output_norm", new LayerNorm(device, hidden, eps));
    }

    public MultiHeadAttention SelfAttention { get; }
    public LayerNorm SelfNorm { get; }
    public MultiHeadAttention CrossAttention { get; }
    public LayerNorm CrossNorm { get; }
    public Linear Intermediate { get; }
    public Linear Output { get; }
    public LayerNorm OutputNorm { get; }

    /// <summary>x [B, Tx, H] (mask host [B * Tx] or null) attending to other [B, To, H] (mask or null) -> [B, Tx, H].</summary>
    public Tensor Forward(Tensor x, int[]? mask, Tensor other, int[]? otherMask, PtunifierBatch owner)
    {
        x = SelfNorm.Forward(Ops.Add(x, SelfAttention.Forward(x, x, mask, owner)));
        x = CrossNorm.Forward(Ops.Add(x, CrossAttention.Forward(x, other, otherMask, owner)));
        return OutputNorm.Forward(Ops.Add(x, Output.Forward(Ops.GeluErf(Intermediate.Forward(x)))));
    }
}

/// <summary>The fusion's outputs: both streams after the last layer and the pooled pair representation [B, 2H].</summary>
public readonly record struct FusionOutput(Tensor Text, Tensor Image, Tensor Pooled);

/// <summary>
/// PTUnifier's fusion module: each tower's tokens get a modality-type embedding, then <c>depth</c> co-attention
/// layers in which the text stream attends to the image stream and the image stream to the text (both read the
/// previous layer's outputs). The pair is pooled as BERT pools: tanh(dense(first token)) per stream ([CLS] of the
/// text, the ViT's CLS of the image), concatenated to [B, 2H]. Names: type_embeddings [2, H], text_layers.{i},
/// image_layers.{i}, text_pooler, image_pooler.
/// </summary>
public sealed class CoAttentionFusion : Module
{
    readonly CoAttentionBlock[] _text, _image;

    public CoAttentionFusion(IBackend device, Rng rng, int hidden, int heads, int depth, float eps)
    {
        if (depth <= 0) throw new ArgumentException($"CoAttentionFusion: depth must be positive, got {depth}");
        Hidden = hidden;
        TypeEmbeddings = AddParameter("type_embeddings", Parameter.Normal(device, rng, 0.02f, 2, hidden));
        _text = Enumerable.Range(0, depth).Select(i => AddModule($"text_layers.{i}", new CoAttentionBlock(device, rng, hidden, heads, eps))).ToArray();
        _image = Enumerable.Range(0, depth).Select(i => AddModule($"image_layers.{i}", new CoAttentionBlock(device, rng, hidden, heads, eps))).ToArray();
        TextPooler = AddModule("text_pooler", new Linear(device, rng, hidden, hidden));
        ImagePooler = AddModule("image_pooler", new Linear(device, rng, hidden, hidden));
    }

    public int Hidden { get; }
    public int Depth => _text.Length;
    public Parameter TypeEmbeddings { get; }
    public Linear TextPooler { get; }
    public Linear ImagePooler { get; }

    /// <summary>text [B, Tt, H] with host mask [B * Tt] (null: no padding), image [B, Ti, H] (never padded).</summary>
    public FusionOutput Forward(Tensor text, int[]? textMask, Tensor image, PtunifierBatch owner)
    {
        int b = text.Dim(0);
        if (image.Dim(0) != b || text.Dim(2) != Hidden || image.Dim(2) != Hidden)
            throw new ArgumentException($"CoAttentionFusion: text {text.Describe()} and image {image.Describe()} must be [batch, T, {Hidden}] with one batch");
        var t = Ops.Add(text, Ops.Reshape(Ops.Slice(TypeEmbeddings, 0, 0, 1), Hidden));
        var v = Ops.Add(image, Ops.Reshape(Ops.Slice(TypeEmbeddings, 0, 1, 1), Hidden));
        for (int i = 0; i < _text.Length; i++)
        {
            var nextT = _text[i].Forward(t, textMask, v, null, owner);
            var nextV = _image[i].Forward(v, null, t, textMask, owner);
            (t, v) = (nextT, nextV);
        }
        Tensor Pool(Linear dense, Tensor x) => BertModel.Tanh(dense.Forward(Ops.Reshape(Ops.Slice(x, 1, 0, 1), b, Hidden)));
        return new FusionOutput(t, v, Ops.Concat(1, Pool(TextPooler, t), Pool(ImagePooler, v)));
    }
}
