namespace Cleft.Kernels.Cpu;

/// <summary>
/// Permute on the managed backend by output rows (the last output axis): one index decomposition per row instead of
/// six divisions per element, and a block copy when the row is contiguous in the input (the permutes around attention
/// keep the head dimension last). Pure copies, so the result is bit-identical to the per-element walk.
/// </summary>
static class CpuPermute
{
    /// <summary>Rows per parallel work item: enough to amortise a task, few enough to split [B, T, H, D] evenly.</summary>
    public const int RowsPerBlock = 64;

    public static long RowLength(in PermuteArgs a) => a.O5;

    /// <summary>Writes output rows [firstRow, firstRow + rows) of y from x.</summary>
    public static void Rows(float[] x, float[] y, in PermuteArgs a, long firstRow, long rows)
    {
        long len = a.O5;
        for (long row = firstRow; row < firstRow + rows; row++)
        {
            long src = RowSource(a, row), dst = row * len;
            if (a.S5 == 1 || len == 1)
                x.AsSpan((int)src, (int)len).CopyTo(y.AsSpan((int)dst, (int)len));
            else
                for (long j = 0; j < len; j++) y[dst + j] = x[src + j * a.S5];
        }
    }

    /// <summary>Input offset of the first element of output row <paramref name="row"/> (coordinates over O0..O4).</summary>
    static long RowSource(in PermuteArgs a, long row)
    {
        long r = row, src = 0;
        long c4 = r % a.O4; r /= a.O4; src += c4 * a.S4;
        long c3 = r % a.O3; r /= a.O3; src += c3 * a.S3;
        long c2 = r % a.O2; r /= a.O2; src += c2 * a.S2;
        long c1 = r % a.O1; r /= a.O1; src += c1 * a.S1;
        return src + r * a.S0;
    }
}
