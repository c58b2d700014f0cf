using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Tests.Ilgpu;

namespace Cleft.Tests.Autograd;

/// <summary>
/// The backward of both GELUs (tanh and exact), through the op on the managed backend and on the ILGPU kernels,
/// against the float64 analytic derivative at 1e-6 absolute + 5e-7 relative. The finite-difference gradient checks
/// (tolerance 1e-3) cannot see a constant that is 1e-5 relative off; this can (a few 1e-6 near |x| = 1). The absolute
/// part is not tighter because float32 tanh saturates to -1 below x = -5, where the true derivative (down to -6e-7)
/// then comes out as 0.
/// </summary>
[Collection(IlgpuCollection.Name)]
public sealed class GeluDerivativeTests(IlgpuFixture fx)
{
    [Theory]
    [InlineData("cpu", "tanh")]
    [InlineData("cpu", "erf")]
    [InlineData("ilgpu-cpu", "tanh")]
    [InlineData("ilgpu-cpu", "erf")]
    public void BackwardMatchesFloat64Derivative(string device, string form)
    {
        IBackend dev = device == "cpu" ? fx.Cpu : fx.Ilgpu;
        // A 0.01 grid over [-6, 6] (every regime: tails, the dip near -0.75, the bulk) and dy = +-1, which scales
        // exactly, so the only rounding is the derivative's own.
        var x = Enumerable.Range(-600, 1201).Select(i => i / 100f).ToArray();
        var signs = new Rng(63);
        var dy = x.Select(_ => signs.NextDouble() < 0.5 ? -1f : 1f).ToArray();
        Func<double, double> derivative = form == "tanh" ? Reference64.GeluTanhDerivative : Reference64.GeluErfDerivative;
        var want = x.Select((v, i) => dy[i] * derivative(v)).ToArray();

        float[] got;
        using (new TensorScope())
        {
            var xt = Tensor.FromArray(dev, x, x.Length);
            xt.RequiresGrad = true;
            var y = form == "tanh" ? Ops.Gelu(xt) : Ops.GeluErf(xt);
            y.Backward(Tensor.FromArray(dev, dy, x.Length));
            got = xt.Grad!.ToArray();
            xt.Dispose();
        }
        TestData.AssertClose(want, got, 1e-6, 5e-7, $"{form} GELU derivative on {device}");
    }
}
