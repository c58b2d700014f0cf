using Cleft.Kernels;
using Cleft.Kernels.Cpu;

namespace Cleft.Benchmarks;

public static partial class SideBySide
{
    /// <summary>
    /// The GEMM shapes of one cleft-step ViT MLP (size = ViT width C, R = batch x 201 tokens rows): the forward
    /// (R x C by C x 4C), the input gradient (R x 4C by 4C x C) and both weight gradients (4C x R by R x C, C x R by
    /// R x 4C: tall-skinny, K = R). Each case runs all four in one storage layout, so NN, NT and TN differ only in
    /// how the operands lie in memory (issue 10: every transpose case at the NN rate). Matching torch functions:
    /// benchmarks/torch_gemm.py (STEP_SHAPES; same rows per size).
    /// </summary>
    static BenchCase[] StepGemmCases() =>
    [
        new("gemm-nn", "gemm-nn", "cleft-step MLP shapes (size = ViT width), A [M,K] B [K,N]", c => StepGemm(c, false, false)),
        new("gemm-nt", "gemm-nt", "cleft-step MLP shapes, B stored [N,K] (x W^T: nn.Linear forward)", c => StepGemm(c, false, true)),
        new("gemm-tn", "gemm-tn", "cleft-step MLP shapes, A stored [K,M] (dW = dY^T X)", c => StepGemm(c, true, false)),
    ];

    /// <summary>(M, N, K) of the four GEMMs for ViT width <paramref name="c"/>.</summary>
    internal static (int M, int N, int K)[] StepGemmShapes(int c)
    {
        int rows = CleftStepConfig.ForSize(c).Batch * CleftStepConfig.Tokens;
        return [(rows, 4 * c, c), (rows, c, 4 * c), (4 * c, c, rows), (c, 4 * c, rows)];
    }

    static Workload StepGemm(int c, bool transA, bool transB)
    {
        var shapes = StepGemmShapes(c);
        var work = shapes.Select((s, i) => (
            A: Data.Uniform((long)s.M * s.K, 2 * i + 1), B: Data.Uniform((long)s.K * s.N, 2 * i + 2), C: new float[(long)s.M * s.N],
            Shape: GemmShape.Contiguous(1, s.M, s.N, s.K, transA, transB))).ToArray();
        return new Workload(() => { foreach (var w in work) CpuGemm.Multiply(w.A, w.B, w.C, w.Shape); },
            work.Sum(w => w.Shape.Flops));
    }
}
