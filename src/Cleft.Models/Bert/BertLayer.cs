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
    readonly int _heads, _headDim;

    public BertLayer(IBackend device, Rng rng, BertConfig c)
    {
        _heads = c.Heads; _headDim = c.HeadDim;
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
    IProjection Projection(string name) => (IProjection)NamedChildren().First(x => x.Name == name).Child;

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
        int b = x.Dim(0), t = x.Dim(1);
        Tensor Heads(IProjection proj) => Ops.Permute(Ops.Reshape(proj.Forward(x), b, t, _heads, _headDim), 0, 2, 1, 3); // [B, H, T, D]
        var a = Ops.Attention(Heads(Query), Heads(Key), Heads(Value), causal: false, keyPaddingMask: attentionMask);
        var merged = Ops.Reshape(Ops.Permute(a, 0, 2, 1, 3), b, t, _heads * _headDim);
        var h = AttentionNorm.Forward(Ops.Add(AttentionOutput.Forward(merged), x));
        return OutputNorm.Forward(Ops.Add(Output.Forward(Ops.GeluErf(Intermediate.Forward(h))), h));
    }
}
