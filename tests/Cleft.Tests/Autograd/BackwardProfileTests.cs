using Cleft.Autograd;
using Cleft.Kernels.Cpu;

namespace Cleft.Tests.Autograd;

public class BackwardProfileTests
{
    /// <summary>x [2, 2] that wants a gradient and a constant w [2, 2], shared by both profile tests.</summary>
    internal static (Tensor X, Tensor W) Inputs(CpuBackend dev)
    {
        var x = Tensor.FromArray(dev, [1f, -2f, 3f, 0.5f], 2, 2);
        x.RequiresGrad = true;
        return (x, Tensor.FromArray(dev, [0.5f, 2f, -1f, 1f], 2, 2));
    }

    [Fact]
    public void ChargesEachBackwardToItsOpOnlyWhileRecording()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var (x, w) = Inputs(dev);
        var profile = new BackwardProfile();

        Ops.Sum(Ops.Gelu(Ops.MatMul(x, w))).Backward();
        Assert.Empty(profile.Entries); // not recording yet

        using (profile.Record())
        {
            Ops.Sum(Ops.Gelu(Ops.MatMul(x, w))).Backward();
            Ops.Sum(Ops.MatMul(x, w)).Backward();
        }
        Ops.Sum(Ops.MatMul(x, w)).Backward(); // after the scope: not counted

        var calls = profile.Entries.ToDictionary(e => e.Op, e => e.Calls);
        Assert.Equal(2, calls["MatMul"]);
        Assert.Equal(1, calls["Gelu"]);
        Assert.Equal(2, calls["Sum"]);
        Assert.Equal(5, calls[BackwardProfile.Accumulate]);
        Assert.All(profile.Entries, e => Assert.True(e.Seconds >= 0));
        Assert.Equal(profile.Entries.Sum(e => e.Seconds), profile.TotalSeconds, 9);
    }
}

public class ForwardProfileTests
{
    [Fact]
    public void ChargesEachRecordedOpOnlyWhileRecording()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var (x, w) = BackwardProfileTests.Inputs(dev);
        var profile = new ForwardProfile();

        Ops.Gelu(Ops.MatMul(x, w));
        Assert.Empty(profile.Entries);
        using (profile.Record())
        {
            Ops.Sum(Ops.Gelu(Ops.MatMul(x, w)));
            Ops.MatMul(w, w); // no input needs a gradient: nothing recorded, nothing charged
            using (GradMode.NoGrad()) Ops.MatMul(x, w);
        }
        Ops.MatMul(x, w);

        var calls = profile.Entries.ToDictionary(e => e.Op, e => e.Calls);
        Assert.Equal(new Dictionary<string, long> { ["MatMul"] = 1, ["Gelu"] = 1, ["Sum"] = 1 }, calls);
        Assert.All(profile.Entries, e => Assert.True(e.Seconds >= 0));
    }
}
