using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using Cleft.Models.PTUnifier;
using Cleft.Tests.Autograd;

namespace Cleft.Tests.Ptunifier;

/// <summary>PromptPool: top-k by dot product, N(0, 0.02) init, and the gradient reaching exactly the selected rows.</summary>
public sealed class PromptPoolTests
{
    [Fact]
    public void SelectsTheTopKRowsByDotProductInPoolOrder()
    {
        using var dev = new CpuBackend();
        using var pool = new PromptPool(dev, new Rng(1), size: 12, dim: 5, topK: 4);
        var rng = new Rng(2);
        var rows = TestData.Normal(rng, 12 * 5);
        pool.Prompts.Load(rows);
        var q = TestData.Normal(rng, 3 * 5);
        using var scope = new TensorScope();
        var picked = pool.Select(Tensor.FromArray(dev, q, 3, 5));
        for (int b = 0; b < 3; b++)
        {
            var expected = Enumerable.Range(0, 12)
                .OrderByDescending(r => Enumerable.Range(0, 5).Sum(j => (double)q[b * 5 + j] * rows[r * 5 + j])).Take(4).Order().ToArray();
            Assert.Equal(expected, picked.AsSpan(b * 4, 4).ToArray());
        }
    }

    [Fact]
    public void InitialisedNormalWithStd002()
    {
        using var dev = new CpuBackend();
        using var pool = new PromptPool(dev, new Rng(3), size: 512, dim: 16, topK: 8);
        var v = pool.Prompts.ToArray();
        double mean = v.Average(x => (double)x), std = Math.Sqrt(v.Average(x => (x - mean) * (x - mean)));
        Assert.InRange(mean, -0.002, 0.002);
        Assert.InRange(std, 0.019, 0.021);
    }

    [Fact]
    public void GradientReachesTheSelectedRowsOnlyAndAccumulatesRepeats()
    {
        using var dev = new CpuBackend();
        using var pool = new PromptPool(dev, new Rng(4), size: 10, dim: 3, topK: 2);
        var rng = new Rng(5);
        pool.Prompts.Load(TestData.Normal(rng, 30));
        // Two identical queries select the same rows: their gradients must add up.
        var q = TestData.Normal(rng, 3);
        float[] queries = [.. q, .. q, .. TestData.Normal(rng, 3)];
        var w = TestData.Normal(rng, 3 * 2 * 3);
        using var owner = new PtunifierBatch(dev);
        int[] picked;
        using (var scope = new TensorScope())
        {
            var query = Tensor.FromArray(dev, queries, 3, 3);
            picked = pool.Select(query);
            var y = pool.Forward(query, owner);
            Assert.Equal([3, 2, 3], y.Shape);
            Ops.Sum(Ops.Mul(y, Tensor.FromArray(dev, w, 3, 2, 3))).Backward();
        }
        var expected = new double[30];
        for (int slot = 0; slot < 6; slot++)
            for (int j = 0; j < 3; j++) expected[picked[slot] * 3 + j] += w[slot * 3 + j];
        TestData.AssertClose(expected, pool.Prompts.Grad!.ToArray(), 1e-6, 1e-6, "pool gradient");
        Assert.Contains(Enumerable.Range(0, 10), r => !picked.Contains(r));
    }

    [Fact]
    public void RefusesImpossibleShapesNamingThem()
    {
        using var dev = new CpuBackend();
        var e = Assert.Throws<ArgumentException>(() => new PromptPool(dev, new Rng(1), size: 4, dim: 8, topK: 5));
        Assert.Contains("top-k 5", e.Message);
        using var pool = new PromptPool(dev, new Rng(1), size: 4, dim: 8, topK: 2);
        using var scope = new TensorScope();
        e = Assert.Throws<ArgumentException>(() => pool.Select(Tensor.Zeros(dev, 2, 7)));
        Assert.Contains("[batch, 8]", e.Message);
    }
}
