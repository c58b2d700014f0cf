using System.Numerics.Tensors;

namespace Cleft.Kernels.Cpu;

// Layer norm over the last axis: forward, dx, and the dgamma / dbeta column sums.
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
        For(rows, cols, r =>
        {
            float mu = mv[r], rs = rv[r];
            double sumG = 0, sumGX = 0; // sums of g = dy*gamma and g*xhat
            int o = r * cols;
            for (int j = 0; j < cols; j++)
            {
                float xh = (xv[o + j] - mu) * rs, g = dv[o + j] * gv[j];
                sumG += g; sumGX += g * xh;
            }
            float mg = (float)(sumG / cols), mgx = (float)(sumGX / cols);
            for (int j = 0; j < cols; j++)
            {
                float xh = (xv[o + j] - mu) * rs, g = dv[o + j] * gv[j];
                ov[o + j] = rs * (g - mg - xh * mgx);
            }
        });
        // Column sums over rows, parallel over columns so each output has one writer.
        For(cols, rows, j =>
        {
            double sg = 0, sb = 0;
            for (int r = 0; r < rows; r++)
            {
                float d = dv[r * cols + j];
                sg += d * (xv[r * cols + j] - mv[r]) * rv[r];
                sb += d;
            }
            dgv[j] = (float)sg; dbv[j] = (float)sb;
        });
    }
}
