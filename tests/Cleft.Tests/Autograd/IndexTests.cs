using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using static Cleft.Tests.Autograd.GradCheck;

namespace Cleft.Tests.Autograd;

public class IndexTests
{
    [Fact]
    public void EmbeddingForwardMatchesFloat64()
    {
        var rng = new Rng(51);
        var w = TestData.NonZero(rng, 37 * 53);
        var ids = Enumerable.Range(0, 3 * 29).Select(_ => rng.NextInt(37)).ToArray();
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        using var idt = IntTensor.FromArray(dev, ids, 3, 29);
        var y = Ops.Embedding(Tensor.FromArray(dev, w, 37, 53), idt);
        Assert.Equal([3, 29, 53], y.Shape);
        TestData.AssertClose(Reference64.Gather(w, 53, ids), y, 0, 0, "Embedding");
    }

    [Fact]
    public void EmbeddingGradientScatterAddsRepeatedIds()
    {
        var rng = new Rng(52);
        using var dev = new CpuBackend();
        using var ids = IntTensor.FromArray(dev, [2, 0, 2, 4, 2, 1], 2, 3);
        Run(dev, x => Ops.Embedding(x[0], ids), [In(TestData.NonZero(rng, 5 * 4), 5, 4)], step: 1e-2, atol: 1e-4, rtol: 1e-3);
    }

    [Fact]
    public void IndexSelectGathersOnePositionPerSequence()
    {
        // Hidden states [B=3, T=5, C=4] flattened to rows; pick the EOS row of each sequence.
        var rng = new Rng(53);
        var h = TestData.NonZero(rng, 3 * 5 * 4);
        int[] eos = [4, 1, 3];
        int[] rows = eos.Select((p, b) => b * 5 + p).ToArray();
        using var dev = new CpuBackend();
        using var idx = IntTensor.FromArray(dev, rows, 3);
        using (new TensorScope())
        {
            var y = Ops.IndexSelect(Ops.Reshape(Tensor.FromArray(dev, h, 3, 5, 4), -1, 4), idx);
            Assert.Equal([3, 4], y.Shape);
            TestData.AssertClose(Reference64.Gather(h, 4, rows), y, 0, 0, "IndexSelect");
        }
        Run(dev, x => Ops.IndexSelect(Ops.Reshape(x[0], 15, 4), idx), [In(h, 3, 5, 4)], 1e-2, 1e-4, 1e-3);
        // Rank > 2 rows: x [R, A, B] gathers whole [A, B] blocks.
        using var idx2 = IntTensor.FromArray(dev, [1, 1, 0], 3);
        Run(dev, x => Ops.IndexSelect(x[0], idx2), [In(TestData.NonZero(rng, 2 * 3 * 2), 2, 3, 2)], 1e-2, 1e-4, 1e-3);
    }

    [Theory, InlineData(-1), InlineData(7)]
    public void EmbeddingRejectsIdsOutOfRange(int bad)
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        using var ids = IntTensor.FromArray(dev, [0, bad, 3], 3);
        var ex = Assert.Throws<ArgumentException>(() => Ops.Embedding(Tensor.Zeros(dev, 7, 4), ids));
        Assert.Contains("Embedding", ex.Message);
        Assert.Contains("[7,4]", ex.Message);
        Assert.Contains(bad.ToString(), ex.Message);
    }

    [Fact]
    public void CrossEntropyForwardMatchesFloat64()
    {
        var rng = new Rng(54);
        var logits = TestData.Normal(rng, 37 * 53, 3f);
        var targets = Enumerable.Range(0, 37).Select(i => i % 5 == 0 ? -100 : rng.NextInt(53)).ToArray();
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        using var t = IntTensor.FromArray(dev, targets, 37);
        var loss = Ops.CrossEntropy(Tensor.FromArray(dev, logits, 37, 53), t);
        Assert.Empty(loss.Shape);
        TestData.AssertClose([Reference64.CrossEntropy(logits, targets, 53, -100)], loss, 1e-5, 1e-5, "CrossEntropy");
    }

    [Fact]
    public void CrossEntropyGradientWithIgnoredRows()
    {
        var rng = new Rng(55);
        using var dev = new CpuBackend();
        using var targets = IntTensor.FromArray(dev, [2, -100, 0, 4, 3], 5);
        using var custom = IntTensor.FromArray(dev, [1, 3, 3, 0], 4);
        Run(dev, x => Ops.CrossEntropy(x[0], targets), [In(TestData.Normal(rng, 5 * 6, 2f), 5, 6)], step: 1e-2, atol: 1e-3, rtol: 1e-2);
        // A class index as the ignore index: rows with target 3 do not count.
        Run(dev, x => Ops.CrossEntropy(x[0], custom, ignoreIndex: 3), [In(TestData.Normal(rng, 4 * 5, 2f), 4, 5)], 1e-2, 1e-3, 1e-2);
    }

    [Fact]
    public void CrossEntropyOfOnlyIgnoredRowsIsZero()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        using var targets = IntTensor.FromArray(dev, [-100, -100], 2);
        var x = Tensor.FromArray(dev, [1f, 2f, 3f, 4f], 2, 2);
        x.RequiresGrad = true;
        var loss = Ops.CrossEntropy(x, targets);
        Assert.Equal(0f, loss.Item());
        loss.Backward();
        Assert.All(x.Grad!.ToArray(), v => Assert.Equal(0f, v));
    }

    [Theory]
    [InlineData(new[] { 0, 5, 1 }, "5")]          // above the class range
    [InlineData(new[] { 0, -1, 1 }, "-1")]        // negative, not the ignore index
    [InlineData(new[] { -100, -7, 2 }, "-7")]     // hidden between the ignore index and valid classes
    public void CrossEntropyRejectsBadTargets(int[] targets, string culprit)
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        using var t = IntTensor.FromArray(dev, targets, 3);
        var ex = Assert.Throws<ArgumentException>(() => Ops.CrossEntropy(Tensor.Zeros(dev, 3, 5), t));
        Assert.Contains("CrossEntropy", ex.Message);
        Assert.Contains("[3,5]", ex.Message);
        Assert.Contains($"target {culprit}", ex.Message);
    }

    [Fact]
    public void CrossEntropyRejectsMismatchedTargetCount()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        using var t = IntTensor.FromArray(dev, [0, 1], 2);
        var ex = Assert.Throws<ArgumentException>(() => Ops.CrossEntropy(Tensor.Zeros(dev, 3, 5), t));
        Assert.Contains("[2]", ex.Message);
        Assert.Contains("[3,5]", ex.Message);
    }
}
