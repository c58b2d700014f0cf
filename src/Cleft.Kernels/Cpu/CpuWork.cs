namespace Cleft.Kernels.Cpu;

/// <summary>
/// Floating-point work the managed backend's matrix products have done in this process: every GEMM (2 M N K per
/// batch item) and the attention tiles' products (2 D per query-key pair, over the keys each query's tiles visit: up
/// to the last unmasked key, and only the causal triangle when causal; 2 products forward, 5 backward, which recomputes
/// the scores). A diagnostic, not a model of the hardware: profile-step reads it around a pass, so a backward that is
/// slower than its forward can be told apart from one that simply has more to do. One interlocked add per call.
/// </summary>
public static class CpuWork
{
    static long _gemm, _attention;

    public static long GemmFlops => Interlocked.Read(ref _gemm);
    public static long AttentionFlops => Interlocked.Read(ref _attention);
    public static long Flops => GemmFlops + AttentionFlops;

    internal static void AddGemm(in GemmShape s) => Interlocked.Add(ref _gemm, 2L * s.Batch * s.M * s.N * s.K);

    /// <summary>Attention work of <paramref name="products"/> T x T x D products over the pairs the kernel visits.</summary>
    internal static void AddAttention(int[] mask, in AttentionShape s, int products)
    {
        long pairs = 0;
        for (int b = 0; b < s.Batch; b++)
        {
            long keys = AttentionTile.KeyEnd(mask, b, s);
            // Causal: query i visits keys 0..min(i, keys - 1).
            pairs += s.Causal ? keys * (keys + 1) / 2 + (s.T - keys) * keys : s.T * keys;
        }
        Interlocked.Add(ref _attention, 2L * products * s.D * s.Heads * pairs);
    }
}
