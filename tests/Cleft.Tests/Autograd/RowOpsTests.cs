using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using static Cleft.Tests.Autograd.GradCheck;

namespace Cleft.Tests.Autograd;

public class RowOpsTests
{
    static readonly int[] Big = [3, 37, 53];

    [Theory, InlineData(false), InlineData(true)]
    public void SoftmaxForwardMatchesFloat64(bool log)
    {
        var rng = new Rng(41);
        var x = TestData.Normal(rng, Reference64.Count(Big), 3f);
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var t = Tensor.FromArray(dev, x, Big);
        var y = log ? Ops.LogSoftmax(t) : Ops.Softmax(t);
        TestData.AssertClose(Reference64.Softmax(x, 3 * 37, 53, log), y, 1e-6, 1e-5, log ? "LogSoftmax" : "Softmax");
    }

    [Theory, InlineData(false), InlineData(true)]
    public void SoftmaxGradients(bool log)
    {
        var rng = new Rng(42);
        Run(x => log ? Ops.LogSoftmax(x[0]) : Ops.Softmax(x[0]), [In(TestData.Normal(rng, 2 * 3 * 5, 2f), 2, 3, 5)],
            step: 1e-2, atol: 1e-3, rtol: 1e-2);
    }

    [Fact]
    public void SoftmaxIsStableForLargeLogits()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        float[] x = [1000f, 1001f, 999f, -1000f, 0f, 1000f];
        var t = Tensor.FromArray(dev, x, 2, 3);
        TestData.AssertClose(Reference64.Softmax(x, 2, 3, log: false), Ops.Softmax(t), 1e-7, 1e-6, "Softmax");
        TestData.AssertClose(Reference64.Softmax(x, 2, 3, log: true), Ops.LogSoftmax(t), 1e-4, 1e-6, "LogSoftmax");
    }

    public static TheoryData<bool, bool> AffineCases() => new() { { true, true }, { false, false }, { true, false }, { false, true } };

    [Theory, MemberData(nameof(AffineCases))]
    public void LayerNormForwardMatchesFloat64(bool withGamma, bool withBeta)
    {
        var rng = new Rng(43);
        var x = TestData.Normal(rng, Reference64.Count(Big), 2f);
        for (int i = 0; i < x.Length; i++) x[i] += 3f; // an offset mean exercises the centring
        float[] gamma = TestData.NonZero(rng, 53), beta = TestData.NonZero(rng, 53);
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var y = Ops.LayerNorm(Tensor.FromArray(dev, x, Big),
            withGamma ? Tensor.FromArray(dev, gamma, 53) : null, withBeta ? Tensor.FromArray(dev, beta, 53) : null);
        TestData.AssertClose(Reference64.LayerNorm(x, withGamma ? gamma : null, withBeta ? beta : null, 3 * 37, 53, 1e-5), y, 1e-5, 1e-5, "LayerNorm");
    }

    [Theory, MemberData(nameof(AffineCases))]
    public void LayerNormGradients(bool withGamma, bool withBeta)
    {
        var rng = new Rng(44);
        var inputs = new List<Input> { In(TestData.Normal(rng, 2 * 3 * 6), 2, 3, 6) };
        if (withGamma) inputs.Add(In(TestData.NonZero(rng, 6), 6));
        if (withBeta) inputs.Add(In(TestData.NonZero(rng, 6), 6));
        Run(x => Ops.LayerNorm(x[0], withGamma ? x[1] : null, withBeta ? x[^1] : null),
            [.. inputs], step: 1e-2, atol: 2e-3, rtol: 1e-2);
    }

    [Fact]
    public void LayerNormWithFrozenAffineStillGivesInputGradient()
    {
        var rng = new Rng(45);
        Run(x => Ops.LayerNorm(x[0], x[1], x[2]),
            [In(TestData.Normal(rng, 12), 2, 6), Const(TestData.NonZero(rng, 6), 6), Const(TestData.NonZero(rng, 6), 6)],
            step: 1e-2, atol: 2e-3, rtol: 1e-2);
        // And the reverse: a constant input still trains gamma and beta.
        Run(x => Ops.LayerNorm(x[0], x[1], x[2]),
            [Const(TestData.Normal(rng, 12), 2, 6), In(TestData.NonZero(rng, 6), 6), In(TestData.NonZero(rng, 6), 6)],
            step: 1e-2, atol: 2e-3, rtol: 1e-2);
    }

    [Fact]
    public void LayerNormRejectsAMismatchedGamma()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var ex = Assert.Throws<ArgumentException>(() => Ops.LayerNorm(Tensor.Zeros(dev, 4, 6), Tensor.Ones(dev, 5)));
        Assert.Contains("LayerNorm", ex.Message);
        Assert.Contains("[5]", ex.Message);
        Assert.Contains("[4,6]", ex.Message);
    }

    [Fact]
    public void GeluForwardAndGradient()
    {
        var rng = new Rng(46);
        var x = TestData.Normal(rng, Reference64.Count(Big), 3f);
        using var dev = new CpuBackend();
        using (new TensorScope())
            TestData.AssertClose(Reference64.Gelu(x), Ops.Gelu(Tensor.FromArray(dev, x, Big)), 1e-6, 1e-5, "Gelu");
        Run(t => Ops.Gelu(t[0]), [In(TestData.Normal(rng, 24, 2f), 4, 6)], step: 1e-2, atol: 1e-3, rtol: 1e-2);
    }
}
