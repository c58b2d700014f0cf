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
    /// <paramref name="precision"/> null (auto): bf16 on CUDA (tensor cores), fp32 everywhere else. The managed CPU
    /// backend computes in fp32 only and refuses bf16.
    /// </summary>
    public static IBackend Create(string name, Precision? precision = null)
    {
        string device = name.ToLowerInvariant();
        if (device == "auto") device = IlgpuBackend.CudaAvailable() ? "cuda" : "cpu";
        return device switch
        {
            "cpu" => precision == Precision.Bf16
                ? throw new ArgumentException("precision bf16 needs an ILGPU device (cuda, or ilgpu-cpu to check it on the CPU); the managed cpu backend computes in fp32")
                : new CpuBackend(),
            "cuda" => IlgpuBackend.Create(DeviceKind.Cuda, precision ?? Precision.Bf16),
            "opencl" => IlgpuBackend.Create(DeviceKind.OpenCL, precision ?? Precision.Fp32),
            "ilgpu-cpu" => IlgpuBackend.Create(DeviceKind.IlgpuCpu, precision ?? Precision.Fp32),
            _ => throw new ArgumentException($"unknown device '{name}'; expected one of: {string.Join(", ", Names)}"),
        };
    }
}
