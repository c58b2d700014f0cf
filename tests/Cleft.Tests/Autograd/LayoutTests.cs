using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using static Cleft.Tests.Autograd.GradCheck;

namespace Cleft.Tests.Autograd;

public class LayoutTests
{
    [Fact]
    public void ReshapeIsAViewAndInfersOneAxis()
    {
        var rng = new Rng(61);
        var x = TestData.NonZero(rng, 3 * 37 * 53);
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var t = Tensor.FromArray(dev, x, 3, 37, 53);
        var y = Ops.Reshape(t, -1, 53);
        Assert.Equal([111, 53], y.Shape);
        Assert.Same(t.Buffer, y.Buffer);
        Assert.Equal(x, y.ToArray());
        Assert.Equal([3, 1961], t.Reshape(3, -1).Shape);
        t.Dispose(); // the view keeps the shared storage alive
        Assert.Equal(x, y.ToArray());
    }

    [Fact]
    public void ReshapeGradient() =>
        Run(x => Ops.Reshape(x[0], 4, -1), [In(TestData.NonZero(new Rng(62), 24), 2, 3, 4)], 1e-2, 1e-4, 1e-3);

    [Theory]
    [InlineData(new[] { 5, -1 })]
    [InlineData(new[] { -1, -1 })]
    [InlineData(new[] { 4, 7 })]
    [InlineData(new[] { 0, 24 })]
    public void ReshapeRejectsBadShapes(int[] shape)
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var ex = Assert.Throws<ArgumentException>(() => Ops.Reshape(Tensor.Zeros(dev, 2, 3, 4), shape));
        Assert.Contains("Reshape", ex.Message);
        Assert.Contains("[2,3,4]", ex.Message);
    }

    public static TheoryData<int[]> Perms() => new() { new[] { 0, 2, 1 }, new[] { 2, 0, 1 }, new[] { 1, 2, 0 }, new[] { 2, 1, 0 }, new[] { 0, 1, 2 } };

    [Theory, MemberData(nameof(Perms))]
    public void PermuteForwardAndGradient(int[] perm)
    {
        int[] shape = [3, 37, 53];
        var rng = new Rng(63);
        var x = TestData.NonZero(rng, Reference64.Count(shape));
        using var dev = new CpuBackend();
        using (new TensorScope())
        {
            var y = Ops.Permute(Tensor.FromArray(dev, x, shape), perm);
            Assert.Equal(perm.Select(p => shape[p]).ToArray(), y.Shape);
            TestData.AssertClose(Reference64.Permute(x, shape, perm), y, 0, 0, "Permute");
        }
        Run(t => Ops.Permute(t[0], perm), [In(TestData.NonZero(rng, 24), 2, 3, 4)], 1e-2, 1e-4, 1e-3);
    }

    [Fact]
    public void TransposeSwapsTwoAxesOfARank4Tensor()
    {
        // Attention's [B, T, H, D] -> [B, H, T, D].
        int[] shape = [2, 5, 3, 4];
        var x = TestData.NonZero(new Rng(64), Reference64.Count(shape));
        using var dev = new CpuBackend();
        using (new TensorScope())
        {
            var y = Ops.Transpose(Tensor.FromArray(dev, x, shape), 1, -2);
            Assert.Equal([2, 3, 5, 4], y.Shape);
            TestData.AssertClose(Reference64.Permute(x, shape, [0, 2, 1, 3]), y, 0, 0, "Transpose");
        }
        Run(t => Ops.Transpose(t[0], 1, 2), [In(x, shape)], 1e-2, 1e-4, 1e-3);
    }

    [Fact]
    public void PermuteRejectsANonPermutation()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var ex = Assert.Throws<ArgumentException>(() => Ops.Permute(Tensor.Zeros(dev, 2, 3, 4), 0, 0, 1));
        Assert.Contains("Permute", ex.Message);
        Assert.Contains("[2,3,4]", ex.Message);
    }

    public static TheoryData<int, int, int> SliceCases() => new() { { 0, 1, 2 }, { 1, 10, 20 }, { 2, 0, 17 }, { 2, 36, 17 }, { -1, 52, 1 } };

    [Theory, MemberData(nameof(SliceCases))]
    public void SliceForwardMatchesFloat64(int axis, int start, int length)
    {
        int[] shape = [3, 37, 53];
        var x = TestData.NonZero(new Rng(65), Reference64.Count(shape));
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var y = Ops.Slice(Tensor.FromArray(dev, x, shape), axis, start, length);
        int a = axis < 0 ? axis + 3 : axis;
        TestData.AssertClose(Reference64.Slice(x, shape, a, start, length), y, 0, 0, $"Slice axis {axis}");
    }

    [Fact]
    public void FusedQkvSplitGradients()
    {
        // [B, T, 3C] cut into q, k, v along the last axis; each piece weighted differently.
        var rng = new Rng(66);
        Run(x => Ops.Add(Ops.Mul(Ops.Slice(x[0], -1, 0, 4), Ops.Slice(x[0], -1, 4, 4)), Ops.Slice(x[0], 2, 8, 4)),
            [In(TestData.NonZero(rng, 2 * 3 * 12), 2, 3, 12)], 1e-2, 1e-3, 1e-2);
        Run(x => Ops.Slice(x[0], 1, 1, 2), [In(TestData.NonZero(rng, 2 * 4 * 3), 2, 4, 3)], 1e-2, 1e-4, 1e-3);
    }

    [Theory, InlineData(-1, 2), InlineData(2, 4), InlineData(0, 0)]
    public void SliceRejectsOutOfRange(int start, int length)
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var ex = Assert.Throws<ArgumentException>(() => Ops.Slice(Tensor.Zeros(dev, 2, 5), 1, start, length));
        Assert.Contains("Slice", ex.Message);
        Assert.Contains("[2,5]", ex.Message);
    }

    [Theory, InlineData(0), InlineData(1), InlineData(2)]
    public void ConcatForwardMatchesFloat64(int axis)
    {
        var rng = new Rng(67);
        int[][] shapes = [[3, 37, 53], [3, 37, 53], [3, 37, 53]];
        shapes[1][axis] = 7; shapes[2][axis] = 2;
        var parts = shapes.Select(s => (TestData.NonZero(rng, Reference64.Count(s)), s)).ToArray();
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var y = Ops.Concat(axis, parts.Select(p => Tensor.FromArray(dev, p.Item1, p.s)).ToArray());
        Assert.Equal(shapes[0][axis] + 9, y.Shape[axis]);
        TestData.AssertClose(Reference64.Concat(axis, parts), y, 0, 0, $"Concat axis {axis}");
    }

    [Fact]
    public void ConcatGradients()
    {
        // Prompt tokens [B, P, C] before text tokens [B, T, C]; the text part is frozen.
        var rng = new Rng(68);
        Run(x => Ops.Concat(1, x[0], x[1]),
            [In(TestData.NonZero(rng, 2 * 2 * 3), 2, 2, 3), Const(TestData.NonZero(rng, 2 * 4 * 3), 2, 4, 3)], 1e-2, 1e-4, 1e-3);
        // The same tensor twice: both copies' gradients add up.
        Run(x => Ops.Concat(-1, x[0], x[1], x[0]),
            [In(TestData.NonZero(rng, 6), 2, 3), In(TestData.NonZero(rng, 2), 2, 1)], 1e-2, 1e-4, 1e-3);
    }

    [Fact]
    public void PromptLearnerPrependsSharedContext()
    {
        // ctx [P, C] repeated over the batch and joined before token embeddings: every path the prompt learner takes.
        var rng = new Rng(69);
        Run(x => Ops.Concat(1, Ops.Repeat(x[0], 2), x[1]),
            [In(TestData.NonZero(rng, 3 * 4), 3, 4), In(TestData.NonZero(rng, 2 * 5 * 4), 2, 5, 4)], 1e-2, 1e-4, 1e-3);
    }

    [Fact]
    public void ConcatRejectsMismatchedShapes()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var ex = Assert.Throws<ArgumentException>(() => Ops.Concat(1, Tensor.Zeros(dev, 2, 3), Tensor.Zeros(dev, 4, 3)));
        Assert.Contains("Concat", ex.Message);
        Assert.Contains("[2,3]", ex.Message);
        Assert.Contains("[4,3]", ex.Message);
    }
}
