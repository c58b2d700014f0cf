using ILGPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// IA3's parameter gradient: each column's sum is one thread's loop over the rows in order (deterministic, no
/// atomics). LoRA's products are GEMMs (IlgpuBackend.Lora.cs) and have no kernels of their own.
/// </summary>
static class LoraKernels
{
    /// <summary>dl[j] = sum_n dy[n, j] x[n, j] (IA3's gradient); thread per column, rows in order.</summary>
    [Kernel("ia3_grad_l", KernelGrouping.Explicit)]
    static void Ia3GradL(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dl, int rows, int cols)
    {
        for (long j = GridStride.Start; j < cols; j += GridStride.Step)
        {
            float s = 0f;
            for (int n = 0; n < rows; n++) s += dy[(long)n * cols + j] * x[(long)n * cols + j];
            dl[j] = s;
        }
    }
}
