using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Kernels.Cpu;

namespace Cleft.Benchmarks;

public static partial class SideBySide
{
    // Matching torch functions: benchmarks/torch_attention.py (same B, H, D, padding lengths and flop count).
    const int AttnBatch = 8, AttnHeads = 12, AttnDim = 64;

    /// <summary>Attention forward + backward through Ops.Attention (autograd included); size = T.</summary>
    static BenchCase[] AttentionCases() =>
    [
        new("attention", "attention", "fused attention fwd+bwd, B=8 H=12 D=64, causal + right padding (GPT-2 text encoder)",
            t => AttentionWorkload(t, causal: true, padded: true)),
        new("attention-full", "attention-full", "fused attention fwd+bwd, B=8 H=12 D=64, bidirectional, no mask",
            t => AttentionWorkload(t, causal: false, padded: false)),
    ];

    static Workload AttentionWorkload(int t, bool causal, bool padded)
    {
        var dev = new CpuBackend(); // lives as long as the benchmark process
        int[] shape = [AttnBatch, AttnHeads, t, AttnDim];
        long n = (long)AttnBatch * AttnHeads * t * AttnDim;
        Tensor Leaf(int seed) { var x = Tensor.FromArray(dev, Data.Uniform(n, seed), shape); x.RequiresGrad = true; return x; }
        var q = Leaf(1); var k = Leaf(2); var v = Leaf(3);
        var g = Tensor.FromArray(dev, Data.Uniform(n, 4), shape);
        IntTensor? mask = null;
        if (padded)
        {
            // torch_attention.lengths: row b has max(t / 2, t - 8 b) real tokens.
            var m = new int[AttnBatch * t];
            for (int b = 0; b < AttnBatch; b++)
                for (int j = 0; j < Math.Max(t / 2, t - 8 * b); j++) m[b * t + j] = 1;
            mask = IntTensor.FromArray(dev, m, AttnBatch, t);
        }
        var flops = new AttentionShape(AttnBatch, AttnHeads, t, AttnDim, 1f, causal, padded).DenseTrainingFlops;
        return new Workload(() =>
        {
            using var scope = new TensorScope();
            Ops.Attention(q, k, v, causal, mask).Backward(g);
        }, flops);
    }
}
