using Cleft.Autograd;
using Cleft.Autograd.Optim;
using Cleft.Kernels.Cpu;

namespace Cleft.Tests.Optim;

/// <summary><see cref="Optimizer.StepIfFinite"/>: a non-finite gradient norm leaves parameters, moments and the step count untouched.</summary>
public sealed class OptimizerGuardTests
{
    static void Backward(CpuBackend dev, Parameter a, float[] weights)
    {
        using var scope = new TensorScope();
        Ops.Sum(Ops.Mul(a, Tensor.FromArray(dev, weights, weights.Length))).Backward();
    }

    [Theory]
    [InlineData(float.NaN, null)]
    [InlineData(float.PositiveInfinity, null)]
    [InlineData(1e30f, null)] // finite, but its square overflows float: the norm is infinite
    [InlineData(float.NaN, 1f)]
    public void ANonFiniteGradientNormSkipsTheStepLeavingEverythingBitIdentical(float bad, float? clip)
    {
        using var dev = new CpuBackend();
        using var a = new Parameter(dev, [1f, 2f, 3f], 3);
        using var opt = new AdamW([a], lr: 0.1f) { MaxGradNorm = clip };
        opt.ZeroGrad();
        Backward(dev, a, [3f, 0f, 4f]);
        Assert.Equal(5f, opt.StepIfFinite(), 1e-5f);
        Assert.Equal(1, opt.StepCount);
        var values = a.ToArray();
        var state = opt.ExportState();

        opt.ZeroGrad();
        Backward(dev, a, [1f, bad, 1f]);
        float norm = opt.StepIfFinite();
        Assert.False(float.IsFinite(norm), $"norm {norm}");
        Assert.Equal(norm, opt.LastGradNorm);
        Assert.Equal(1, opt.StepCount);
        Assert.Equal(values, a.ToArray());
        var after = opt.ExportState();
        Assert.Equal(state.Keys.Order(), after.Keys.Order());
        foreach (var (k, v) in state) Assert.Equal(v, after[k]);

        // The next finite step is the optimizer's second, exactly as for one that never saw the bad gradient.
        using var twin = new Parameter(dev, [1f, 2f, 3f], 3);
        using var reference = new AdamW([twin], lr: 0.1f) { MaxGradNorm = clip };
        reference.ZeroGrad();
        Backward(dev, twin, [3f, 0f, 4f]);
        reference.Step();
        foreach (var (o, p) in new[] { (opt, a), (reference, twin) })
        {
            o.ZeroGrad();
            Backward(dev, p, [1f, -1f, 2f]);
            Assert.True(float.IsFinite(o.StepIfFinite()));
        }
        Assert.Equal(2, opt.StepCount);
        Assert.Equal(twin.ToArray(), a.ToArray());
    }
}
