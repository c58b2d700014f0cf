using ILGPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Layout copies, grid-stride over the destination so writes are coalesced (a permute's reads are gathered).
/// <see cref="PermuteArgs"/> is a fixed-size value type precisely so it can be a kernel argument.
/// </summary>
static class LayoutKernels
{
    [Kernel("permute", KernelGrouping.Explicit)]
    static void Permute(ArrayView<float> x, ArrayView<float> y, long n, PermuteArgs args)
    {
        for (long i = GridStride.Start; i < n; i += GridStride.Step) y[i] = x[args.SourceIndex(i)];
    }

    /// <summary>dst[dstOffset + r*dstStride + j] = src[srcOffset + r*srcStride + j] for r &lt; rows, j &lt; rowLength.</summary>
    [Kernel("copy_block", KernelGrouping.Explicit)]
    static void CopyBlock(ArrayView<float> src, long srcOffset, long srcStride, ArrayView<float> dst, long dstOffset,
        long dstStride, long rows, long rowLength)
    {
        long n = rows * rowLength;
        for (long i = GridStride.Start; i < n; i += GridStride.Step)
        {
            long r = i / rowLength, j = i - r * rowLength;
            dst[dstOffset + r * dstStride + j] = src[srcOffset + r * srcStride + j];
        }
    }
}
