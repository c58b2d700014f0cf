using ILGPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Layer norm over the last axis of [rows, cols].
/// <list type="bullet">
/// <item>Forward and the dx part of backward: one group per row with group reductions. The variance is a second
/// pass over (x - mean)^2, as in the managed backend, to avoid the cancellation of E[x^2] - E[x]^2.</item>
/// <item>dgamma and dbeta are sums over rows, i.e. column reductions: a separate kernel with the
/// <see cref="ColumnStrips"/> layout (warp-wide column bands, coalesced) on a 2-D grid of bands x row blocks
/// writing partials, which <c>reduce_cols</c> then adds in block order (<see cref="ColumnBlocks"/>; deterministic).</item>
/// </list>
/// </summary>
static class LayerNormKernels
{
    [Kernel("layernorm", KernelGrouping.Explicit)]
    static void LayerNorm(ArrayView<float> x, ArrayView<float> gamma, ArrayView<float> beta, ArrayView<float> y,
        ArrayView<float> mean, ArrayView<float> rstd, int rows, int cols, float eps)
    {
        for (int r = Grid.IdxX; r < rows; r += Grid.DimX)
        {
            long o = (long)r * cols;
            float s = 0f;
            for (int j = Group.IdxX; j < cols; j += Group.DimX) s += x[o + j];
            float mu = GroupReduce.AllSum(s) / cols;

            float sq = 0f;
            for (int j = Group.IdxX; j < cols; j += Group.DimX) { float d = x[o + j] - mu; sq += d * d; }
            float rs = 1f / MathF.Sqrt(GroupReduce.AllSum(sq) / cols + eps);

            for (int j = Group.IdxX; j < cols; j += Group.DimX) y[o + j] = (x[o + j] - mu) * rs * gamma[j] + beta[j];
            if (Group.IdxX == 0) { mean[r] = mu; rstd[r] = rs; }
        }
    }

    /// <summary>dx = rstd (g - mean(g) - xhat mean(g xhat)) with g = dy gamma.</summary>
    [Kernel("layernorm_backward", KernelGrouping.Explicit)]
    static void LayerNormBackward(ArrayView<float> x, ArrayView<float> gamma, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> dy, ArrayView<float> dx, int rows, int cols)
    {
        for (int r = Grid.IdxX; r < rows; r += Grid.DimX)
        {
            long o = (long)r * cols;
            float mu = mean[r], rs = rstd[r];
            float sg = 0f, sgx = 0f;
            for (int j = Group.IdxX; j < cols; j += Group.DimX)
            {
                float g = dy[o + j] * gamma[j];
                sg += g;
                sgx += g * (x[o + j] - mu) * rs;
            }
            float mg = GroupReduce.AllSum(sg) / cols;
            float mgx = GroupReduce.AllSum(sgx) / cols;
            for (int j = Group.IdxX; j < cols; j += Group.DimX)
            {
                float xh = (x[o + j] - mu) * rs;
                dx[o + j] = rs * (dy[o + j] * gamma[j] - mg - xh * mgx);
            }
        }
    }

    /// <summary>
    /// Partial dgamma[j] = sum_r dy[r, j] xhat[r, j] and dbeta[j] = sum_r dy[r, j] over the rows of row block Grid.IdxY,
    /// written to row Grid.IdxY of dgamma and dbeta (overwritten, not accumulated); with one row block, the sums.
    /// </summary>
    [Kernel("layernorm_param_grad", KernelGrouping.Explicit)]
    static void LayerNormParamGrad(ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> dy,
        ArrayView<float> dgamma, ArrayView<float> dbeta, int rows, int cols, int rowsPerBlock)
    {
        int r0 = Grid.IdxY * rowsPerBlock, r1 = Math.Min(rows, r0 + rowsPerBlock);
        int outRow = Grid.IdxY * cols;
        for (int band = Grid.IdxX; band * Warp.WarpSize < cols; band += Grid.DimX)
        {
            int col = band * Warp.WarpSize + ColumnStrips.Lane;
            float sg = 0f, sb = 0f;
            if (col < cols)
                for (int r = r0 + ColumnStrips.Strip; r < r1; r += ColumnStrips.Strips)
                {
                    int at = r * cols + col;
                    float d = dy[at];
                    sg += d * (x[at] - mean[r]) * rstd[r];
                    sb += d;
                }
            sg = ColumnStrips.SumStrips(sg);
            sb = ColumnStrips.SumStrips(sb);
            if (ColumnStrips.Strip == 0 && col < cols) { dgamma[outRow + col] = sg; dbeta[outRow + col] = sb; }
        }
    }
}
