using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Kernels.Cpu;
using static Cleft.Tests.Autograd.GradCheck;

namespace Cleft.Tests.Autograd;

/// <summary>Exact GELU (DINOv2's MLP activation) against a float64 reference, and its gradient.</summary>
public class GeluErfTests
{
    static double Gelu64(double x) => 0.5 * x * (1 + Reference64.Erf(x / Math.Sqrt(2)));

    [Fact]
    public void ReferenceErfIsRight()
    {
        // Tabulated values (Abramowitz & Stegun table 7.1 / erf(x) to 10 digits).
        Assert.Equal(0.5204998778, Reference64.Erf(0.5), 9);
        Assert.Equal(0.8427007929, Reference64.Erf(1.0), 9);
        Assert.Equal(0.9953222650, Reference64.Erf(2.0), 9);
        Assert.Equal(0.9999779095, Reference64.Erf(3.0), 9);
        Assert.Equal(-0.9661051465, Reference64.Erf(-1.5), 9);
    }

    [Fact]
    public void ForwardMatchesFloat64()
    {
        var rng = new Rng(61);
        var x = TestData.Normal(rng, 3 * 37 * 53, 3f);
        x[0] = 0f; x[1] = -12f; x[2] = 12f; x[3] = 1e-4f;
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var y = Ops.GeluErf(Tensor.FromArray(dev, x, 3, 37, 53));
        TestData.AssertClose(x.Select(v => Gelu64(v)).ToArray(), y, 3e-7, 2e-6, "GeluErf");
    }

    [Fact]
    public void DerivativeMatchesFloat64()
    {
        var x = Enumerable.Range(-60, 121).Select(i => i / 10f).ToArray();
        foreach (var v in x)
        {
            double want = Reference64.GeluErfDerivative(v);
            Assert.True(Math.Abs(GeluErfMath.Derivative(v) - want) <= 5e-7, $"GELU'({v}) = {GeluErfMath.Derivative(v)}, expected {want}");
        }
    }

    [Fact]
    public void DiffersFromTheTanhForm()
    {
        // The reason for a separate op: gelu_new (tanh) is off by ~2e-4 from the exact form near |x| = 2.
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var x = Tensor.FromArray(dev, [2.1f], 1);
        Assert.True(Math.Abs(Ops.GeluErf(x).Item() - Ops.Gelu(x).Item()) > 1e-4);
    }

    [Fact]
    public void Gradient()
    {
        var rng = new Rng(62);
        Run(t => Ops.GeluErf(t[0]), [In(TestData.Normal(rng, 24, 2f), 4, 6)], step: 1e-2, atol: 1e-3, rtol: 1e-2);
    }
}
