using ILGPU;
using ILGPU.Runtime;

namespace Cleft.Kernels.Ilgpu;

// The IBackend ops: each picks a launch shape and launches its catalogue kernel(s). Empty problems launch
// nothing (a grid of zero groups is invalid), except where the op must still write its outputs.
public sealed partial class IlgpuBackend
{
    // Launchers, compiled on first use (see Kernel<T>). Each line states the kernel's parameter types once.
    Action<KernelConfig, ArrayView<float>, int, float>? _fill;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>? _binary;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>? _binaryGradB;
    Action<KernelConfig, float, ArrayView<float>, ArrayView<float>, int>? _axpy, _scale;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, int>? _gelu;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>? _geluBackward;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, float, ulong>? _dropout;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int>? _broadcastTo;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int>? _reduceRows;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int>? _reduceCols;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>? _gemm;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int, int>? _softmax;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>? _softmaxBackward;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, float>? _layerNorm;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>? _layerNormBackward;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>? _layerNormParamGrad;
    Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int>? _embeddingForward, _embeddingBackward;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, int>? _ceRows;
    Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>? _ceLoss;
    Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>? _ceBackward;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, int, PermuteArgs>? _permute;
    Action<KernelConfig, ArrayView<float>, int, int, ArrayView<float>, int, int, int, int>? _copyBlock;

    static TDelegate Of<TDelegate>(System.Reflection.MethodInfo m) where TDelegate : Delegate => m.CreateDelegate<TDelegate>();

    // ---- elementwise ----
    public void Fill(DeviceBuffer<float> y, long n, float value)
    {
        if (n == 0) return;
        Kernel(ref _fill, "fill")
            (Elementwise(n), F(y), Elements32(n, "Fill"), value);
    }

    public void Binary(BinaryOp op, DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> y, long n, Broadcast bc)
    {
        if (n == 0) return;
        Kernel(ref _binary, "binary")
            (Elementwise(n), F(a), F(b), F(y), Elements32(n, "Binary"), (int)op, (int)bc.Divisor, (int)bc.Modulus);
    }

    public void BinaryGradB(BinaryOp op, DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> dy, DeviceBuffer<float> g, long n, Broadcast bc)
    {
        if (n == 0) return;
        Kernel(ref _binaryGradB, "binary_grad_b")
            (Elementwise(n), F(a), F(b), F(dy), F(g), Elements32(n, "BinaryGradB"), (int)op, (int)bc.Divisor, (int)bc.Modulus);
    }

    public void Axpy(float alpha, DeviceBuffer<float> x, DeviceBuffer<float> y, long n)
    {
        if (n == 0) return;
        Kernel(ref _axpy, "axpy")
            (Elementwise(n), alpha, F(x), F(y), Elements32(n, "Axpy"));
    }

    public void Scale(float alpha, DeviceBuffer<float> x, DeviceBuffer<float> y, long n)
    {
        if (n == 0) return;
        Kernel(ref _scale, "scale")
            (Elementwise(n), alpha, F(x), F(y), Elements32(n, "Scale"));
    }

    public void Gelu(DeviceBuffer<float> x, DeviceBuffer<float> y, long n)
    {
        if (n == 0) return;
        Kernel(ref _gelu, "gelu")
            (Elementwise(n), F(x), F(y), Elements32(n, "Gelu"));
    }

    public void GeluBackward(DeviceBuffer<float> x, DeviceBuffer<float> dy, DeviceBuffer<float> dx, long n)
    {
        if (n == 0) return;
        Kernel(ref _geluBackward, "gelu_backward")
            (Elementwise(n), F(x), F(dy), F(dx), Elements32(n, "GeluBackward"));
    }

    public void Dropout(DeviceBuffer<float> x, DeviceBuffer<float> y, long n, float p, ulong seed)
    {
        if (n == 0) return;
        Kernel(ref _dropout, "dropout")
            (Elementwise(n), F(x), F(y), Elements32(n, "Dropout"), p, seed);
    }

    // ---- reductions and broadcasts ----
    public void ReduceTo(DeviceBuffer<float> x, DeviceBuffer<float> y, long n, Broadcast bc)
    {
        Elements32(n, "ReduceTo"); // every index below is under n
        long modulus = bc.Modulus, divisor = bc.Divisor, outer = n / (divisor * modulus);
        if (modulus == 1 || divisor > 1)
        {
            // A scalar sums everything: the same as one output whose run is all n elements.
            if (modulus == 1) { outer = 1; divisor = n; }
            Kernel(ref _reduceRows, "reduce_rows")
                (Rows(modulus, outer * divisor), F(x), F(y), (int)outer, (int)modulus, (int)divisor);
        }
        else
        {
            ColumnSums(F(x), F(y), (int)outer, (int)modulus);
        }
    }

    /// <summary>
    /// y[c] = sum over r of x[r, c], deterministic: row blocks' partials (2-D grid), then one more launch adding them
    /// in block order; a single row block writes y directly.
    /// </summary>
    void ColumnSums(ArrayView<float> x, ArrayView<float> y, int rows, int cols)
    {
        var reduce = Kernel(ref _reduceCols, "reduce_cols");
        var split = ColumnBlocks.For(rows);
        if (split.Blocks == 1) { reduce(Columns(cols, 1), x, y, rows, cols, split.RowsPerBlock); return; }
        var partial = Allocate<float>((long)split.Blocks * cols);
        try
        {
            reduce(Columns(cols, split.Blocks), x, F(partial), rows, cols, split.RowsPerBlock);
            reduce(Columns(cols, 1), F(partial), y, split.Blocks, cols, split.Blocks);
        }
        finally { Release(partial); } // reused only by work queued after these launches
    }

    public void BroadcastTo(DeviceBuffer<float> x, DeviceBuffer<float> y, long n, Broadcast bc)
    {
        if (n == 0) return;
        Kernel(ref _broadcastTo, "broadcast_to")
            (Elementwise(n), F(x), F(y), Elements32(n, "BroadcastTo"), (int)bc.Divisor, (int)bc.Modulus);
    }

    // ---- matmul ----
    public void Gemm(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> c, in GemmShape shape)
    {
        if (shape.Batch == 0 || shape.M == 0 || shape.N == 0) return;
        GemmViews(shape, F(a), F(b), F(c));
    }

    /// <summary>
    /// The GEMM of this backend's precision over views (split-K slices are sub-views): bf16 on tensor cores
    /// (IlgpuBackend.TensorCore.cs), else the fp32 kernel, which stays the reference path.
    /// </summary>
    void GemmViews(in GemmShape shape, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c)
    {
        if (Precision == Precision.Bf16) { GemmBf16Views(shape, a, b, c); return; }
        LaunchTiledGemm(shape, a, b, c, Kernel(ref _gemm, "gemm"), GemmKernel.TileM, GemmKernel.TileN, GemmKernel.Threads);
    }

    // ---- row-wise ----
    public void Softmax(DeviceBuffer<float> x, DeviceBuffer<float> y, int rows, int cols, bool log)
    {
        if (rows == 0 || cols == 0) return;
        Kernel(ref _softmax, "softmax")
            (Rows(rows, cols), F(x), F(y), rows, cols, log ? 1 : 0);
    }

    public void SoftmaxBackward(DeviceBuffer<float> y, DeviceBuffer<float> dy, DeviceBuffer<float> dx, int rows, int cols, bool log)
    {
        if (rows == 0 || cols == 0) return;
        Kernel(ref _softmaxBackward, "softmax_backward")
            (Rows(rows, cols), F(y), F(dy), F(dx), rows, cols, log ? 1 : 0);
    }

    public void LayerNorm(DeviceBuffer<float> x, DeviceBuffer<float> gamma, DeviceBuffer<float> beta, DeviceBuffer<float> y,
        DeviceBuffer<float> mean, DeviceBuffer<float> rstd, int rows, int cols, float eps)
    {
        if (rows == 0 || cols == 0) return;
        Kernel(ref _layerNorm, "layernorm")
            (Rows(rows, cols), F(x), F(gamma), F(beta), F(y), F(mean), F(rstd), rows, cols, eps);
    }

    public void LayerNormBackward(DeviceBuffer<float> x, DeviceBuffer<float> gamma, DeviceBuffer<float> mean, DeviceBuffer<float> rstd,
        DeviceBuffer<float> dy, DeviceBuffer<float> dx, DeviceBuffer<float> dgamma, DeviceBuffer<float> dbeta, int rows, int cols)
    {
        if (cols == 0) return;
        if (rows > 0)
            Kernel(ref _layerNormBackward, "layernorm_backward")
                (Rows(rows, cols), F(x), F(gamma), F(mean), F(rstd), F(dy), F(dx), rows, cols);
        // Runs even with no rows: dgamma and dbeta are overwritten with the (empty) sums. It indexes with ints.
        Elements32((long)rows * cols, "LayerNormBackward");
        var paramGrad = Kernel(ref _layerNormParamGrad, "layernorm_param_grad");
        var split = ColumnBlocks.For(rows);
        if (split.Blocks == 1)
        {
            paramGrad(Columns(cols, 1), F(x), F(mean), F(rstd), F(dy), F(dgamma), F(dbeta), rows, cols, split.RowsPerBlock);
            return;
        }
        // Partials of dgamma, then of dbeta, in one scratch buffer; each half is summed over its blocks.
        long half = (long)split.Blocks * cols;
        var partial = Allocate<float>(2 * half);
        try
        {
            var pv = F(partial);
            paramGrad(Columns(cols, split.Blocks), F(x), F(mean), F(rstd), F(dy), pv.SubView(0, half), pv.SubView(half, half), rows, cols, split.RowsPerBlock);
            ColumnSums(pv.SubView(0, half), F(dgamma), split.Blocks, cols);
            ColumnSums(pv.SubView(half, half), F(dbeta), split.Blocks, cols);
        }
        finally { Release(partial); }
    }

    // ---- embedding and cross-entropy ----
    public void EmbeddingForward(DeviceBuffer<float> weight, DeviceBuffer<int> ids, DeviceBuffer<float> y, int count, int dim)
    {
        if ((long)count * dim == 0) return;
        Elements32(Math.Max((long)count * dim, weight.Length), "EmbeddingForward");
        Kernel(ref _embeddingForward, "embedding_forward")
            (Elementwise((long)count * dim), F(weight), I(ids), F(y), count, dim);
    }

    public void EmbeddingBackward(DeviceBuffer<float> dy, DeviceBuffer<int> ids, DeviceBuffer<float> dweight, int count, int dim)
    {
        if ((long)count * dim == 0) return;
        Elements32(Math.Max((long)count * dim, dweight.Length), "EmbeddingBackward");
        Kernel(ref _embeddingBackward, "embedding_backward")
            (Elementwise((long)count * dim), F(dy), I(ids), F(dweight), count, dim);
    }

    public void CrossEntropy(DeviceBuffer<float> logits, DeviceBuffer<int> targets, DeviceBuffer<float> rowLse,
        DeviceBuffer<float> loss, DeviceBuffer<float> count, int rows, int classes, int ignoreIndex)
    {
        if (rows > 0 && classes > 0)
            Kernel(ref _ceRows, "cross_entropy_rows")
                (Rows(rows, classes), F(logits), F(rowLse), rows, classes);
        // Always runs: with no counted rows it writes loss 0 and count 0.
        Kernel(ref _ceLoss, "cross_entropy_loss")
            (new KernelConfig(1, _block), F(logits), I(targets), F(rowLse), F(loss), F(count), rows, classes, ignoreIndex);
    }

    public void CrossEntropyBackward(DeviceBuffer<float> logits, DeviceBuffer<int> targets, DeviceBuffer<float> rowLse,
        DeviceBuffer<float> dloss, DeviceBuffer<float> count, DeviceBuffer<float> dlogits, int rows, int classes, int ignoreIndex)
    {
        if ((long)rows * classes == 0) return;
        Elements32((long)rows * classes, "CrossEntropyBackward");
        Kernel(ref _ceBackward, "cross_entropy_backward")
            (Elementwise((long)rows * classes), F(logits), I(targets), F(rowLse), F(dloss), F(count), F(dlogits), rows, classes, ignoreIndex);
    }

    // ---- layout ----
    public void Permute(DeviceBuffer<float> x, DeviceBuffer<float> y, long n, in PermuteArgs args)
    {
        if (n == 0) return;
        Kernel(ref _permute, "permute")
            (Elementwise(n), F(x), F(y), Elements32(n, "Permute"), args);
    }

    public void CopyBlock(DeviceBuffer<float> src, long srcOffset, long srcStride, DeviceBuffer<float> dst, long dstOffset, long dstStride,
        long rows, long rowLength)
    {
        if (rows * rowLength == 0) return;
        // Offsets and strides index the whole buffers: both must suit the 32-bit kernel.
        Elements32(Math.Max(src.Length, dst.Length), "CopyBlock");
        Kernel(ref _copyBlock, "copy_block")
            (Elementwise(rows * rowLength), F(src), (int)srcOffset, (int)srcStride, F(dst), (int)dstOffset, (int)dstStride, (int)rows, (int)rowLength);
    }
}
