using ILGPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Row softmax / log-softmax over [rows, cols]: one group per row (grid-stride over rows), threads stride the
/// row so each warp reads contiguous memory, and the row statistics come from <see cref="GroupReduce"/>.
/// The max is subtracted before exponentiating so large logits cannot overflow.
/// </summary>
static class SoftmaxKernels
{
    [Kernel("softmax", KernelGrouping.Explicit)]
    static void Softmax(ArrayView<float> x, ArrayView<float> y, int rows, int cols, int log)
    {
        for (int r = Grid.IdxX; r < rows; r += Grid.DimX)
        {
            long o = (long)r * cols;
            var stats = GroupReduce.RowMaxSumExp(x, o, cols);
            float max = stats.Max, sum = stats.SumExp;

            if (log != 0)
            {
                float shift = max + MathF.Log(sum);
                for (int j = Group.IdxX; j < cols; j += Group.DimX) y[o + j] = x[o + j] - shift;
            }
            else
            {
                float inv = 1f / sum;
                for (int j = Group.IdxX; j < cols; j += Group.DimX) y[o + j] = MathF.Exp(x[o + j] - max) * inv;
            }
        }
    }

    /// <summary>softmax: dx = y (dy - sum(dy y)); log-softmax: dx = dy - exp(y) sum(dy).</summary>
    [Kernel("softmax_backward", KernelGrouping.Explicit)]
    static void SoftmaxBackward(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx, int rows, int cols, int log)
    {
        for (int r = Grid.IdxX; r < rows; r += Grid.DimX)
        {
            long o = (long)r * cols;
            float s = 0f;
            for (int j = Group.IdxX; j < cols; j += Group.DimX) s += log != 0 ? dy[o + j] : dy[o + j] * y[o + j];
            s = GroupReduce.AllSum(s);
            for (int j = Group.IdxX; j < cols; j += Group.DimX)
                dx[o + j] = log != 0 ? dy[o + j] - MathF.Exp(y[o + j]) * s : y[o + j] * (dy[o + j] - s);
        }
    }
}
