using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using static Cleft.Tests.Autograd.GradCheck;

namespace Cleft.Tests.Autograd;

/// <summary>Ops.AddScaled, a ViT block's residual add with its LayerScale: x + m * scale.</summary>
public class AddScaledTests
{
    [Fact]
    public void ForwardMatchesFloat64()
    {
        var rng = new Rng(21);
        int[] shape = [3, 37, 53];
        float[] x = TestData.NonZero(rng, 3 * 37 * 53), m = TestData.NonZero(rng, 3 * 37 * 53), s = TestData.NonZero(rng, 53);
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var y = Ops.AddScaled(Tensor.FromArray(dev, x, shape), Tensor.FromArray(dev, m, shape), Tensor.FromArray(dev, s, 53));
        Assert.Equal(shape, y.Shape);
        TestData.AssertClose(x.Select((v, i) => v + (double)m[i] * s[i % 53]).ToArray(), y, 1e-6, 1e-6, "AddScaled");
    }

    [Fact]
    public void GradientsMatchFiniteDifferences()
    {
        var rng = new Rng(22);
        Run(t => Ops.AddScaled(t[0], t[1], t[2]),
            [In(TestData.NonZero(rng, 24), 2, 3, 4), In(TestData.NonZero(rng, 24), 2, 3, 4), In(TestData.NonZero(rng, 4), 4)], 1e-2, 1e-3, 1e-3);
        // Only some inputs wanting a gradient: the residual alone, the branch alone, the scale alone.
        Run(t => Ops.AddScaled(t[0], t[1], t[2]),
            [In(TestData.NonZero(rng, 12), 3, 4), Const(TestData.NonZero(rng, 12), 3, 4), Const(TestData.NonZero(rng, 4), 4)], 1e-2, 1e-3, 1e-3);
        Run(t => Ops.AddScaled(t[0], t[1], t[2]),
            [Const(TestData.NonZero(rng, 12), 3, 4), In(TestData.NonZero(rng, 12), 3, 4), Const(TestData.NonZero(rng, 4), 4)], 1e-2, 1e-3, 1e-3);
        Run(t => Ops.AddScaled(t[0], t[1], t[2]),
            [Const(TestData.NonZero(rng, 12), 3, 4), Const(TestData.NonZero(rng, 12), 3, 4), In(TestData.NonZero(rng, 4), 4)], 1e-2, 1e-3, 1e-3);
    }

    [Fact]
    public void IsAddOfMulBitForBitWithItsGradients()
    {
        // x reaches the output twice, as the residual and through the branch (as in a block), so its gradient is the
        // handed-on dy plus the branch's; sizes leave 16-, 8-lane and scalar columns and a ragged 32-row block.
        int[] shape = [5, 37, 67];
        int n = 5 * 37 * 67;
        var rng = new Rng(23);
        float[] x = TestData.NonZero(rng, n), w = TestData.NonZero(rng, n), s = TestData.NonZero(rng, 67), g = TestData.Normal(rng, n);

        (float[] Y, float[] Dx, float[] Dw, float[] Ds) Step(bool fused)
        {
            using var dev = new CpuBackend();
            using var scope = new TensorScope();
            var tx = Tensor.FromArray(dev, x, shape); tx.RequiresGrad = true;
            var tw = Tensor.FromArray(dev, w, shape); tw.RequiresGrad = true;
            var ts = Tensor.FromArray(dev, s, 67); ts.RequiresGrad = true;
            var branch = Ops.Mul(tx, tw);
            var y = fused ? Ops.AddScaled(tx, branch, ts) : Ops.Add(tx, Ops.Mul(branch, ts));
            y.Backward(Tensor.FromArray(dev, g, shape));
            return (y.ToArray(), tx.Grad!.ToArray(), tw.Grad!.ToArray(), ts.Grad!.ToArray());
        }

        var (fused, plain) = (Step(true), Step(false));
        Assert.Equal(plain.Y, fused.Y);
        Assert.Equal(plain.Dx, fused.Dx);
        Assert.Equal(plain.Dw, fused.Dw);
        Assert.Equal(plain.Ds, fused.Ds);
    }

    [Fact]
    public void WrongShapesAreNamed()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var x = Tensor.Zeros(dev, 2, 3);
        var e = Assert.Throws<ArgumentException>(() => Ops.AddScaled(x, Tensor.Zeros(dev, 3, 2), Tensor.Zeros(dev, 3)));
        Assert.Contains("AddScaled: residual", e.Message);
        e = Assert.Throws<ArgumentException>(() => Ops.AddScaled(x, Tensor.Zeros(dev, 2, 3), Tensor.Zeros(dev, 2)));
        Assert.Contains("scale must be [3]", e.Message);
    }
}
