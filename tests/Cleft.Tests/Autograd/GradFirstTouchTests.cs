using Cleft.Autograd;
using Cleft.Kernels.Cpu;

namespace Cleft.Tests.Autograd;

/// <summary>
/// Parameter.ZeroGrad only marks the gradient zero; the engine's first accumulation of the next backward overwrites
/// it, later ones add, and reading Grad while it is marked gives zeros. Exact comparisons: 0 + g is g.
/// </summary>
public sealed class GradFirstTouchTests
{
    static readonly float[] W = [0.5f, -1.25f, 3f, 0.1f], V = [2f, 0.75f, -0.5f, 1.5f];

    static void Backward(CpuBackend dev, Parameter p, params float[][] weights)
    {
        using var scope = new TensorScope();
        Tensor? loss = null;
        // Each weight is one more edge into p, so the second and later ones accumulate onto the first.
        foreach (var w in weights)
        {
            var term = Ops.Sum(Ops.Mul(p, Tensor.FromArray(dev, w, w.Length)));
            loss = loss is null ? term : Ops.Add(loss, term);
        }
        loss!.Backward();
    }

    [Fact]
    public void ReadingAZeroedGradGivesZeros()
    {
        using var dev = new CpuBackend();
        using var p = new Parameter(dev, [1f, 2f, 3f, 4f], 4);
        Backward(dev, p, W);
        Assert.Equal(W, p.Grad!.ToArray());
        p.ZeroGrad();
        Assert.Equal(new float[4], p.Grad!.ToArray());
    }

    [Fact]
    public void FirstBackwardAfterZeroGradOverwritesAndLaterEdgesAdd()
    {
        using var dev = new CpuBackend();
        using var p = new Parameter(dev, [1f, 2f, 3f, 4f], 4);
        Backward(dev, p, W, V);
        p.ZeroGrad();
        Backward(dev, p, V);
        Assert.Equal(V, p.Grad!.ToArray()); // not W + 2V: the stale values were never added to
        p.ZeroGrad();
        Backward(dev, p, W, V);
        Assert.Equal(W.Select((w, i) => w + V[i]).ToArray(), p.Grad!.ToArray());
        // Without ZeroGrad in between, backward accumulates as before.
        Backward(dev, p, W);
        Assert.Equal(W.Select((w, i) => w + V[i] + w).ToArray(), p.Grad!.ToArray());
    }
}
