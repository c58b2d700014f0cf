using System.Numerics.Tensors;

namespace Cleft.Kernels.Cpu;

/// <summary>
/// The direct route for problems where packing does not pay: tiny GEMMs (a [64,32]x[32,3] head), skinny
/// ones (a handful of rows or columns, GEMV-like) and machines without 256-bit FMA. Each output row is
/// computed on its own, either as an axpy sweep over rows of B or as dot products with columns of B.
/// </summary>
public static partial class CpuGemm
{
    // Rows per parallel chunk, and the work below which one thread does everything.
    const int SmallRowsPerChunk = 32;
    const long SmallParallelMacs = 1L << 20;

    // Per-thread scratch: a gathered row of A and a transposed copy of B (or none). Grown, never shrunk.
    [ThreadStatic] static float[]? t_rowA;
    [ThreadStatic] static float[]? t_colsB;

    static float[] Grow(ref float[]? buf, long n)
    {
        if (buf == null || buf.LongLength < n) buf = new float[Math.Max(n, 64)];
        return buf;
    }

    static void MultiplySmall(float[] a, float[] b, float[] c, GemmShape s)
    {
        long macs = (long)s.Batch * s.M * s.N * s.K;
        int chunksPerItem = (s.M + SmallRowsPerChunk - 1) / SmallRowsPerChunk;
        long tasks = (long)s.Batch * chunksPerItem;
        // Row chunks are independent, so any schedule gives the same bits; overlapping C forces order.
        if (macs < SmallParallelMacs || tasks == 1 || COverlaps(s) || Environment.ProcessorCount == 1)
        {
            for (int bt = 0; bt < s.Batch; bt++) SmallRows(a, b, c, s, bt, 0, s.M);
            return;
        }
        SmallParallel(a, b, c, s, (int)tasks, chunksPerItem);
    }

    // Its own method: a lambda capturing the parameters above would allocate its closure on every call,
    // the serial ones included.
    static void SmallParallel(float[] a, float[] b, float[] c, GemmShape s, int tasks, int chunksPerItem)
        => CpuParallel.For(tasks, t =>
        {
            int bt = t / chunksPerItem, r0 = t % chunksPerItem * SmallRowsPerChunk;
            SmallRows(a, b, c, s, bt, r0, Math.Min(s.M, r0 + SmallRowsPerChunk));
        });

    /// <summary>Rows [r0, r1) of batch item bt.</summary>
    static void SmallRows(float[] a, float[] b, float[] c, in GemmShape s, int bt, int r0, int r1)
    {
        int m = s.M, n = s.N, k = s.K;
        long oa = bt * s.StrideA, ob = bt * s.StrideB, oc = bt * s.StrideC;
        float alpha = s.Alpha, beta = s.Beta;
        // Columns of B contiguous: rows of a transposed B as stored, or a transposed copy when N is so
        // narrow that axpy sweeps of length N would be all overhead.
        bool dots = s.TransB || n < 16;
        float[] bT = b;
        long obT = ob;
        if (dots && !s.TransB)
        {
            bT = Grow(ref t_colsB, (long)n * k);
            for (int p = 0; p < k; p++)
                for (int j = 0; j < n; j++) bT[(long)j * k + p] = b[ob + (long)p * n + j];
            obT = 0;
        }
        float[] row = Grow(ref t_rowA, k);
        for (int i = r0; i < r1; i++)
        {
            ReadOnlySpan<float> arow;
            if (s.TransA)
            {
                for (int p = 0; p < k; p++) row[p] = a[oa + (long)p * m + i];
                arow = row.AsSpan(0, k);
            }
            else arow = a.AsSpan((int)(oa + (long)i * k), k);
            var crow = c.AsSpan((int)(oc + (long)i * n), n);
            if (dots)
            {
                for (int j = 0; j < n; j++)
                {
                    float d = alpha * TensorPrimitives.Dot(arow, bT.AsSpan((int)(obT + (long)j * k), k));
                    crow[j] = beta == 0f ? d : MathF.FusedMultiplyAdd(beta, crow[j], d);
                }
            }
            else
            {
                if (beta == 0f) crow.Clear();
                else if (beta != 1f) TensorPrimitives.Multiply(crow, beta, crow);
                for (int p = 0; p < k; p++)
                    TensorPrimitives.MultiplyAdd(b.AsSpan((int)(ob + (long)p * n), n), alpha * arow[p], crow, crow);
            }
        }
    }
}
