using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using static Cleft.Tests.Autograd.GradCheck;

namespace Cleft.Tests.Autograd;

public class MatMulTests
{
    public static TheoryData<string, bool, bool> Cases()
    {
        var d = new TheoryData<string, bool, bool>();
        foreach (var mode in new[] { "plain", "batched", "shared" })
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true }) d.Add(mode, ta, tb);
        return d;
    }

    /// <summary>Shapes as stored: a is [batch.., M, K] or [batch.., K, M]; b likewise, without batch axes when shared.</summary>
    static (int[] A, int[] B) Shapes(string mode, int batch, int m, int n, int k, bool ta, bool tb)
    {
        int[] a2 = ta ? [k, m] : [m, k], b2 = tb ? [n, k] : [k, n];
        return mode switch
        {
            "plain" => (a2, b2),
            "batched" => ([batch, .. a2], [batch, .. b2]),
            _ => ([batch, .. a2], b2),
        };
    }

    [Theory, MemberData(nameof(Cases))]
    public void ForwardMatchesFloat64(string mode, bool ta, bool tb)
    {
        const int batch = 3, m = 37, n = 29, k = 53;
        var (sa, sb) = Shapes(mode, batch, m, n, k, ta, tb);
        var rng = new Rng(21);
        float[] a = TestData.NonZero(rng, Reference64.Count(sa)), b = TestData.NonZero(rng, Reference64.Count(sb));
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var y = Ops.MatMul(Tensor.FromArray(dev, a, sa), Tensor.FromArray(dev, b, sb), ta, tb);
        int bt = mode == "plain" ? 1 : batch;
        Assert.Equal(mode == "plain" ? [m, n] : new[] { batch, m, n }, y.Shape);
        // K = 53 products of magnitude <= 2.25: float32 accumulation error stays well under 1e-4.
        TestData.AssertClose(Reference64.MatMul(a, b, bt, m, n, k, ta, tb, sharedB: mode == "shared"), y, 1e-4, 1e-5, $"MatMul {mode} ta={ta} tb={tb}");
    }

    [Theory, MemberData(nameof(Cases))]
    public void Gradients(string mode, bool ta, bool tb)
    {
        var (sa, sb) = Shapes(mode, 2, 3, 4, 5, ta, tb);
        var rng = new Rng(22);
        // Linear in each input: central differences are exact up to float32 rounding of the outputs.
        Run(x => Ops.MatMul(x[0], x[1], ta, tb),
            [In(TestData.NonZero(rng, Reference64.Count(sa)), sa), In(TestData.NonZero(rng, Reference64.Count(sb)), sb)],
            step: 1e-2, atol: 1e-3, rtol: 1e-3);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LinearIsMatMulPlusBiasToTheBit(bool transWeight)
    {
        // Ops.Linear adds the bias in place and reduces its gradient in the same backward: same bits as MatMul + Add.
        var rng = new Rng(24);
        float[] x = TestData.NonZero(rng, 2 * 7 * 5), w = TestData.NonZero(rng, 5 * 6), bias = TestData.NonZero(rng, 6), dy = TestData.NonZero(rng, 2 * 7 * 6);
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        (float[] Y, float[] Dx, float[] Dw, float[] Db) Run(bool fused)
        {
            var xt = Tensor.FromArray(dev, x, 2, 7, 5); xt.RequiresGrad = true;
            var wt = Tensor.FromArray(dev, w, transWeight ? [6, 5] : [5, 6]); wt.RequiresGrad = true;
            var bt = Tensor.FromArray(dev, bias, 6); bt.RequiresGrad = true;
            var y = fused ? Ops.Linear(xt, wt, bt, transWeight) : Ops.Add(Ops.MatMul(xt, wt, transB: transWeight), bt);
            Ops.Sum(Ops.Mul(y, Tensor.FromArray(dev, dy, 2, 7, 6))).Backward();
            return (y.ToArray(), xt.Grad!.ToArray(), wt.Grad!.ToArray(), bt.Grad!.ToArray());
        }
        var (fused, plain) = (Run(true), Run(false));
        Assert.Equal(plain.Y, fused.Y);
        Assert.Equal(plain.Dx, fused.Dx);
        Assert.Equal(plain.Dw, fused.Dw);
        Assert.Equal(plain.Db, fused.Db);
    }

    [Fact]
    public void LinearGradients()
    {
        var rng = new Rng(25);
        Run(x => Ops.Linear(x[0], x[1], x[2]),
            [In(TestData.NonZero(rng, 3 * 4), [3, 4]), In(TestData.NonZero(rng, 4 * 5), [4, 5]), In(TestData.NonZero(rng, 5), [5])],
            step: 1e-2, atol: 1e-3, rtol: 1e-3);
    }

    [Fact]
    public void LinearRejectsABiasOfTheWrongLength()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var e = Assert.Throws<ArgumentException>(() => Ops.Linear(Tensor.Zeros(dev, 3, 4), Tensor.Zeros(dev, 4, 5), Tensor.Zeros(dev, 4)));
        Assert.Contains("bias must be [5]", e.Message);
    }

    [Fact]
    public void SharedWeightGradientSumsOverTheBatch()
    {
        // The same weight applied to two halves equals applying it to the stacked batch.
        var rng = new Rng(23);
        float[] a = TestData.NonZero(rng, 2 * 3 * 4), w = TestData.NonZero(rng, 4 * 5);
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var wt = Tensor.FromArray(dev, w, 4, 5); wt.RequiresGrad = true;
        Ops.Sum(Ops.MatMul(Tensor.FromArray(dev, a, 2, 3, 4), wt)).Backward();
        var batched = wt.Grad!.ToArray();
        var w2 = Tensor.FromArray(dev, w, 4, 5); w2.RequiresGrad = true;
        Ops.Sum(Ops.MatMul(Tensor.FromArray(dev, a, 6, 4), w2)).Backward();
        TestData.AssertClose(w2.Grad!.ToArray().Select(v => (double)v).ToArray(), batched, 1e-5, 1e-5, "shared weight gradient");
    }

    [Fact]
    public void AttentionShapedRank4Batches()
    {
        // q [B, H, T, D] @ k^T: two batch axes flatten into one GEMM batch.
        var rng = new Rng(24);
        float[] q = TestData.NonZero(rng, 2 * 3 * 5 * 4), k = TestData.NonZero(rng, 2 * 3 * 5 * 4);
        using var dev = new CpuBackend();
        using (new TensorScope())
        {
            var y = Ops.MatMul(Tensor.FromArray(dev, q, 2, 3, 5, 4), Tensor.FromArray(dev, k, 2, 3, 5, 4), transB: true);
            Assert.Equal([2, 3, 5, 5], y.Shape);
            TestData.AssertClose(Reference64.MatMul(q, k, 6, 5, 5, 4, false, true, sharedB: false), y, 1e-5, 1e-5, "rank-4 MatMul");
        }
        Run(x => Ops.MatMul(x[0], x[1], transB: true), [In(q, 2, 3, 5, 4), In(k, 2, 3, 5, 4)], 1e-2, 1e-3, 1e-3);
    }
}
