using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Cleft.Kernels.Cpu;

// Column sums over row-major rows (bias, LayerScale and LayerNorm parameter gradients) without a column-strided pass,
// and LayerScale's residual add that goes with them.
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

    /// <summary>
    /// y = x + m b (b over m's columns) in one pass: each row's product, then its sum with x, while the row is in L1.
    /// Separate multiply and add, as Binary's Mul and Add round them (no fused multiply-add).
    /// </summary>
    public void AddScaledRows(DeviceBuffer<float> x, DeviceBuffer<float> m, DeviceBuffer<float> b, DeviceBuffer<float> y, int rows, int cols)
    {
        float[] xv = A(x), mv = A(m), bv = A(b), yv = A(y);
        For(rows, 2L * cols, r =>
        {
            var row = yv.AsSpan(r * cols, cols);
            TensorPrimitives.Multiply(mv.AsSpan(r * cols, cols), bv.AsSpan(0, cols), row);
            TensorPrimitives.Add(xv.AsSpan(r * cols, cols), row, row);
        });
    }

    /// <summary>
    /// Both gradients of y = a * b with b over a's columns (LayerScale) in one pass over blocks of rows: da = dy b and the
    /// float64 column sums of dy a, each product rounded to float first (the contribution BinaryGradB writes) and
    /// summed as ReduceTo sums it. Same bits as the interface's three passes, without writing and re-reading a
    /// [rows, cols] contribution. da may alias dy (each element is read before it is written).
    /// </summary>
    public void MulRowBackward(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> dy, DeviceBuffer<float>? da,
        DeviceBuffer<float> db, int rows, int cols)
    {
        float[] av = A(a), bv = A(b), gv = A(dy), dbv = A(db);
        float[]? dav = da is null ? null : A(da);
        double[] sums = BlockColumnSums(rows, cols, 3L * cols, (first, end, partial) => AddRows(gv, first, end, cols, partial, av, bv, dav));
        for (int j = 0; j < cols; j++) dbv[j] = (float)sums[j];
        ArrayPool<double>.Shared.Return(sums);
    }

    /// <summary>
    /// sums[j] += x[r, j] in float64 for rows [first, end) of a [rows, width] matrix, row after row, so each column
    /// sees exactly the additions of the plain scalar loop in the same order (bit-identical), but 16 columns at a time
    /// held in registers across the block's rows: the scalar loop converted and added one element per step and was
    /// ~3% of a cleft-step run (the ViT's bias gradients sum 6432 x 1728 floats a layer). With
    /// <paramref name="times"/>, the float products x[r, j] times[r, j] are summed instead; with
    /// <paramref name="scaled"/>, x[r, j] scale[j] is also written there (MulRowBackward's da).
    /// </summary>
    internal static void AddRows(float[] x, int first, int end, int width, Span<double> sums,
        float[]? times = null, float[]? scale = null, float[]? scaled = null)
    {
        ref float x0 = ref MemoryMarshal.GetArrayDataReference(x);
        ref double s0 = ref MemoryMarshal.GetReference(sums);
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; j + 16 <= width; j += 16)
            {
                var lo = Vector512.LoadUnsafe(ref s0, (nuint)j);
                var hi = Vector512.LoadUnsafe(ref s0, (nuint)(j + 8));
                var sj = scaled is null ? default : Vector512.Create(scale.AsSpan(j, 16));
                for (int r = first; r < end; r++)
                {
                    nuint at = (nuint)((long)r * width + j);
                    var v = Vector512.LoadUnsafe(ref x0, at);
                    if (scaled is not null) (v * sj).StoreUnsafe(ref MemoryMarshal.GetArrayDataReference(scaled), at);
                    if (times is not null) v *= Vector512.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(times), at);
                    lo += Vector512.WidenLower(v);
                    hi += Vector512.WidenUpper(v);
                }
                lo.StoreUnsafe(ref s0, (nuint)j);
                hi.StoreUnsafe(ref s0, (nuint)(j + 8));
            }
        if (Vector256.IsHardwareAccelerated)
            for (; j + 8 <= width; j += 8)
            {
                var lo = Vector256.LoadUnsafe(ref s0, (nuint)j);
                var hi = Vector256.LoadUnsafe(ref s0, (nuint)(j + 4));
                var sj = scaled is null ? default : Vector256.Create(scale.AsSpan(j, 8));
                for (int r = first; r < end; r++)
                {
                    nuint at = (nuint)((long)r * width + j);
                    var v = Vector256.LoadUnsafe(ref x0, at);
                    if (scaled is not null) (v * sj).StoreUnsafe(ref MemoryMarshal.GetArrayDataReference(scaled), at);
                    if (times is not null) v *= Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(times), at);
                    lo += Vector256.WidenLower(v);
                    hi += Vector256.WidenUpper(v);
                }
                lo.StoreUnsafe(ref s0, (nuint)j);
                hi.StoreUnsafe(ref s0, (nuint)(j + 4));
            }
        for (; j < width; j++)
        {
            double acc = sums[j];
            for (int r = first; r < end; r++)
            {
                long at = (long)r * width + j;
                float v = x[at];
                if (scaled is not null) scaled[at] = v * scale![j];
                if (times is not null) v *= times[at];
                acc += v;
            }
            sums[j] = acc;
        }
    }
}
