using Cleft.Tests.Ilgpu;

namespace Cleft.Tests.Cli;

/// <summary>`cleft devices --tensor-core-check`, the GPU machine's first check of the mma fragments, on the CPU emulation.</summary>
[Collection(IlgpuCollection.Name)]
public sealed class TensorCoreCheckTests
{
    [Fact]
    public void EmulatedTensorCoresAgreeWithTheManagedBackend()
    {
        var (code, output, err) = CliHarness.Run("devices", "--tensor-core-check", "--device", "ilgpu-cpu");
        Assert.True(code == 0, output + err);
        Assert.Equal(8, output.Split('\n').Count(l => l.StartsWith("ok ", StringComparison.Ordinal)));
        Assert.Contains("tensor-core check: all passed", output);
    }

    [Fact]
    public void TheManagedBackendIsRefusedWithTheReason()
    {
        var (code, _, err) = CliHarness.Run("devices", "--tensor-core-check", "--device", "cpu");
        Assert.Equal(1, code);
        Assert.Contains("needs an ILGPU device", err);
    }
}
