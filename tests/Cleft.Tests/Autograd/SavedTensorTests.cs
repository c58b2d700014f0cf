using Cleft.Autograd;
using Cleft.Kernels.Cpu;

namespace Cleft.Tests.Autograd;

/// <summary>
/// PyTorch's saved-tensor semantics (Function.Save): an op keeps what its backward reads through its own storage
/// handle, so the owner may dispose an intermediate as soon as it is used; the data go back to the pool when
/// backward has run, or when the scope ends if it never does.
/// </summary>
public class SavedTensorTests
{
    static readonly float[] Values = [-1.5f, -0.25f, 0f, 0.5f, 2f, 3.25f];

    /// <summary>Reads its input in backward without saving it: the mistake Save exists to prevent.</summary>
    sealed class UnsavedSquare(Tensor x) : Function("UnsavedSquare", x)
    {
        public static Tensor Apply(Tensor x)
        {
            var y = Tensor.Empty(x.Device, x.Shape);
            x.Device.Binary(Cleft.Kernels.BinaryOp.Mul, x.Buffer, x.Buffer, y.Buffer, x.Length, Cleft.Kernels.Broadcast.Same(x.Length));
            return new UnsavedSquare(x).Attach(y);
        }

        protected override Tensor?[] Backward(Tensor g)
        {
            var dx = Tensor.Empty(g.Device, g.Shape);
            g.Device.Binary(Cleft.Kernels.BinaryOp.Mul, g.Buffer, x.Buffer, dx.Buffer, g.Length, Cleft.Kernels.Broadcast.Same(g.Length));
            return [dx];
        }
    }

    static Tensor Leaf(CpuBackend dev)
    {
        var w = Tensor.FromArray(dev, Values, Values.Length);
        w.RequiresGrad = true;
        return w;
    }

    /// <summary>loss = sum(gelu(2 w)), disposing each intermediate as soon as the next exists.</summary>
    static Tensor Forward(Tensor w, out Tensor x)
    {
        x = Ops.Scale(w, 2f);
        using var h = Ops.Gelu(x); // saves x
        return Ops.Sum(h);         // saves nothing
    }

    [Fact]
    public void SavedInputSurvivesItsOwnersDisposeAndGoesBackToThePoolWhenBackwardHasRun()
    {
        using var dev = new CpuBackend();
        using var w = Leaf(dev);
        // No scope: only the op's release after backward can give the saved data back. A first pass creates w.Grad.
        using (var first = Forward(w, out var x0)) { x0.Dispose(); first.Backward(); }
        var expected = w.Grad!.ToArray();
        long baseline = dev.Pool.LiveBytes;

        var loss = Forward(w, out var x);
        x.Dispose();
        Assert.True(x.IsDisposed);
        Assert.True(dev.Pool.LiveBytes > baseline, "the saved input went back to the pool while its op still needed it");
        loss.Backward();
        loss.Dispose();

        Assert.Equal(baseline, dev.Pool.LiveBytes);
        // The second pass accumulated the same gradient onto the first: the saved data were intact.
        var twice = w.Grad!.ToArray();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(2f * expected[i], twice[i]);
    }

    [Fact]
    public void ScopeReclaimsWhatAnOpSavedWhenBackwardNeverRuns()
    {
        using var dev = new CpuBackend();
        using var w = Leaf(dev);
        long baseline = dev.Pool.LiveBytes;
        using (new TensorScope())
        {
            Forward(w, out var x);
            x.Dispose();
        }
        Assert.Equal(baseline, dev.Pool.LiveBytes);
    }

    [Fact]
    public void AnOpThatIsNotRecordedHoldsNothing()
    {
        using var dev = new CpuBackend();
        using var w = Leaf(dev);
        long baseline = dev.Pool.LiveBytes;
        using (GradMode.NoGrad())
        {
            using var x = Ops.Scale(w, 2f);
            var h = Ops.Gelu(x);
            long withX = dev.Pool.LiveBytes;
            x.Dispose();
            Assert.True(dev.Pool.LiveBytes < withX, "an unrecorded op kept its input alive");
            h.Dispose();
        }
        Assert.Equal(baseline, dev.Pool.LiveBytes);
    }

    [Fact]
    public void ReadingAnUnsavedDisposedInputThrowsNamingTheTensorAndTheOp()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var w = Leaf(dev);
        var x = Ops.Scale(w, 2f);
        x.Name = "activations";
        var loss = Ops.Sum(UnsavedSquare.Apply(x));
        x.Dispose();
        var e = Assert.Throws<ObjectDisposedException>(() => loss.Backward());
        Assert.Contains("'activations'", e.Message);
        Assert.Contains("UnsavedSquare", e.Message);
    }
}
