using Cleft.Kernels.Cpu;
using Cleft.Kernels.Ilgpu;

namespace Cleft.Kernels;

/// <summary>Turns a --device name into a backend.</summary>
public static class Devices
{
    public static readonly string[] Names = ["auto", "cuda", "opencl", "cpu", "ilgpu-cpu"];

    /// <summary>
    /// auto: CUDA when a CUDA device is present, else the managed CPU backend (never the ILGPU CPU
    /// accelerator, which is a correctness oracle and far too slow to train on).
    /// cuda / opencl throw a clear <see cref="InvalidOperationException"/> when the device is absent.
    /// </summary>
    public static IBackend Create(string name) => name.ToLowerInvariant() switch
    {
        "auto" => IlgpuBackend.CudaAvailable() ? IlgpuBackend.Create(DeviceKind.Cuda) : new CpuBackend(),
        "cpu" => new CpuBackend(),
        "cuda" => IlgpuBackend.Create(DeviceKind.Cuda),
        "opencl" => IlgpuBackend.Create(DeviceKind.OpenCL),
        "ilgpu-cpu" => IlgpuBackend.Create(DeviceKind.IlgpuCpu),
        _ => throw new ArgumentException($"unknown device '{name}'; expected one of: {string.Join(", ", Names)}"),
    };
}
