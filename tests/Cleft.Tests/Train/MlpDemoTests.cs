using Cleft.Kernels;
using Cleft.Kernels.Cpu;
using Cleft.Train;

namespace Cleft.Tests.Train;

public sealed class MlpDemoTests
{
    static readonly MlpDemoOptions Small = new(Steps: 60, Batch: 64, Hidden: 32, LogEvery: 1000, Samples: 1024);

    [Fact]
    public void LossFallsAndAccuracyBeatsChance()
    {
        using var dev = new CpuBackend();
        var r = MlpDemo.Run(dev, Small with { Steps = 300 }, TextWriter.Null);
        Assert.True(r.Losses.Take(10).Average() > 1.5 * r.Losses.TakeLast(10).Average(),
            $"loss did not fall: first {r.Losses[0]}, last {r.Losses[^1]}");
        Assert.True(r.FinalAccuracy > 0.6, $"held-out accuracy {r.FinalAccuracy} is near chance (1/3)");
    }

    [Fact]
    public void SameSeedGivesIdenticalLosses()
    {
        using var d1 = new CpuBackend();
        using var d2 = new CpuBackend();
        var a = MlpDemo.Run(d1, Small, TextWriter.Null);
        var b = MlpDemo.Run(d2, Small, TextWriter.Null);
        Assert.Equal(a.Losses, b.Losses); // bit-identical, not approximately
        var c = MlpDemo.Run(d1, Small with { Seed = 43 }, TextWriter.Null);
        Assert.NotEqual(a.Losses, c.Losses);
    }

    [Fact]
    public void SteadyStateStepsAllocateNothingNew()
    {
        using var dev = new CpuBackend();
        MlpDemo.Run(dev, Small with { Steps = 3 }, TextWriter.Null);
        long after3 = dev.Pool.FreshAllocations;
        using var dev2 = new CpuBackend();
        MlpDemo.Run(dev2, Small with { Steps = 30 }, TextWriter.Null);
        Assert.Equal(after3, dev2.Pool.FreshAllocations);
    }

    [Fact]
    public void IlgpuCpuAcceleratorAgreesWithManagedBackend()
    {
        var o = new MlpDemoOptions(Steps: 6, Batch: 32, Hidden: 16, LogEvery: 1000, Samples: 256);
        using var cpu = new CpuBackend();
        using var ilgpu = Devices.Create("ilgpu-cpu");
        var a = MlpDemo.Run(cpu, o, TextWriter.Null);
        var b = MlpDemo.Run(ilgpu, o, TextWriter.Null);
        for (int i = 0; i < a.Losses.Count; i++)
            Assert.True(Math.Abs(a.Losses[i] - b.Losses[i]) <= 1e-4, $"step {i}: cpu {a.Losses[i]}, ilgpu-cpu {b.Losses[i]}");
    }
}
