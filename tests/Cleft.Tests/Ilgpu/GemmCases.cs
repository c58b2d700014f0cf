using Cleft.Kernels;

namespace Cleft.Tests.Ilgpu;

/// <summary>The GEMM's cross-backend case: shapes that divide no tile, all layouts, batch strides and beta.</summary>
static class GemmCases
{
    public static List<float[]> Run(KernelCaseSession s)
    {
        var outs = new List<float[]>();
        const int B = 3, M = 37, N = 29, K = 53;
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
                foreach (float beta in new[] { 0f, 0.5f })
                    outs.Add(One(s, GemmShape.Contiguous(B, M, N, K, ta, tb, alpha: 1.3f, beta: beta)));

        // One weight matrix shared by the batch (stride 0 on B), as in a batched linear layer.
        outs.Add(One(s, GemmShape.Contiguous(B, M, N, K, transB: true, broadcastB: true)));
        // A weight gradient summed over the batch into one C: the items' C blocks overlap (stride 0, beta 1).
        outs.Add(One(s, new GemmShape(B, M, N, K, true, false, (long)K * M, (long)K * N, 0, 1f, 1f)));
        // Several tiles in both directions and a K that is not a multiple of the K step.
        outs.Add(One(s, GemmShape.Contiguous(1, 130, 150, 70, alpha: 0.9f, beta: -0.25f)));
        return outs;
    }

    static float[] One(KernelCaseSession s, GemmShape g)
    {
        long aLen = (g.Batch - 1) * g.StrideA + (long)g.M * g.K;
        long bLen = (g.Batch - 1) * g.StrideB + (long)g.K * g.N;
        long cLen = (g.Batch - 1) * g.StrideC + (long)g.M * g.N;
        var a = s.Rand(aLen); var b = s.Rand(bLen); var c = s.Rand(cLen);
        s.B.Gemm(a, b, c, g);
        return s.Read(c);
    }
}
