using ILGPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Embedding lookup and its gradient, grid-stride over the [count, dim] output so a warp moves contiguous
/// pieces of a row. The backward is a scatter-add: several tokens may share an id, so rows are accumulated
/// with atomic adds (the summation order across tokens is therefore not fixed; the managed backend's is).
/// </summary>
static class EmbeddingKernels
{
    [Kernel("embedding_forward", KernelGrouping.Explicit)]
    static void EmbeddingForward(ArrayView<float> weight, ArrayView<int> ids, ArrayView<float> y, int count, int dim)
    {
        int n = count * dim;
        for (int i = GridStride.Start; i < n; i += GridStride.Step)
        {
            int t = i / dim, d = i - t * dim;
            y[i] = weight[ids[t] * dim + d];
        }
    }

    [Kernel("embedding_backward", KernelGrouping.Explicit)]
    static void EmbeddingBackward(ArrayView<float> dy, ArrayView<int> ids, ArrayView<float> dweight, int count, int dim)
    {
        int n = count * dim;
        for (int i = GridStride.Start; i < n; i += GridStride.Step)
        {
            int t = i / dim, d = i - t * dim;
            Atomic.Add(ref dweight[ids[t] * dim + d], dy[i]);
        }
    }
}
