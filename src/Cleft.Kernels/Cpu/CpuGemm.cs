using System.Numerics.Tensors;

namespace Cleft.Kernels.Cpu;

public static partial class CpuGemm
{
    /// <summary>C = alpha op(A) op(B) + beta C over the batch. Row-parallel: each output row is an axpy sweep over B.</summary>
    public static void Multiply(float[] a, float[] b, float[] c, in GemmShape s)
    {
        var sh = s;
        Parallel.For(0, s.Batch * s.M, () => (acc: new float[sh.N], arow: new float[sh.K]), (row, _, scratch) =>
        {
            int bt = row / sh.M, i = row % sh.M;
            long oa = bt * sh.StrideA, ob = bt * sh.StrideB, oc = bt * sh.StrideC + (long)i * sh.N;
            var acc = scratch.acc.AsSpan();
            var arow = scratch.arow.AsSpan();
            for (int p = 0; p < sh.K; p++) arow[p] = sh.TransA ? a[oa + (long)p * sh.M + i] : a[oa + (long)i * sh.K + p];
            if (!sh.TransB)
            {
                acc.Clear();
                for (int p = 0; p < sh.K; p++)
                    TensorPrimitives.MultiplyAdd(b.AsSpan((int)(ob + (long)p * sh.N), sh.N), arow[p], acc, acc);
            }
            else
            {
                for (int j = 0; j < sh.N; j++) acc[j] = TensorPrimitives.Dot(arow, b.AsSpan((int)(ob + (long)j * sh.K), sh.K));
            }
            var crow = c.AsSpan((int)oc, sh.N);
            if (sh.Beta == 0f) TensorPrimitives.Multiply(acc, sh.Alpha, crow);
            else { TensorPrimitives.Multiply(crow, sh.Beta, crow); TensorPrimitives.MultiplyAdd(acc, sh.Alpha, crow, crow); }
            return scratch;
        }, _ => { });
    }
}
