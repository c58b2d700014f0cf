using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Kernels.Cpu;
using static Cleft.Tests.Autograd.GradCheck;

namespace Cleft.Tests.Autograd;

public class EngineTests
{
    static Tensor Leaf(IBackend dev, float[] data, params int[] shape)
    {
        var t = Tensor.FromArray(dev, data, shape);
        t.RequiresGrad = true;
        return t;
    }

    [Fact]
    public void GradientsAccumulateAcrossBackwardCalls()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var x = Leaf(dev, [1f, -2f, 3f], 3);
        var w = Tensor.FromArray(dev, [0.5f, 2f, -1f], 3);
        Ops.Sum(Ops.Mul(x, w)).Backward();
        Assert.Equal([0.5f, 2f, -1f], x.Grad!.ToArray());
        Ops.Sum(Ops.Mul(x, w)).Backward();
        Assert.Equal([1f, 4f, -2f], x.Grad!.ToArray());
    }

    [Fact]
    public void AnInputUsedTwiceGetsBothContributions()
    {
        using var dev = new CpuBackend();
        using (new TensorScope())
        {
            var x = Leaf(dev, [1.5f, -2f], 2);
            Ops.Sum(Ops.Mul(x, x)).Backward();
            Assert.Equal([3f, -4f], x.Grad!.ToArray());
        }
        // Through an intermediate: y = 2x used by both operands of a product (a non-leaf fan-out).
        Run(t => { var y = Ops.Scale(t[0], 2f); return Ops.Add(Ops.Mul(y, y), y); }, [In([0.7f, -1.2f, 0.9f], 3)], 1e-2, 1e-3, 1e-3);
    }

    [Fact]
    public void NoGradRecordsNothing()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var x = Leaf(dev, [1f, 2f, 3f, 4f], 2, 2);
        using (GradMode.NoGrad())
        {
            Assert.False(GradMode.Enabled);
            foreach (var y in new[] { Ops.Mul(x, x), Ops.MatMul(x, x), Ops.Softmax(x), Ops.LayerNorm(x), Ops.Sum(x), Ops.Slice(x, 1, 0, 1), Ops.Reshape(x, 4) })
            {
                Assert.False(y.RequiresGrad);
                Assert.Null(y.Creator);
            }
        }
        Assert.True(GradMode.Enabled);
        Assert.NotNull(Ops.Mul(x, x).Creator);
    }

    /// <summary>One training-like step touching every op family.</summary>
    static float Step(IBackend dev, Parameter w, Parameter bias, Parameter gamma, Parameter emb, IntTensor ids, IntTensor targets, Rng rng, bool backward)
    {
        var h = Ops.Embedding(emb, ids);                                   // [2, 3, 8]
        var qkv = Ops.Add(Ops.MatMul(h, w), bias);                          // [2, 3, 24]
        var q = Ops.Slice(qkv, -1, 0, 8); var k = Ops.Slice(qkv, -1, 8, 8); var v = Ops.Slice(qkv, -1, 16, 8);
        var att = Ops.Softmax(Ops.Scale(Ops.MatMul(q, k, transB: true), 0.35f));
        var o = Ops.Dropout(Ops.MatMul(att, v), 0.1f, rng);
        var x = Ops.Gelu(Ops.LayerNorm(Ops.Concat(1, o, h), gamma));        // [2, 6, 8]
        var pooled = Ops.Mean(Ops.Transpose(x, 0, 1), 0);                   // [2, 8]
        var logits = Ops.Reshape(Ops.Permute(Ops.Repeat(pooled, 1), 1, 0, 2), 2, 8);
        var loss = Ops.Add(Ops.CrossEntropy(logits, targets), Ops.Mean(Ops.LogSoftmax(logits)));
        if (backward) loss.Backward();
        return loss.Item();
    }

    [Fact]
    public void ScopedStepsStopAllocatingAndReturnEveryBuffer()
    {
        using var dev = new CpuBackend();
        var rng = new Rng(81);
        using var w = Parameter.Normal(dev, rng, 0.3f, 8, 24);
        using var bias = Parameter.Normal(dev, rng, 0.1f, 24);
        using var gamma = Parameter.Full(dev, 1f, 8);
        using var emb = Parameter.Normal(dev, rng, 1f, 10, 8);
        using var ids = IntTensor.FromArray(dev, [1, 4, 9, 0, 4, 2], 2, 3);
        using var targets = IntTensor.FromArray(dev, [3, -100], 2);
        Parameter[] ps = [w, bias, gamma, emb];
        void Run(bool backward)
        {
            using var scope = new TensorScope();
            Step(dev, w, bias, gamma, emb, ids, targets, rng, backward);
            foreach (var p in ps) p.ZeroGrad();
        }
        Run(true); Run(true);
        long fresh = dev.Pool.FreshAllocations, live = dev.Pool.LiveBytes;
        for (int i = 0; i < 4; i++) Run(true);
        Assert.Equal(fresh, dev.Pool.FreshAllocations);
        Assert.Equal(live, dev.Pool.LiveBytes);
        // A graph that is never back-propagated is reclaimed by its scope as well (saved statistics included).
        for (int i = 0; i < 3; i++) Run(false);
        Assert.Equal(fresh, dev.Pool.FreshAllocations);
        Assert.Equal(live, dev.Pool.LiveBytes);
        Assert.All(ps, p => Assert.NotNull(p.Grad));
    }

    [Fact]
    public void BackwardThroughAFreedGraphNamesTheOpAndShapes()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var x = Leaf(dev, [1f, 2f, 3f, 4f, 5f, 6f], 2, 3);
        var loss = Ops.Sum(Ops.Mul(x, x));
        loss.Backward();
        var ex = Assert.Throws<InvalidOperationException>(() => loss.Backward());
        Assert.Contains("Sum([2,3])", ex.Message);
        Assert.Contains("retainGraph", ex.Message);
    }

    [Fact]
    public void RetainGraphAllowsASecondBackward()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var x = Leaf(dev, [1f, -2f, 0.5f, 4f], 2, 2);
        var loss = Ops.Sum(Ops.LayerNorm(Ops.MatMul(x, x), x.Reshape(4).Slice(0, 0, 2)));
        loss.Backward(retainGraph: true);
        var once = x.Grad!.ToArray();
        loss.Backward();
        TestData.AssertClose(once.Select(v => 2.0 * v).ToArray(), x.Grad!.ToArray(), 1e-6, 1e-6, "doubled gradient");
    }

    [Fact]
    public void ShapeMismatchesNameTheOpAndShapes()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var a = Tensor.Zeros(dev, 2, 3);
        var ex = Assert.Throws<ArgumentException>(() => Ops.Add(a, Tensor.Zeros(dev, 4)));
        Assert.Contains("Add", ex.Message); Assert.Contains("[2,3]", ex.Message); Assert.Contains("[4]", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => Ops.MatMul(a, Tensor.Zeros(dev, 4, 5)));
        Assert.Contains("MatMul", ex.Message); Assert.Contains("[2,3]", ex.Message); Assert.Contains("[4,5]", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => Ops.MatMul(Tensor.Zeros(dev, 2, 2, 3), Tensor.Zeros(dev, 3, 3, 4)));
        Assert.Contains("MatMul", ex.Message); Assert.Contains("[2,2,3]", ex.Message); Assert.Contains("[3,3,4]", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => Ops.Softmax(Tensor.Zeros(dev)));
        Assert.Contains("Softmax", ex.Message); Assert.Contains("[]", ex.Message);
        var y = Leaf(dev, [1f, 2f], 2);
        ex = Assert.Throws<ArgumentException>(() => Ops.Mul(y, y).Backward());
        Assert.Contains("not a scalar", ex.Message); Assert.Contains("[2]", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => Ops.Mul(y, y).Backward(Tensor.Ones(dev, 3)));
        Assert.Contains("Backward", ex.Message); Assert.Contains("[2]", ex.Message); Assert.Contains("[3]", ex.Message);
    }

    [Fact]
    public void TwoBackendInstancesAreDifferentDevices()
    {
        using var cpu1 = new CpuBackend();
        using var cpu2 = new CpuBackend();
        using var scope = new TensorScope();
        var a = Tensor.Zeros(cpu1, 2, 3);
        var b = Tensor.Zeros(cpu2, 2, 3);
        foreach (var act in new Action[] { () => Ops.Add(a, b), () => Ops.MatMul(a, b, transB: true), () => Ops.Concat(0, a, b),
                                           () => Ops.LayerNorm(a, Tensor.Ones(cpu2, 3)) })
        {
            var ex = Assert.Throws<ArgumentException>(act);
            Assert.Contains("different devices", ex.Message);
            Assert.Contains("[2,3]", ex.Message);
        }
        using var ids = IntTensor.FromArray(cpu2, [0, 1], 2);
        var ex2 = Assert.Throws<ArgumentException>(() => Ops.Embedding(a, ids));
        Assert.Contains("Embedding", ex2.Message); Assert.Contains("different devices", ex2.Message);
        ex2 = Assert.Throws<ArgumentException>(() => Ops.CrossEntropy(Tensor.Zeros(cpu1, 2, 3), ids));
        Assert.Contains("CrossEntropy", ex2.Message); Assert.Contains("different devices", ex2.Message);
    }

    [Fact]
    public void SameSeedGivesIdenticalValuesAndGradients()
    {
        (float Loss, float[] Grad) Once()
        {
            using var dev = new CpuBackend();
            var rng = new Rng(42);
            using var w = Parameter.Normal(dev, rng, 0.3f, 8, 24);
            using var bias = Parameter.Normal(dev, rng, 0.1f, 24);
            using var gamma = Parameter.Full(dev, 1f, 8);
            using var emb = Parameter.Normal(dev, rng, 1f, 10, 8);
            using var ids = IntTensor.FromArray(dev, [1, 4, 9, 0, 4, 2], 2, 3);
            using var targets = IntTensor.FromArray(dev, [3, 5], 2);
            using var scope = new TensorScope();
            float loss = Step(dev, w, bias, gamma, emb, ids, targets, rng, backward: true);
            return (loss, [.. w.Grad!.ToArray(), .. emb.Grad!.ToArray(), .. gamma.Grad!.ToArray()]);
        }
        var (l1, g1) = Once();
        var (l2, g2) = Once();
        Assert.Equal(l1, l2);
        Assert.Equal(g1, g2);
        Assert.True(float.IsFinite(l1));
    }

    [Fact]
    public void ATransformerBlockSliceChecksEndToEnd()
    {
        // Fused QKV, scaled causal-free attention, LayerNorm, GELU, mean pooling, cross-entropy: all gradients at once.
        var rng = new Rng(83);
        using var dev = new CpuBackend();
        using var targets = IntTensor.FromArray(dev, [1, 0], 2);
        Run(dev, x =>
        {
            var qkv = Ops.MatMul(x[0], x[1]);                                  // [2, 3, 12]
            var att = Ops.Softmax(Ops.Scale(Ops.MatMul(Ops.Slice(qkv, 2, 0, 4), Ops.Slice(qkv, 2, 4, 4), transB: true), 0.5f));
            var h = Ops.Add(x[0], Ops.MatMul(att, Ops.Slice(qkv, 2, 8, 4)));
            var y = Ops.Gelu(Ops.LayerNorm(h, x[2], x[3]));
            return Ops.CrossEntropy(Ops.MatMul(Ops.Mean(y, 1), x[4]), targets);
        },
        [In(TestData.Normal(rng, 24), 2, 3, 4), In(TestData.Normal(rng, 48, 0.5f), 4, 12), In(TestData.NonZero(rng, 4), 4),
         In(TestData.Normal(rng, 4, 0.1f), 4), In(TestData.Normal(rng, 8), 4, 2)],
        step: 1e-2, atol: 2e-3, rtol: 2e-2);
    }
}
