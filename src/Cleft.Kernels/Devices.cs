using Cleft.Kernels.Cpu;

namespace Cleft.Kernels;

/// <summary>Turns a --device name into a backend.</summary>
public static class Devices
{
    public static readonly string[] Names = ["auto", "cuda", "opencl", "cpu", "ilgpu-cpu"];

    /// <summary>
    /// auto: CUDA when a CUDA device is present, else the managed CPU backend (never the ILGPU CPU
    /// accelerator, which is a correctness oracle and far too slow to train on).
    /// </summary>
    public static IBackend Create(string name) => name.ToLowerInvariant() switch
    {
        "auto" => new CpuBackend(), // TODO(ilgpu backend): CUDA when present
        "cpu" => new CpuBackend(),
        _ => throw new ArgumentException($"unknown device '{name}'; expected one of: {string.Join(", ", Names)}"),
    };
}
