using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using static Cleft.Tests.Autograd.GradCheck;

namespace Cleft.Tests.Autograd;

public class DropoutTests
{
    [Fact]
    public void ForwardMatchesTheCounterRngDefinition()
    {
        var rng = new Rng(71);
        var x = TestData.NonZero(rng, 3 * 37 * 53);
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var y = Ops.Dropout(Tensor.FromArray(dev, x, 3, 37, 53), 0.1f, 12345UL).ToArray();
        TestData.AssertClose(Reference64.Dropout(x, 0.1f, 12345UL), y, 1e-6, 1e-6, "Dropout");
        double dropped = y.Count(v => v == 0f) / (double)y.Length;
        Assert.InRange(dropped, 0.08, 0.12); // 5883 draws: the binomial standard deviation is 0.004
    }

    [Fact]
    public void GradientUsesTheForwardMask()
    {
        var x = TestData.NonZero(new Rng(72), 40);
        Run(t => Ops.Dropout(t[0], 0.3f, 99UL), [In(x, 4, 10)], 1e-2, 1e-4, 1e-3);
        Run(t => Ops.Dropout(t[0], 0.3f, 99UL, training: false), [In(x, 4, 10)], 1e-2, 1e-4, 1e-3);
    }

    [Fact]
    public void RngSeedsMakeMasksReproducibleAndEvalIsIdentity()
    {
        var x = TestData.NonZero(new Rng(73), 64);
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var t = Tensor.FromArray(dev, x, 8, 8);
        Rng r1 = new(5), r2 = new(5);
        var a1 = Ops.Dropout(t, 0.5f, r1).ToArray();
        var b1 = Ops.Dropout(t, 0.5f, r1).ToArray();
        Assert.Equal(a1, Ops.Dropout(t, 0.5f, r2).ToArray());
        Assert.Equal(b1, Ops.Dropout(t, 0.5f, r2).ToArray());
        Assert.NotEqual(a1, b1); // a fresh seed per call
        foreach (var id in new[] { Ops.Dropout(t, 0.5f, r1, training: false), Ops.Dropout(t, 0f, r1), Ops.Dropout(t, 0.5f, 3UL, training: false) })
        {
            Assert.Same(t.Buffer, id.Buffer); // a view: no copy
            id.Dispose();
            Assert.False(t.IsDisposed);
        }
        Assert.Equal(x, t.ToArray());
        // Evaluation does not consume the stream: r1 and r2 still agree.
        Assert.Equal(r2.NextUInt64(), r1.NextUInt64());
    }

    [Theory, InlineData(-0.1f), InlineData(1f)]
    public void RejectsBadProbability(float p)
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var ex = Assert.Throws<ArgumentException>(() => Ops.Dropout(Tensor.Zeros(dev, 2, 3), p, 1UL));
        Assert.Contains("Dropout", ex.Message);
        Assert.Contains("[2,3]", ex.Message);
    }
}
