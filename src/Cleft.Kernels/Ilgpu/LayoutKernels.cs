using ILGPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Layout copies, grid-stride over the destination so writes are coalesced (a permute's reads are gathered).
/// <see cref="PermuteArgs"/> is a fixed-size value type precisely so it can be a kernel argument.
/// </summary>
static class LayoutKernels
{
    [Kernel("permute", KernelGrouping.Explicit)]
    static void Permute(ArrayView<float> x, ArrayView<float> y, int n, PermuteArgs args)
    {
        for (int i = GridStride.Start; i < n; i += GridStride.Step) y[i] = x[SourceIndex(args, i)];
    }

    /// <summary><see cref="PermuteArgs.SourceIndex"/> in 32-bit arithmetic (the host keeps the tensor under 2^30 elements).</summary>
    static int SourceIndex(in PermuteArgs a, int i)
    {
        int r = i, src = 0;
        int c5 = r % a.O5; r /= a.O5; src += c5 * (int)a.S5;
        int c4 = r % a.O4; r /= a.O4; src += c4 * (int)a.S4;
        int c3 = r % a.O3; r /= a.O3; src += c3 * (int)a.S3;
        int c2 = r % a.O2; r /= a.O2; src += c2 * (int)a.S2;
        int c1 = r % a.O1; r /= a.O1; src += c1 * (int)a.S1;
        return src + r * (int)a.S0;
    }

    /// <summary>dst[dstOffset + r*dstStride + j] = src[srcOffset + r*srcStride + j] for r &lt; rows, j &lt; rowLength.</summary>
    [Kernel("copy_block", KernelGrouping.Explicit)]
    static void CopyBlock(ArrayView<float> src, int srcOffset, int srcStride, ArrayView<float> dst, int dstOffset,
        int dstStride, int rows, int rowLength)
    {
        int n = rows * rowLength;
        for (int i = GridStride.Start; i < n; i += GridStride.Step)
        {
            int r = i / rowLength, j = i - r * rowLength;
            dst[dstOffset + r * dstStride + j] = src[srcOffset + r * srcStride + j];
        }
    }
}
