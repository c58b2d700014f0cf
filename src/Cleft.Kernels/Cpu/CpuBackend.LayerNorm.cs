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
            TensorPrimitives.Multiply(yi, rs, yi);
            TensorPrimitives.FusedMultiplyAdd(yi, gv.AsSpan(0, cols), bv.AsSpan(0, cols), yi);
        });
    }

    public void LayerNormBackward(DeviceBuffer<float> x, DeviceBuffer<float> gamma, DeviceBuffer<float> mean, DeviceBuffer<float> rstd,
        DeviceBuffer<float> dy, DeviceBuffer<float> dx, DeviceBuffer<float> dgamma, DeviceBuffer<float> dbeta, int rows, int cols)
    {
        float[] xv = A(x), gv = A(gamma), mv = A(mean), rv = A(rstd), dv = A(dy), ov = A(dx), dgv = A(dgamma), dbv = A(dbeta);
        // One pass over the rows for dx and the parameter gradients: dgamma / dbeta partials ([0, cols) and
        // [cols, 2 cols) of each block's sums) are taken while x and dy are in cache.
        double[] sums = BlockColumnSums(rows, 2 * cols, cols, (first, end, partial) =>
        {
            var pg = partial[..cols]; var pb = partial[cols..];
            for (int r = first; r < end; r++)
            {
                float mu = mv[r], rs = rv[r];
                double sumG = 0, sumGX = 0; // sums of g = dy*gamma and g*xhat
                int o = r * cols;
                for (int j = 0; j < cols; j++)
                {
                    float d = dv[o + j], xh = (xv[o + j] - mu) * rs, g = d * gv[j];
                    sumG += g; sumGX += g * xh;
                    pg[j] += d * (xv[o + j] - mu) * rs;
                    pb[j] += d;
                }
                float mg = (float)(sumG / cols), mgx = (float)(sumGX / cols);
                for (int j = 0; j < cols; j++)
                {
                    float xh = (xv[o + j] - mu) * rs, g = dv[o + j] * gv[j];
                    ov[o + j] = rs * (g - mg - xh * mgx);
                }
            }
        });
        for (int j = 0; j < cols; j++) { dgv[j] = (float)sums[j]; dbv[j] = (float)sums[cols + j]; }
        ArrayPool<double>.Shared.Return(sums);
    }
}
