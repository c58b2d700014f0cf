using ILGPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// The two shapes of <see cref="IBackend.ReduceTo"/>. View x as [outer, modulus, divisor]; y[j] sums x[:, j, :].
/// <list type="bullet">
/// <item>divisor &gt; 1 (sum of the last axis, per-row values, a scalar): each output's elements come in contiguous
/// runs of <c>divisor</c>, so one group per output walks them with consecutive threads on consecutive
/// addresses and finishes with a group reduction: <c>reduce_rows</c>.</item>
/// <item>divisor = 1 (a bias or row-vector gradient: column sums of [outer, modulus]): one group per output would
/// read with stride <c>modulus</c>; instead a warp covers a band of adjacent columns and the grid is 2-D, bands x
/// row blocks, each block writing its partial sums (<c>reduce_cols</c>, see <see cref="ColumnBlocks"/>); a second
/// launch of the same kernel with a single row block adds the partials in block order.</item>
/// </list>
/// Both are deterministic (fixed summation order, no atomics).
/// </summary>
static class ReduceKernels
{
    [Kernel("reduce_rows", KernelGrouping.Explicit)]
    static void ReduceRows(ArrayView<float> x, ArrayView<float> y, int outer, int modulus, int divisor)
    {
        int perOutput = outer * divisor;
        // The loop bound depends only on the group index, so every thread of a group takes the same trips
        // and reaches the barriers inside AllSum together.
        for (int j = Grid.IdxX; j < modulus; j += Grid.DimX)
        {
            float s = 0f;
            for (int e = Group.IdxX; e < perOutput; e += Group.DimX)
            {
                int o = e / divisor, d = e - o * divisor;
                s += x[(o * modulus + j) * divisor + d];
            }
            s = GroupReduce.AllSum(s);
            if (Group.IdxX == 0) y[j] = s;
        }
    }

    /// <summary>
    /// y[Grid.IdxY * cols + c] = sum of x[r, c] over the rows of row block Grid.IdxY (rows [IdxY * rowsPerBlock, ...)).
    /// With one row block this is the column sum itself.
    /// </summary>
    [Kernel("reduce_cols", KernelGrouping.Explicit)]
    static void ReduceCols(ArrayView<float> x, ArrayView<float> y, int rows, int cols, int rowsPerBlock)
    {
        int r0 = Grid.IdxY * rowsPerBlock, r1 = Math.Min(rows, r0 + rowsPerBlock);
        int outRow = Grid.IdxY * cols;
        for (int band = Grid.IdxX; band * Warp.WarpSize < cols; band += Grid.DimX)
        {
            int col = band * Warp.WarpSize + ColumnStrips.Lane;
            float s = 0f;
            if (col < cols)
                for (int r = r0 + ColumnStrips.Strip; r < r1; r += ColumnStrips.Strips) s += x[r * cols + col];
            s = ColumnStrips.SumStrips(s);
            if (ColumnStrips.Strip == 0 && col < cols) y[outRow + col] = s;
        }
    }
}
