using Cleft.Kernels;
using Cleft.Kernels.Cpu;
using Cleft.Kernels.Ilgpu;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// One ILGPU CPU accelerator (warp 32) and one managed backend shared by every ILGPU test. The accelerator
/// runs each simulated GPU thread as an OS thread, so its tests share it and run one after another in this
/// collection rather than competing for the cores.
/// </summary>
public sealed class IlgpuFixture : IDisposable
{
    public IlgpuBackend Ilgpu { get; } = IlgpuBackend.Create(DeviceKind.IlgpuCpu);
    public CpuBackend Cpu { get; } = new();

    public void Dispose()
    {
        Ilgpu.Dispose();
        Cpu.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class IlgpuCollection : ICollectionFixture<IlgpuFixture>
{
    public const string Name = "ILGPU";
}
