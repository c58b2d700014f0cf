using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using static Cleft.Tests.Autograd.GradCheck;

namespace Cleft.Tests.Autograd;

public class ElementwiseTests
{
    // Every broadcast the engine accepts, as (a shape, b shape): large odd shapes for forwards, small for gradients.
    static readonly Dictionary<string, (int[] A, int[] B, int[] SmallA, int[] SmallB)> Kinds = new()
    {
        ["same"] = ([37, 53], [37, 53], [3, 4], [3, 4]),
        ["bias"] = ([3, 37, 53], [53], [2, 3, 4], [4]),
        ["trailing"] = ([3, 37, 53], [37, 53], [2, 3, 4], [3, 4]),
        ["leading-ones"] = ([37, 53], [1, 53], [3, 4], [1, 4]),
        ["per-row"] = ([3, 37, 53], [3, 37, 1], [2, 3, 4], [2, 3, 1]),
        ["scalar"] = ([37, 53], [1], [3, 4], [1]),
        ["scalar-rank0"] = ([3, 37, 53], [], [2, 3], []),
    };

    public static TheoryData<char, string> Cases()
    {
        var d = new TheoryData<char, string>();
        foreach (char op in "+-*/") foreach (var k in Kinds.Keys) d.Add(op, k);
        return d;
    }

    static Tensor Apply(char op, Tensor a, Tensor b) => op switch
    {
        '+' => Ops.Add(a, b), '-' => Ops.Sub(a, b), '*' => Ops.Mul(a, b), _ => Ops.Div(a, b),
    };

    [Theory, MemberData(nameof(Cases))]
    public void BinaryForwardMatchesFloat64(char op, string kind)
    {
        var (sa, sb, _, _) = Kinds[kind];
        var rng = new Rng(11);
        float[] a = TestData.NonZero(rng, Reference64.Count(sa)), b = TestData.NonZero(rng, Reference64.Count(sb));
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var y = Apply(op, Tensor.FromArray(dev, a, sa), Tensor.FromArray(dev, b, sb));
        Assert.Equal(sa, y.Shape);
        TestData.AssertClose(Reference64.Binary(op, a, sa, b, sb), y, 1e-6, 1e-6, $"{op} {kind}");
    }

    [Theory, MemberData(nameof(Cases))]
    public void BinaryGradients(char op, string kind)
    {
        var (_, _, sa, sb) = Kinds[kind];
        var rng = new Rng(12);
        // Step 1e-3, tolerances 1e-3 abs + 1e-2 rel: Div's third derivative reaches ~100 on |b| >= 0.5.
        Run(x => Apply(op, x[0], x[1]),
            [In(TestData.NonZero(rng, Reference64.Count(sa)), sa), In(TestData.NonZero(rng, Reference64.Count(sb)), sb)],
            step: 1e-3, atol: 1e-3, rtol: 1e-2);
    }

    [Fact]
    public void BinaryGradientReachesOnlyTheInputThatNeedsIt()
    {
        var rng = new Rng(13);
        Run(x => Ops.Mul(x[0], x[1]), [Const(TestData.NonZero(rng, 6), 2, 3), In(TestData.NonZero(rng, 3), 3)], 1e-3, 1e-3, 1e-2);
        Run(x => Ops.Div(x[0], x[1]), [In(TestData.NonZero(rng, 6), 2, 3), Const(TestData.NonZero(rng, 2), 2, 1)], 1e-3, 1e-3, 1e-2);
    }

    [Fact]
    public void OperatorsAreTheOps()
    {
        var rng = new Rng(14);
        float[] a = TestData.NonZero(rng, 12), b = TestData.NonZero(rng, 4);
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var ta = Tensor.FromArray(dev, a, 3, 4); var tb = Tensor.FromArray(dev, b, 4);
        Assert.Equal(Ops.Add(ta, tb).ToArray(), (ta + tb).ToArray());
        Assert.Equal(Ops.Sub(ta, tb).ToArray(), (ta - tb).ToArray());
        Assert.Equal(Ops.Mul(ta, tb).ToArray(), (ta * tb).ToArray());
        Assert.Equal(Ops.Div(ta, tb).ToArray(), (ta / tb).ToArray());
        Assert.Equal(Ops.Scale(ta, 2.5f).ToArray(), (ta * 2.5f).ToArray());
        Assert.Equal(Ops.Scale(ta, 2.5f).ToArray(), (2.5f * ta).ToArray());
        Assert.Equal(Ops.Scale(ta, -1f).ToArray(), (-ta).ToArray());
        Assert.Equal(Ops.MatMul(ta, ta, transB: true).ToArray(), ta.MatMul(ta, transB: true).ToArray());
    }

    [Fact]
    public void ScaleForwardAndGradient()
    {
        var rng = new Rng(15);
        var x = TestData.NonZero(rng, 37 * 53);
        using var dev = new CpuBackend();
        using (new TensorScope())
            TestData.AssertClose(Reference64.Scale(x, -0.37), Ops.Scale(Tensor.FromArray(dev, x, 37, 53), -0.37f), 1e-7, 1e-6, "Scale");
        Run(t => Ops.Scale(t[0], -0.37f), [In(TestData.NonZero(rng, 12), 3, 4)], 1e-2, 1e-4, 1e-3);
    }

    [Fact]
    public void CopyForwardAndGradient()
    {
        var rng = new Rng(16);
        var x = TestData.NonZero(rng, 37 * 53);
        using var dev = new CpuBackend();
        using (new TensorScope())
        {
            var src = Tensor.FromArray(dev, x, 37, 53);
            var y = Ops.Copy(src);
            Assert.NotSame(src.Buffer, y.Buffer);
            Assert.Equal(x, y.ToArray());
        }
        Run(t => Ops.Copy(t[0]), [In(TestData.NonZero(rng, 12), 3, 4)], 1e-2, 1e-4, 1e-3);
    }
}
