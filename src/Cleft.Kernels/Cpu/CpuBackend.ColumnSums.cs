using System.Buffers;
using System.Numerics.Tensors;

namespace Cleft.Kernels.Cpu;

// Column sums over row-major rows (bias and LayerNorm parameter gradients) without a column-strided pass.
public sealed partial class CpuBackend
{
    /// <summary>Accumulates rows [firstRow, endRow) into <paramref name="sums"/> (one block's partials, zeroed).</summary>
    delegate void RowBlockSums(int firstRow, int endRow, Span<double> sums);

    // Rows per block: the blocks (not the threads) fix the order of the sums, so results do not depend on scheduling.
    const int ColumnSumRowsPerBlock = 32;

    /// <summary>
    /// Per-column float64 sums over <paramref name="rows"/>: parallel over fixed blocks of rows, each summing its own
    /// partials while the rows are in cache, then the partials added in block order. Walking a column down all rows
    /// instead touches a new cache line per element. Returns a rented array whose first <paramref name="width"/>
    /// entries are the sums; give it back to ArrayPool&lt;double&gt;.Shared.
    /// </summary>
    static double[] BlockColumnSums(int rows, int width, long workPerRow, RowBlockSums body)
    {
        int blocks = Math.Max(1, (rows + ColumnSumRowsPerBlock - 1) / ColumnSumRowsPerBlock);
        double[] partial = ArrayPool<double>.Shared.Rent(blocks * width);
        For(blocks, ColumnSumRowsPerBlock * workPerRow, b =>
        {
            var sums = partial.AsSpan(b * width, width);
            sums.Clear();
            body(b * ColumnSumRowsPerBlock, Math.Min(rows, (b + 1) * ColumnSumRowsPerBlock), sums);
        });
        var total = partial.AsSpan(0, width);
        for (int b = 1; b < blocks; b++) TensorPrimitives.Add(total, partial.AsSpan(b * width, width), total);
        return partial;
    }
}
