using System.Numerics.Tensors;

namespace Cleft.Kernels.Cpu;

// Row-wise softmax and log-softmax, forward and backward.
public sealed partial class CpuBackend
{
    public void Softmax(DeviceBuffer<float> x, DeviceBuffer<float> y, int rows, int cols, bool log)
    {
        float[] xv = A(x), yv = A(y);
        For(rows, cols, r =>
        {
            var xi = xv.AsSpan(r * cols, cols); var yi = yv.AsSpan(r * cols, cols);
            float max = TensorPrimitives.Max(xi);
            TensorPrimitives.Subtract(xi, max, yi);
            if (log)
            {
                float lse = MathF.Log(SumExp(yi));
                TensorPrimitives.Subtract(yi, lse, yi);
            }
            else
            {
                TensorPrimitives.Exp(yi, yi);
                TensorPrimitives.Multiply(yi, 1f / TensorPrimitives.Sum(yi), yi);
            }
        });
    }

    static float SumExp(ReadOnlySpan<float> v)
    {
        float s = 0;
        foreach (float t in v) s += MathF.Exp(t);
        return s;
    }

    public void SoftmaxBackward(DeviceBuffer<float> y, DeviceBuffer<float> dy, DeviceBuffer<float> dx, int rows, int cols, bool log)
    {
        float[] yv = A(y), dv = A(dy), ov = A(dx);
        For(rows, cols, r =>
        {
            var yi = yv.AsSpan(r * cols, cols); var di = dv.AsSpan(r * cols, cols); var oi = ov.AsSpan(r * cols, cols);
            if (log)
            {
                float s = TensorPrimitives.Sum(di);
                for (int j = 0; j < cols; j++) oi[j] = di[j] - MathF.Exp(yi[j]) * s;
            }
            else
            {
                float dot = TensorPrimitives.Dot(di, yi);
                for (int j = 0; j < cols; j++) oi[j] = yi[j] * (di[j] - dot);
            }
        });
    }
}
