using System.Numerics.Tensors;

namespace Cleft.Kernels.Cpu;

// GEMM entry, embedding gather / scatter-add, and layout copies (permute, strided blocks).
public sealed partial class CpuBackend
{
    public void Gemm(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> c, in GemmShape shape)
        => CpuGemm.Multiply(A(a), A(b), A(c), shape);

    public void GemmBias(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> bias, DeviceBuffer<float> c, in GemmShape shape)
        => CpuGemm.Multiply(A(a), A(b), A(c), shape, A(bias));

    public void EmbeddingForward(DeviceBuffer<float> weight, DeviceBuffer<int> ids, DeviceBuffer<float> y, int count, int dim)
    {
        float[] wv = A(weight), yv = A(y); int[] iv = I(ids);
        For(count, dim, t => wv.AsSpan(iv[t] * dim, dim).CopyTo(yv.AsSpan(t * dim, dim)));
    }

    public void EmbeddingBackward(DeviceBuffer<float> dy, DeviceBuffer<int> ids, DeviceBuffer<float> dweight, int count, int dim)
    {
        float[] dv = A(dy), wv = A(dweight); int[] iv = I(ids);
        // Sequential over tokens: repeated ids add in a fixed order, so the result is deterministic.
        for (int t = 0; t < count; t++)
        {
            var row = wv.AsSpan(iv[t] * dim, dim);
            TensorPrimitives.Add(row, dv.AsSpan(t * dim, dim), row);
        }
    }

    public void Permute(DeviceBuffer<float> x, DeviceBuffer<float> y, long n, in PermuteArgs args)
    {
        float[] xv = A(x), yv = A(y);
        var pa = args;
        long rowLen = CpuPermute.RowLength(pa);
        if (rowLen == 0 || n == 0) return;
        long rows = n / rowLen;
        // Blocks of whole rows, so each thread does one index decomposition per row and block copies within it.
        long blocks = (rows + CpuPermute.RowsPerBlock - 1) / CpuPermute.RowsPerBlock;
        For(blocks, CpuPermute.RowsPerBlock * rowLen, b =>
        {
            long first = b * CpuPermute.RowsPerBlock;
            CpuPermute.Rows(xv, yv, pa, first, Math.Min(CpuPermute.RowsPerBlock, rows - first));
        });
    }

    public void CopyBlock(DeviceBuffer<float> src, long srcOffset, long srcStride, DeviceBuffer<float> dst, long dstOffset, long dstStride,
        long rows, long rowLength)
    {
        float[] sv = A(src), dv = A(dst);
        For(rows, rowLength, r => sv.AsSpan((int)(srcOffset + r * srcStride), (int)rowLength)
            .CopyTo(dv.AsSpan((int)(dstOffset + r * dstStride), (int)rowLength)));
    }
}
