using ILGPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>Row-wise L2 normalisation: one group (a whole number of warps) per row; reductions are the shared GroupReduce.</summary>
public static class NormalizeKernels
{
    [Kernel("l2_normalize", KernelGrouping.Explicit)]
    public static void Forward(ArrayView<float> x, ArrayView<float> y, ArrayView<float> norm, int cols, float eps)
    {
        long start = Grid.IdxX * (long)cols;
        float ss = 0f;
        for (int k = Group.IdxX; k < cols; k += Group.DimX) { float v = x[start + k]; ss += v * v; }
        float nr = MathF.Sqrt(GroupReduce.AllSum(ss));
        float inv = 1f / MathF.Max(nr, eps);
        for (int k = Group.IdxX; k < cols; k += Group.DimX) y[start + k] = x[start + k] * inv;
        if (Group.IdxX == 0) norm[Grid.IdxX] = nr;
    }

    [Kernel("l2_normalize_backward", KernelGrouping.Explicit)]
    public static void Backward(ArrayView<float> y, ArrayView<float> norm, ArrayView<float> dy, ArrayView<float> dx, int cols, float eps)
    {
        long start = Grid.IdxX * (long)cols;
        float nr = norm[Grid.IdxX];
        float dot = 0f;
        for (int k = Group.IdxX; k < cols; k += Group.DimX) dot += y[start + k] * dy[start + k];
        dot = GroupReduce.AllSum(dot);
        // Below eps the forward was x / eps, a linear map: its gradient is dy / eps.
        bool tiny = nr <= eps;
        float inv = 1f / (tiny ? eps : nr);
        for (int k = Group.IdxX; k < cols; k += Group.DimX)
            dx[start + k] = tiny ? dy[start + k] * inv : (dy[start + k] - y[start + k] * dot) * inv;
    }
}
