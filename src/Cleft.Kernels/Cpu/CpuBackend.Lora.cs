using System.Numerics.Tensors;
using Half = ILGPU.Half;

namespace Cleft.Kernels.Cpu;

/// <summary>Managed LoRA / IA3 / fp16-weight ops; see IBackend.Lora.cs for their exact semantics.</summary>
public sealed partial class CpuBackend
{
    // Columns per task in the column-sum loops (gradients of lora_A and of IA3's l): one writer per column.
    const int ColumnChunk = 256;

    // A dropped row of x (or a chunk of one), per thread: the dropout is applied on the fly, never stored.
    [ThreadStatic] static float[]? t_row;

    static Span<float> Row(int n) => (t_row is { } r && r.Length >= n ? r : t_row = new float[Math.Max(n, 64)]).AsSpan(0, n);

    /// <summary>Elements [start, start + dst.Length) of x after dropout (x itself when p = 0).</summary>
    static ReadOnlySpan<float> Dropped(float[] x, long start, Span<float> dst, float p, ulong seed)
    {
        if (p == 0f) return x.AsSpan((int)start, dst.Length);
        CpuDropout.Apply(x.AsSpan((int)start, dst.Length), dst, p, seed, start);
        return dst;
    }

    public void GemmHalfB(DeviceBuffer<float> a, DeviceBuffer<Half> b, DeviceBuffer<float> c, in GemmShape shape)
        => CpuGemm.MultiplyHalfB(A(a), Own(b).Array, A(c), shape);

    public void GemmHalfBBias(DeviceBuffer<float> a, DeviceBuffer<Half> b, DeviceBuffer<float> bias, DeviceBuffer<float> c, in GemmShape shape)
        => CpuGemm.MultiplyHalfB(A(a), Own(b).Array, A(c), shape, A(bias));

    public void LoraDown(DeviceBuffer<float> x, DeviceBuffer<float> a, DeviceBuffer<float> t, int rows, int inFeatures, int rank, float p, ulong seed)
    {
        float[] xv = A(x), av = A(a), tv = A(t);
        For(rows, (long)inFeatures * rank, n =>
        {
            var row = Dropped(xv, (long)n * inFeatures, Row(inFeatures), p, seed);
            for (int k = 0; k < rank; k++)
                tv[(long)n * rank + k] = TensorPrimitives.Dot(row, av.AsSpan(k * inFeatures, inFeatures));
        });
    }

    public void LoraGradA(DeviceBuffer<float> x, DeviceBuffer<float> dt, DeviceBuffer<float> da, int rows, int inFeatures, int rank, float p, ulong seed)
    {
        float[] xv = A(x), dv = A(dt), gv = A(da);
        int chunks = (inFeatures + ColumnChunk - 1) / ColumnChunk;
        For(chunks, (long)rows * rank * ColumnChunk, c =>
        {
            int i0 = c * ColumnChunk, len = Math.Min(ColumnChunk, inFeatures - i0);
            for (int k = 0; k < rank; k++) gv.AsSpan(k * inFeatures + i0, len).Clear();
            // Rows in order for every column: the sum order is fixed whatever the chunking.
            for (int n = 0; n < rows; n++)
            {
                var seg = Dropped(xv, (long)n * inFeatures + i0, Row(len), p, seed);
                for (int k = 0; k < rank; k++)
                {
                    var g = gv.AsSpan(k * inFeatures + i0, len);
                    TensorPrimitives.MultiplyAdd(seg, dv[(long)n * rank + k], g, g);
                }
            }
        });
    }

    public void LoraGradX(DeviceBuffer<float> a, DeviceBuffer<float> dt, DeviceBuffer<float> dx, int rows, int inFeatures, int rank, float p, ulong seed)
    {
        float[] av = A(a), dv = A(dt), xv = A(dx);
        For(rows, (long)inFeatures * rank, n =>
        {
            var u = Row(inFeatures);
            u.Clear();
            for (int k = 0; k < rank; k++)
                TensorPrimitives.MultiplyAdd(av.AsSpan(k * inFeatures, inFeatures), dv[(long)n * rank + k], u, u);
            long start = (long)n * inFeatures;
            var d = xv.AsSpan((int)start, inFeatures);
            if (p == 0f) { TensorPrimitives.Add(d, u, d); return; }
            // Dropout is linear with a fixed mask: its backward is the forward rule applied to the gradient.
            CpuDropout.Apply(u, u, p, seed, start);
            TensorPrimitives.Add(d, u, d);
        });
    }

    public void Ia3Backward(DeviceBuffer<float> x, DeviceBuffer<float> l, DeviceBuffer<float> dy, DeviceBuffer<float> dx,
        DeviceBuffer<float> dl, int rows, int cols)
    {
        float[] xv = A(x), lv = A(l), gv = A(dy), ov = A(dx), sv = A(dl);
        // dl first: dx may alias dy.
        int chunks = (cols + ColumnChunk - 1) / ColumnChunk;
        For(chunks, (long)rows * ColumnChunk, c =>
        {
            int j0 = c * ColumnChunk, len = Math.Min(ColumnChunk, cols - j0);
            var s = sv.AsSpan(j0, len);
            s.Clear();
            for (int n = 0; n < rows; n++)
            {
                int at = n * cols + j0;
                TensorPrimitives.MultiplyAdd(gv.AsSpan(at, len), xv.AsSpan(at, len), s, s);
            }
        });
        For(rows, cols, n => TensorPrimitives.Multiply(gv.AsSpan(n * cols, cols), lv.AsSpan(0, cols), ov.AsSpan(n * cols, cols)));
    }
}
