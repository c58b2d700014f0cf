using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Kernels.Cpu;

namespace Cleft.Tests.Cpu;

/// <summary>
/// <see cref="CpuWork"/>, which profile-step divides by the pass times: 2 M N K per GEMM item whichever route runs it
/// (direct, packed, fp16 B), and for attention 2 D per visited query-key pair and product (2 products forward, 5 backward)
/// over the keys up to the last unmasked one, only the causal triangle when causal.
/// </summary>
[Collection(ProcessWideCollection.Name)] // the counters are per process
public sealed class CpuWorkTests
{
    [Theory]
    [InlineData(2, 5, 7, 3)]      // direct route
    [InlineData(1, 130, 150, 300)] // packed route
    public void GemmCountsTwoMnkPerItem(int batch, int m, int n, int k)
    {
        var s = GemmShape.Contiguous(batch, m, n, k);
        var a = new float[(long)batch * m * k]; var b = new float[(long)batch * k * n]; var c = new float[(long)batch * m * n];
        long before = CpuWork.GemmFlops;
        CpuGemm.Multiply(a, b, c, s);
        Assert.Equal(2L * batch * m * n * k, CpuWork.GemmFlops - before);
        before = CpuWork.GemmFlops;
        CpuGemm.MultiplyHalfB(a, new ILGPU.Half[b.Length], c, s);
        Assert.Equal(2L * batch * m * n * k, CpuWork.GemmFlops - before);
    }

    [Fact]
    public void AttentionCountsTheVisitedPairs()
    {
        using var dev = new CpuBackend();
        const int B = 2, H = 3, T = 5, D = 4;
        var rng = new Rng(3);
        var q = Tensor.Randn(dev, rng, 1f, B, H, T, D); q.RequiresGrad = true;
        var k = Tensor.Randn(dev, rng, 1f, B, H, T, D);
        var v = Tensor.Randn(dev, rng, 1f, B, H, T, D);
        // Batch row 0 sees keys 0..2 (padding after), row 1 all five. Causal: query i visits min(i + 1, keys) keys,
        // 1 + 2 + 3 + 3 + 3 = 12 and 1 + 2 + 3 + 4 + 5 = 15 pairs per head.
        using var mask = IntTensor.FromArray(dev, [1, 1, 1, 0, 0, 1, 1, 1, 1, 1], B, T);
        long pairs = H * (12 + 15);
        long before = CpuWork.AttentionFlops;
        using var o = Ops.Attention(q, k, v, causal: true, keyPaddingMask: mask);
        Assert.Equal(2L * 2 * D * pairs, CpuWork.AttentionFlops - before);
        before = CpuWork.AttentionFlops;
        using var loss = Ops.Sum(o);
        loss.Backward();
        Assert.Equal(5L * 2 * D * pairs, CpuWork.AttentionFlops - before);
    }
}
