using ILGPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// LoRA's low-rank path and IA3's parameter gradient (semantics in IBackend.Lora.cs). The rank r is small (8), so
/// each output is one thread's dot product in a fixed order: deterministic, no atomics, no shared memory. Dropout
/// is recomputed from (seed, index) with <see cref="CounterRng"/> wherever x or its gradient is touched, so the
/// dropped x is never stored. Grid-stride loops with consecutive threads on consecutive columns keep the reads
/// of x, dx and A coalesced.
/// </summary>
static class LoraKernels
{
    /// <summary>t[n, k] = sum_i drop(x[n, i]) a[k, i]; thread per (n, k), k fastest (the x row is shared by r threads).</summary>
    [Kernel("lora_down", KernelGrouping.Explicit)]
    static void LoraDown(ArrayView<float> x, ArrayView<float> a, ArrayView<float> t, int rows, int inFeatures, int rank, float p, ulong seed)
    {
        long total = (long)rows * rank;
        for (long o = GridStride.Start; o < total; o += GridStride.Step)
        {
            long n = o / rank;
            int k = (int)(o - n * rank);
            long xRow = n * inFeatures, aRow = (long)k * inFeatures;
            float s = 0f;
            for (int i = 0; i < inFeatures; i++)
                s += CounterRng.DropoutValue(x[xRow + i], p, seed, xRow + i) * a[aRow + i];
            t[o] = s;
        }
    }

    /// <summary>da[k, i] = sum_n dt[n, k] drop(x[n, i]); thread per (k, i), i fastest.</summary>
    [Kernel("lora_grad_a", KernelGrouping.Explicit)]
    static void LoraGradA(ArrayView<float> x, ArrayView<float> dt, ArrayView<float> da, int rows, int inFeatures, int rank, float p, ulong seed)
    {
        long total = (long)rank * inFeatures;
        for (long o = GridStride.Start; o < total; o += GridStride.Step)
        {
            int k = (int)(o / inFeatures);
            long i = o - (long)k * inFeatures;
            float s = 0f;
            for (int n = 0; n < rows; n++)
            {
                long at = (long)n * inFeatures + i;
                s += dt[(long)n * rank + k] * CounterRng.DropoutValue(x[at], p, seed, at);
            }
            da[o] = s;
        }
    }

    /// <summary>dx[n, i] += drop(sum_k dt[n, k] a[k, i]) with the forward's mask; thread per (n, i), i fastest.</summary>
    [Kernel("lora_grad_x", KernelGrouping.Explicit)]
    static void LoraGradX(ArrayView<float> a, ArrayView<float> dt, ArrayView<float> dx, int rows, int inFeatures, int rank, float p, ulong seed)
    {
        long total = (long)rows * inFeatures;
        for (long o = GridStride.Start; o < total; o += GridStride.Step)
        {
            long n = o / inFeatures, i = o - n * inFeatures;
            float u = 0f;
            for (int k = 0; k < rank; k++) u += dt[n * rank + k] * a[(long)k * inFeatures + i];
            dx[o] += CounterRng.DropoutValue(u, p, seed, o);
        }
    }

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
