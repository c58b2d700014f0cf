using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using static Cleft.Tests.Autograd.GradCheck;

namespace Cleft.Tests.Autograd;

public class ReduceTests
{
    public static TheoryData<bool, int?, bool> Cases()
    {
        var d = new TheoryData<bool, int?, bool>();
        foreach (bool mean in new[] { false, true })
        {
            d.Add(mean, null, false);
            foreach (int axis in new[] { 0, 1, 2, -1 })
                foreach (bool keep in new[] { false, true }) d.Add(mean, axis, keep);
        }
        return d;
    }

    static Tensor Apply(Tensor x, bool mean, int? axis, bool keep) => (mean, axis) switch
    {
        (false, null) => Ops.Sum(x),
        (true, null) => Ops.Mean(x),
        (false, int a) => Ops.Sum(x, a, keep),
        (true, int a) => Ops.Mean(x, a, keep),
    };

    static int[] Expected(int[] shape, int? axis, bool keep)
    {
        if (axis is null) return [];
        int a = axis.Value < 0 ? axis.Value + shape.Length : axis.Value;
        return keep ? shape.Select((d, i) => i == a ? 1 : d).ToArray() : shape.Where((_, i) => i != a).ToArray();
    }

    [Theory, MemberData(nameof(Cases))]
    public void ForwardMatchesFloat64(bool mean, int? axis, bool keep)
    {
        int[] shape = [3, 37, 53];
        var rng = new Rng(31);
        var x = TestData.NonZero(rng, Reference64.Count(shape));
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var y = Apply(Tensor.FromArray(dev, x, shape), mean, axis, keep);
        Assert.Equal(Expected(shape, axis, keep), y.Shape);
        TestData.AssertClose(Reference64.Reduce(x, shape, axis, mean), y, 1e-4, 1e-5, $"{(mean ? "Mean" : "Sum")} axis {axis}");
    }

    [Theory, MemberData(nameof(Cases))]
    public void Gradients(bool mean, int? axis, bool keep)
    {
        var rng = new Rng(32);
        Run(x => Apply(x[0], mean, axis, keep), [In(TestData.NonZero(rng, 24), 2, 3, 4)], step: 1e-2, atol: 1e-4, rtol: 1e-3);
    }

    [Fact]
    public void MeanOverTokensOfARank4Tensor()
    {
        // [B, H, T, D] averaged over T: an inner axis with axes on both sides.
        var rng = new Rng(33);
        int[] shape = [2, 3, 5, 4];
        var x = TestData.NonZero(rng, Reference64.Count(shape));
        using var dev = new CpuBackend();
        using (new TensorScope())
            TestData.AssertClose(Reference64.Reduce(x, shape, 2, mean: true), Ops.Mean(Tensor.FromArray(dev, x, shape), 2), 1e-6, 1e-5, "Mean axis 2");
        Run(t => Ops.Mean(t[0], 2), [In(x, shape)], 1e-2, 1e-4, 1e-3);
    }

    [Fact]
    public void RepeatForwardAndGradient()
    {
        var rng = new Rng(34);
        var x = TestData.NonZero(rng, 37 * 53);
        using var dev = new CpuBackend();
        using (new TensorScope())
        {
            var y = Ops.Repeat(Tensor.FromArray(dev, x, 37, 53), 3);
            Assert.Equal([3, 37, 53], y.Shape);
            TestData.AssertClose(Reference64.Repeat(x, 3), y, 0, 0, "Repeat");
        }
        Run(t => Ops.Repeat(t[0], 3), [In(TestData.NonZero(rng, 6), 2, 3)], 1e-2, 1e-4, 1e-3);
    }

    [Fact]
    public void AxisOutOfRangeNamesOpAndShape()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var ex = Assert.Throws<ArgumentException>(() => Ops.Sum(Tensor.Zeros(dev, 2, 3), 2));
        Assert.Contains("Sum", ex.Message);
        Assert.Contains("[2,3]", ex.Message);
    }
}
