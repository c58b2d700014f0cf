using System.Buffers;
using System.Numerics.Tensors;

namespace Cleft.Kernels.Cpu;

// Reductions to a broadcast operand and broadcasts from it (the Broadcast rule of IBackend).
public sealed partial class CpuBackend
{
    public void ReduceTo(DeviceBuffer<float> x, DeviceBuffer<float> y, long n, Broadcast bc)
    {
        float[] xv = A(x), yv = A(y);
        long run = bc.Divisor, period = bc.Divisor * bc.Modulus, outer = n / period;
        if (run == 1 && outer > 1)
        {
            // A bias gradient, [outer, period] summed over rows: by blocks of rows, not down each column.
            int width = (int)period;
            double[] sums = BlockColumnSums((int)outer, width, width, (first, end, partial) => AddRows(xv, first, end, width, partial));
            for (int j = 0; j < width; j++) yv[j] = (float)sums[j];
            ArrayPool<double>.Shared.Return(sums);
            return;
        }
        For(bc.Modulus, n / bc.Modulus, j =>
        {
            // Accumulate in double: sums over long rows stay close to the float64 reference.
            double acc = 0;
            for (long o = 0; o < outer; o++)
            {
                long start = o * period + j * run;
                acc += run == 1 ? xv[start] : TensorPrimitives.Sum(xv.AsSpan((int)start, (int)run));
            }
            yv[j] = (float)acc;
        });
    }

    public void BroadcastTo(DeviceBuffer<float> x, DeviceBuffer<float> y, long n, Broadcast bc)
    {
        float[] xv = A(x), yv = A(y);
        int run = (int)bc.Divisor;
        For(n / run, run, r =>
        {
            if (run == 1) yv[r] = xv[r % bc.Modulus];
            else yv.AsSpan(r * run, run).Fill(xv[r % bc.Modulus]);
        });
    }
}
