using System.Buffers;
using System.Numerics.Tensors;

namespace Cleft.Kernels.Cpu;

// Layer norm over the last axis: forward, and dx with the dgamma / dbeta column sums in one pass.
public sealed partial class CpuBackend
{
    public void LayerNorm(DeviceBuffer<float> x, DeviceBuffer<float> gamma, DeviceBuffer<float> beta, DeviceBuffer<float> y,
        DeviceBuffer<float> mean, DeviceBuffer<float> rstd, int rows, int cols, float eps)
    {
        float[] xv = A(x), gv = A(gamma), bv = A(beta), yv = A(y), mv = A(mean), rv = A(rstd);
        For(rows, cols, r =>
        {
            var xi = xv.AsSpan(r * cols, cols); var yi = yv.AsSpan(r * cols, cols);
            float mu = TensorPrimitives.Sum(xi) / cols;
            // Two passes (mean, then squared deviations) avoid the cancellation of E[x^2] - E[x]^2.
            TensorPrimitives.Subtract(xi, mu, yi);
            float var = TensorPrimitives.Dot(yi, yi) / cols;
            float rs = 1f / MathF.Sqrt(var + eps);
            mv[r] = mu; rv[r] = rs;
            LayerNormRows.Run<LayerNormRows.Affine>(yi, gv.AsSpan(0, cols), bv.AsSpan(0, cols), default, default, default, rs, 0f, 0f);
        });
    }

    public void LayerNormBackward(DeviceBuffer<float> x, DeviceBuffer<float> gamma, DeviceBuffer<float> mean, DeviceBuffer<float> rstd,
        DeviceBuffer<float> dy, DeviceBuffer<float> dx, DeviceBuffer<float> dgamma, DeviceBuffer<float> dbeta, int rows, int cols)
    {
        float[] xv = A(x), gv = A(gamma), mv = A(mean), rv = A(rstd), dv = A(dy), ov = A(dx), dgv = A(dgamma), dbv = A(dbeta);
        // One pass over the rows for dx and the parameter gradients: dgamma / dbeta partials ([0, cols) and
        // [cols, 2 cols) of each block's sums) are taken while x and dy are in cache. Each block of rows sums in float
        // SIMD lanes and hands its partials over in float64 (a block is 32 rows, so float loses nothing that matters
        // there; across blocks the float64 sum keeps the total independent of the row count's rounding).
        double[] sums = BlockColumnSums(rows, 2 * cols, 8L * cols, (first, end, partial) =>
        {
            float[] scratch = ArrayPool<float>.Shared.Rent(4 * cols);
            var xh = scratch.AsSpan(0, cols); var g = scratch.AsSpan(cols, cols);
            var pg = scratch.AsSpan(2 * cols, cols); var pb = scratch.AsSpan(3 * cols, cols);
            pg.Clear(); pb.Clear();
            var gamma = gv.AsSpan(0, cols);
            for (int r = first; r < end; r++)
            {
                var xr = xv.AsSpan(r * cols, cols); var dr = dv.AsSpan(r * cols, cols); var outr = ov.AsSpan(r * cols, cols);
                float mu = mv[r], rs = rv[r];
                LayerNormRows.Run<LayerNormRows.Normalize>(xr, dr, gamma, xh, g, default, mu, rs, 0f); // xhat = (x - mu) rstd, g = dy gamma
                float mg = TensorPrimitives.Sum(g) / cols, mgx = TensorPrimitives.Dot(g, xh) / cols;
                // dgamma += dy xhat, dbeta += dy, dx = rstd (g - mean(g) - xhat mean(g xhat))
                LayerNormRows.Run<LayerNormRows.Gradients>(xh, dr, g, pg, pb, outr, rs, mg, mgx);
            }
            for (int j = 0; j < cols; j++) { partial[j] = pg[j]; partial[cols + j] = pb[j]; }
            ArrayPool<float>.Shared.Return(scratch);
        });
        for (int j = 0; j < cols; j++) { dgv[j] = (float)sums[j]; dbv[j] = (float)sums[cols + j]; }
        ArrayPool<double>.Shared.Return(sums);
    }
}
