using ILGPU;
using ILGPU.Runtime.CPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// The one place that decides how ILGPU contexts are configured, so the kernels that run (CUDA, OpenCL, the CPU
/// accelerator) and the PTX that `cleft ptx` writes for ptxas come out of the same compiler settings.
/// </summary>
static class IlgpuSetup
{
    public static Context.Builder Configure(this Context.Builder builder) =>
        builder.EnableAlgorithms().Optimize(OptimizationLevel.O2);

    /// <summary>
    /// ILGPU's CPU accelerator shaped like an NVIDIA multiprocessor: warps of 32 (the default CPU device has
    /// warps of 4 and 16-thread groups, which would hide warp-size bugs), 8 warps, so groups of up to 256 threads,
    /// which the GEMM needs. One multiprocessor: every simulated thread is an OS thread, and more of them only
    /// make each barrier slower on a small machine.
    /// </summary>
    public static CPUDevice CpuDevice() => new(numThreadsPerWarp: 32, numWarpsPerMultiprocessor: 8, numMultiprocessors: 1);
}
