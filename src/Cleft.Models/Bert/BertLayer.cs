using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Layers;

namespace Cleft.Models.Bert;

/// <summary>
/// One post-norm BERT block (HF BertLayer, encoder.layer.{i}):
/// h = LN(x + attention.output.dense(MHA(x))); y = LN(h + output.dense(gelu_erf(intermediate.dense(h)))).
/// Attention is bidirectional with the key padding mask (HF's extended attention mask: padded keys get no
/// weight, padded queries still attend to the real tokens). Dropout is omitted. Parameter names are HF's.
/// </summary>
public sealed class BertLayer : Module
{
    readonly int _heads;

    public BertLayer(IBackend device, Rng rng, BertConfig c)
    {
        _heads = c.Heads;
        int h = c.HiddenSize;
        AddModule(QueryName, new Linear(device, rng, h, h));
        AddModule(KeyName, new Linear(device, rng, h, h));
        AddModule(ValueName, new Linear(device, rng, h, h));
        AddModule(AttentionOutputName, new Linear(device, rng, h, h));
        AttentionNorm = AddModule("attention.output.LayerNorm", new LayerNorm(device, h, c.LayerNormEps));
        AddModule(IntermediateName, new Linear(device, rng, h, c.IntermediateSize));
        AddModule(OutputName, new Linear(device, rng, c.IntermediateSize, h));
        OutputNorm = AddModule("output.LayerNorm", new LayerNorm(device, h, c.LayerNormEps));
    }

    const string QueryName = "attention.self.query", KeyName = "attention.self.key", ValueName = "attention.self.value",
        AttentionOutputName = "attention.output.dense", IntermediateName = "intermediate.dense", OutputName = "output.dense";

    // Looked up on each use rather than cached: PeftInjection.Inject may have swapped a Linear for its adapter wrapper.
    IProjection Projection(string name) => (IProjection)Child(name);

    public IProjection Query => Projection(QueryName);
    public IProjection Key => Projection(KeyName);
    public IProjection Value => Projection(ValueName);
    public IProjection AttentionOutput => Projection(AttentionOutputName);
    public LayerNorm AttentionNorm { get; }
    public IProjection Intermediate => Projection(IntermediateName);
    public IProjection Output => Projection(OutputName);
    public LayerNorm OutputNorm { get; }

    /// <summary>x [B, T, hidden], attentionMask [B, T] of 0/1 or null (no padding) -> [B, T, hidden].</summary>
    public Tensor Forward(Tensor x, IntTensor? attentionMask)
    {
        // Every intermediate is dropped once the next exists, as torch frees temporaries: the ops saved what they need.
        Tensor h;
        using (Tensor q = Query.Forward(x), k = Key.Forward(x), v = Value.Forward(x))
        using (var merged = Ops.AttentionTokens(q, k, v, _heads, causal: false, keyPaddingMask: attentionMask))
        using (var projected = AttentionOutput.Forward(merged))
        using (var residual = Ops.Add(projected, x))
            h = AttentionNorm.Forward(residual);
        using (h)
        using (var inner = Intermediate.Forward(h))
        using (var act = Ops.GeluErf(inner))
        using (var output = Output.Forward(act))
        using (var residual = Ops.Add(output, h))
            return OutputNorm.Forward(residual);
    }
}
