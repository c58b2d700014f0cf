using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Layers;

namespace Cleft.Models.Vision;

/// <summary>
/// HF's Dinov2WithRegistersAttention: separate query/key/value projections (attention.attention.*), bidirectional
/// multi-head attention with scale 1/sqrt(head_dim), then attention.output.dense. Dropout is omitted: DINOv2's
/// attention and hidden dropout probabilities are 0.
/// </summary>
public sealed class VitAttention : Module
{
    readonly int _heads;

    public VitAttention(IBackend device, Rng rng, VitConfig config)
    {
        _heads = config.Heads;
        var self = AddModule("attention", new SelfAttention(device, rng, config));
        Query = self.Query; Key = self.Key; Value = self.Value;
        Dense = AddModule("output", new Output(device, rng, config)).Dense;
    }

    public Linear Query { get; }
    public Linear Key { get; }
    public Linear Value { get; }
    public Linear Dense { get; }

    /// <summary>x [B, T, hidden] -> [B, T, hidden].</summary>
    public Tensor Forward(Tensor x)
    {
        // Everything made here is dropped on return: attention saved q, k, v and o, the dense layer its input.
        using Tensor q = Query.Forward(x), k = Key.Forward(x), v = Value.Forward(x);
        using var o = Ops.AttentionTokens(q, k, v, _heads, causal: false); // [B, T, hidden], heads merged
        return Dense.Forward(o);
    }

    sealed class SelfAttention : Module
    {
        public SelfAttention(IBackend device, Rng rng, VitConfig c)
        {
            Query = AddModule("query", new Linear(device, rng, c.HiddenSize, c.HiddenSize, c.QkvBias));
            Key = AddModule("key", new Linear(device, rng, c.HiddenSize, c.HiddenSize, c.QkvBias));
            Value = AddModule("value", new Linear(device, rng, c.HiddenSize, c.HiddenSize, c.QkvBias));
        }

        public Linear Query { get; }
        public Linear Key { get; }
        public Linear Value { get; }
    }

    sealed class Output : Module
    {
        public Output(IBackend device, Rng rng, VitConfig c) => Dense = AddModule("dense", new Linear(device, rng, c.HiddenSize, c.HiddenSize));

        public Linear Dense { get; }
    }
}
