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
    readonly Module _self, _output;

    public VitAttention(IBackend device, Rng rng, VitConfig config)
    {
        _heads = config.Heads;
        var self = AddModule("attention", new SelfAttention(device, rng, config));
        Query = self.Query; Key = self.Key; Value = self.Value;
        var output = AddModule("output", new Output(device, rng, config));
        Dense = output.Dense;
        (_self, _output) = (self, output);
    }

    /// <summary>The base layers (checkpoint loading reads and writes their weights; an adapter wraps, never replaces, them).</summary>
    public Linear Query { get; }
    public Linear Key { get; }
    public Linear Value { get; }
    public Linear Dense { get; }

    /// <summary>x [B, T, hidden] -> [B, T, hidden].</summary>
    public Tensor Forward(Tensor x)
    {
        // The projections as they are in the tree now: PEFT may have wrapped any of them (PeftInjection.Inject).
        IProjection q = Current(_self, "query"), k = Current(_self, "key"), v = Current(_self, "value");
        Tensor o; // [B, T, hidden], heads merged. Everything made here is dropped on return: the ops saved what they need.
        if (ReferenceEquals(q, Query) && ReferenceEquals(k, Key) && ReferenceEquals(v, Value))
        {
            // Plain projections: one GEMM against [W_q | W_k | W_v] reads x once, its backward gives dx in one GEMM
            // instead of three plus two accumulations, and attention reads the heads from the fused output in place.
            // Each output element is computed exactly as its own projection would (the GEMM's arithmetic per element
            // does not depend on N); the weights stay three parameters, as the checkpoint has them.
            using var w = Ops.Concat(1, Query.Weight, Key.Weight, Value.Weight);
            using Tensor? bias = Query.Bias is { } bq ? Ops.Concat(0, bq, Key.Bias!, Value.Bias!) : null;
            using var qkv = Ops.Linear(x, w, bias);
            o = Ops.AttentionPacked(qkv, _heads, causal: false);
        }
        else
            using (Tensor qt = q.Forward(x), kt = k.Forward(x), vt = v.Forward(x))
                o = Ops.AttentionTokens(qt, kt, vt, _heads, causal: false);
        using (o) return Current(_output, "dense").Forward(o);
    }

    static IProjection Current(Module parent, string name) => (IProjection)parent.Child(name);

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
