using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Kernels.Cpu;

namespace Cleft.Tests.Autograd;

/// <summary>The engine's contract for op authors, exercised with a Function defined outside the library.</summary>
public class CustomFunctionTests
{
    /// <summary>y = a + b for same-shape inputs, handing its incoming gradient to both parents (the contract allows it).</summary>
    sealed class SumOfTwo(Tensor a, Tensor b) : Function("SumOfTwo", a, b)
    {
        public static Tensor Apply(Tensor a, Tensor b)
        {
            var y = Tensor.Empty(a.Device, a.Shape);
            a.Device.Binary(BinaryOp.Add, a.Buffer, b.Buffer, y.Buffer, a.Length, Broadcast.Same(a.Length));
            return new SumOfTwo(a, b).Attach(y);
        }

        protected override Tensor?[] Backward(Tensor g) => [g, g];
    }

    /// <summary>y = a + b + c, handing its gradient to all three parents.</summary>
    sealed class SumOfThree(Tensor a, Tensor b, Tensor c) : Function("SumOfThree", a, b, c)
    {
        public static Tensor Apply(Tensor a, Tensor b, Tensor c)
        {
            var y = Tensor.Empty(a.Device, a.Shape);
            a.Device.Binary(BinaryOp.Add, a.Buffer, b.Buffer, y.Buffer, a.Length, Broadcast.Same(a.Length));
            a.Device.Binary(BinaryOp.Add, y.Buffer, c.Buffer, y.Buffer, a.Length, Broadcast.Same(a.Length));
            return new SumOfThree(a, b, c).Attach(y);
        }

        protected override Tensor?[] Backward(Tensor g) => [g, g, g];
    }

    static Tensor Leaf(IBackend dev, float[] data)
    {
        var t = Tensor.FromArray(dev, data, data.Length);
        t.RequiresGrad = true;
        return t;
    }

    [Fact]
    public void OneGradientHandedToTwoLeaves()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var a = Leaf(dev, [1f, 2f]); var b = Leaf(dev, [3f, 4f]);
        Ops.Sum(SumOfTwo.Apply(a, b)).Backward();
        Assert.Equal([1f, 1f], a.Grad!.ToArray());
        Assert.Equal([1f, 1f], b.Grad!.ToArray());
    }

    [Fact]
    public void OneGradientHandedToTwoIntermediatesThatAlreadyHaveGradients()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var a = Leaf(dev, [1f, 2f]); var b = Leaf(dev, [3f, 4f]);
        var x = Ops.Scale(a, 2f); var y = Ops.Scale(b, 3f);
        // x and y also feed the loss directly, so their gradients may already exist when SumOfTwo runs backward.
        var loss = Ops.Add(Ops.Add(Ops.Sum(SumOfTwo.Apply(x, y)), Ops.Sum(x)), Ops.Sum(y));
        loss.Backward();
        Assert.Equal([4f, 4f], a.Grad!.ToArray());
        Assert.Equal([6f, 6f], b.Grad!.ToArray());
    }

    [Fact]
    public void SameTensorAsBothParents()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var a = Leaf(dev, [1f, 2f]);
        var x = Ops.Scale(a, 1f);
        Ops.Sum(SumOfTwo.Apply(x, x)).Backward();
        Assert.Equal([2f, 2f], a.Grad!.ToArray());
        Ops.Sum(SumOfTwo.Apply(a, a)).Backward();
        Assert.Equal([4f, 4f], a.Grad!.ToArray());
    }

    [Fact]
    public void OneGradientToARepeatedIntermediateAndAnother()
    {
        // Parents (x, x, y): x's stored gradient is doubled in place, which must not leak into y's.
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var a = Leaf(dev, [1f, 2f]); var b = Leaf(dev, [3f, 4f]);
        var x = Ops.Scale(a, 1f); var y = Ops.Scale(b, 1f);
        Ops.Sum(SumOfThree.Apply(x, x, y)).Backward();
        Assert.Equal([2f, 2f], a.Grad!.ToArray());
        Assert.Equal([1f, 1f], b.Grad!.ToArray());
        var y2 = Ops.Scale(b, 1f); var z = Ops.Scale(a, 1f);
        Ops.Sum(SumOfThree.Apply(y2, z, y2)).Backward();
        Assert.Equal([3f, 3f], a.Grad!.ToArray());
        Assert.Equal([3f, 3f], b.Grad!.ToArray());
    }
}
