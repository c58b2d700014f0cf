using System.Numerics.Tensors;

namespace Cleft.Kernels.Cpu;

/// <summary>
/// Similarity losses on the host. The logits matrix is formed by the blocked GEMM (it is what backward needs,
/// and n x m is small next to the embeddings' producers); the softmax statistics and the gradient matrix are
/// computed row-block by row-block, each output written by one thread, so results are deterministic.
/// </summary>
public sealed partial class CpuBackend
{
    public void L2Normalize(DeviceBuffer<float> x, DeviceBuffer<float> y, DeviceBuffer<float> norm, int rows, int cols, float eps)
    {
        float[] xv = A(x), yv = A(y), nv = A(norm);
        For(rows, cols, r =>
        {
            var xi = xv.AsSpan(r * cols, cols);
            float nr = TensorPrimitives.Norm(xi);
            nv[r] = nr;
            TensorPrimitives.Multiply(xi, 1f / MathF.Max(nr, eps), yv.AsSpan(r * cols, cols));
        });
    }

    public void L2NormalizeBackward(DeviceBuffer<float> y, DeviceBuffer<float> norm, DeviceBuffer<float> dy, DeviceBuffer<float> dx, int rows, int cols, float eps)
    {
        float[] yv = A(y), nv = A(norm), dv = A(dy), ov = A(dx);
        For(rows, cols, r =>
        {
            var yi = yv.AsSpan(r * cols, cols); var di = dv.AsSpan(r * cols, cols); var oi = ov.AsSpan(r * cols, cols);
            float nr = nv[r];
            if (nr <= eps) { TensorPrimitives.Multiply(di, 1f / eps, oi); return; }
            // dx = (dy - y (y . dy)) / norm, the Jacobian of x / ||x|| applied to dy.
            float dot = TensorPrimitives.Dot(yi, di);
            TensorPrimitives.MultiplyAdd(yi, -dot, di, oi);
            TensorPrimitives.Multiply(oi, 1f / nr, oi);
        });
    }

    public void SimilarityLossForward(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> scale, DeviceBuffer<int>? labels,
        DeviceBuffer<float> logits, DeviceBuffer<float> rowLse, DeviceBuffer<float> colLse, DeviceBuffer<float> loss, in SimilarityLoss s)
    {
        float t = MathF.Exp(A(scale)[0]);
        float[] L = A(logits), rl = A(rowLse);
        int n = s.N, m = s.M;
        CpuGemm.Multiply(A(a), A(b), L, GemmShape.Contiguous(1, n, m, s.D, transB: true, alpha: t));
        int[]? lab = s.Diagonal ? null : I(labels!);
        var rowTerm = new double[n];
        For(n, m, i =>
        {
            var row = L.AsSpan(i * m, m);
            rl[i] = LogSumExp(row);
            rowTerm[i] = rl[i] - row[lab is null ? i : lab[i]];
        });
        double total = Sum(rowTerm) / n;
        if (s.Symmetric)
        {
            float[] cl = A(colLse);
            ColumnLogSumExp(L, n, m, cl);
            double colTotal = 0;
            for (int j = 0; j < m; j++) colTotal += cl[j] - L[j * m + j];
            total += colTotal / m;
        }
        A(loss)[0] = (float)(s.Weight * total);
    }

    public void SimilarityLossBackward(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> scale, DeviceBuffer<int>? labels,
        DeviceBuffer<float> logits, DeviceBuffer<float> rowLse, DeviceBuffer<float> colLse, DeviceBuffer<float> dloss,
        DeviceBuffer<float> da, DeviceBuffer<float> db, DeviceBuffer<float> dscale, in SimilarityLoss s)
    {
        float t = MathF.Exp(A(scale)[0]);
        int n = s.N, m = s.M;
        float[] L = A(logits), rl = A(rowLse), cl = s.Symmetric ? A(colLse) : [];
        int[]? lab = s.Diagonal ? null : I(labels!);
        float g0 = A(dloss)[0] * s.Weight;
        float cr = g0 / n, cc = s.Symmetric ? g0 / m : 0f;
        var gbuf = Allocate<float>((long)n * m);
        try
        {
            float[] G = A(gbuf);
            var partial = new double[n];
            bool symmetric = s.Symmetric;
            For(n, 4L * m, i =>
            {
                var li = L.AsSpan(i * m, m); var gi = G.AsSpan(i * m, m);
                // G[i, j] = cr (softmax_row - onehot) + cc (softmax_col - onehot): the two CE directions.
                TensorPrimitives.Subtract(li, rl[i], gi);
                TensorPrimitives.Exp(gi, gi);
                TensorPrimitives.Multiply(gi, cr, gi);
                if (symmetric)
                {
                    Span<float> tmp = m <= 4096 ? stackalloc float[m] : new float[m];
                    TensorPrimitives.Subtract(li, cl.AsSpan(0, m), tmp);
                    TensorPrimitives.Exp(tmp, tmp);
                    TensorPrimitives.MultiplyAdd(tmp, cc, gi, gi);
                    gi[i] -= cc;
                }
                gi[lab is null ? i : lab[i]] -= cr;
                partial[i] = TensorPrimitives.Dot(gi, li);
            });
            A(dscale)[0] = (float)Sum(partial);
            CpuGemm.Multiply(G, A(b), A(da), GemmShape.Contiguous(1, n, s.D, m, alpha: t));
            CpuGemm.Multiply(G, A(a), A(db), GemmShape.Contiguous(1, m, s.D, n, transA: true, alpha: t));
        }
        finally { Release(gbuf); }
    }

    static float LogSumExp(ReadOnlySpan<float> row)
    {
        float max = TensorPrimitives.Max(row);
        double sum = 0;
        foreach (float v in row) sum += MathF.Exp(v - max);
        return max + (float)Math.Log(sum);
    }

    // Fixed serial order over the partial sums, so the total does not depend on thread scheduling.
    static double Sum(double[] v) { double s = 0; foreach (double x in v) s += x; return s; }

    /// <summary>
    /// Column log-sum-exp over a row-major [n, m] matrix without a transpose: each thread owns a block of
    /// columns and walks the rows, so every access is a contiguous run and every output has one writer.
    /// </summary>
    static void ColumnLogSumExp(float[] L, int n, int m, float[] lse)
    {
        const int block = 256;
        int blocks = (m + block - 1) / block;
        For(blocks, (long)n * block, c =>
        {
            int j0 = c * block, w = Math.Min(block, m - j0);
            Span<float> max = stackalloc float[w];
            Span<float> sum = stackalloc float[w];
            Span<float> tmp = stackalloc float[w];
            L.AsSpan(j0, w).CopyTo(max);
            for (int i = 1; i < n; i++) TensorPrimitives.Max(max, L.AsSpan(i * m + j0, w), max);
            sum.Clear();
            for (int i = 0; i < n; i++)
            {
                TensorPrimitives.Subtract(L.AsSpan(i * m + j0, w), max, tmp);
                TensorPrimitives.Exp(tmp, tmp);
                TensorPrimitives.Add(sum, tmp, sum);
            }
            for (int j = 0; j < w; j++) lse[j0 + j] = max[j] + MathF.Log(sum[j]);
        });
    }
}
