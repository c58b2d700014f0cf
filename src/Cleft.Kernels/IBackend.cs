namespace Cleft.Kernels;

public enum DeviceKind { Cpu, IlgpuCpu, Cuda, OpenCL }

/// <summary>
/// The op interface both backends implement: the managed CPU backend (<c>CpuBackend</c>) and the ILGPU
/// kernels (<c>IlgpuBackend</c>, on CUDA, OpenCL or ILGPU's CPU accelerator).
///
/// Contract: every method takes flat buffers plus explicit sizes and trusts them; shapes, devices and
/// ranges are checked once, above both backends, in Cleft.Autograd. Outputs may alias inputs only where a
/// method says so. All data are row-major and contiguous. Methods enqueue work; results are visible to
/// <see cref="CopyToHost{T}"/> (which synchronises).
/// </summary>
public partial interface IBackend : IDisposable
{
    /// <summary>Device name as the CLI spells it: cpu, ilgpu-cpu, cuda, opencl.</summary>
    string Name { get; }
    DeviceKind Kind { get; }
    /// <summary>Human-readable description (accelerator name, SIMD width, threads).</summary>
    string Description { get; }
    /// <summary>What GEMMs and attention compute in (fp32 always on the managed CPU backend).</summary>
    Precision Precision { get; }
    BufferPool Pool { get; }

    // ---- memory: the only host<->device edges ----
    /// <summary>Rents a buffer of <paramref name="length"/> elements; contents are undefined.</summary>
    DeviceBuffer<T> Allocate<T>(long length) where T : unmanaged;
    /// <summary>Returns a buffer to the pool.</summary>
    void Release<T>(DeviceBuffer<T> buffer) where T : unmanaged;
    void CopyFromHost<T>(ReadOnlySpan<T> source, DeviceBuffer<T> destination) where T : unmanaged;
    void CopyToHost<T>(DeviceBuffer<T> source, Span<T> destination) where T : unmanaged;
    void Synchronize();

    // ---- elementwise ----
    void Fill(DeviceBuffer<float> y, long n, float value);
    /// <summary>y[i] = a[i] op b[bc(i)]; y may alias a.</summary>
    void Binary(BinaryOp op, DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> y, long n, Broadcast bc);
    /// <summary>
    /// Per-element contribution to the gradient of b in y = a op b: g[i] = dy[i] * d(a op b)/db at (a[i], b[bc(i)]).
    /// Summing g with <see cref="ReduceTo"/> over bc gives db.
    /// </summary>
    void BinaryGradB(BinaryOp op, DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> dy, DeviceBuffer<float> g, long n, Broadcast bc);

    /// <summary>
    /// y = x + m b with b [cols] repeated over the rows of m [rows, cols] (a residual plus a LayerScale'd branch), rounded
    /// as <see cref="Binary"/>'s Mul then Add, which this default runs. y must not alias x or m.
    /// </summary>
    void AddScaledRows(DeviceBuffer<float> x, DeviceBuffer<float> m, DeviceBuffer<float> b, DeviceBuffer<float> y, int rows, int cols)
    {
        long n = (long)rows * cols;
        Binary(BinaryOp.Mul, m, b, y, n, Broadcast.Row(cols));
        Binary(BinaryOp.Add, y, x, y, n, Broadcast.Same(n)); // m b + x: addition commutes, so the bits of x + m b
    }

    /// <summary>
    /// Both gradients of y = a * b with b [cols] repeated over the rows of a [rows, cols] (LayerScale): da = dy b (skipped
    /// when <paramref name="da"/> is null) and db = the column sums of dy a, each with the bits of <see cref="Binary"/>,
    /// and of <see cref="BinaryGradB"/> then <see cref="ReduceTo"/>, which this default runs. A backend may do it in one
    /// pass without the [rows, cols] contribution (the managed one does).
    /// </summary>
    void MulRowBackward(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> dy, DeviceBuffer<float>? da,
        DeviceBuffer<float> db, int rows, int cols)
    {
        long n = (long)rows * cols;
        if (da is not null) Binary(BinaryOp.Mul, dy, b, da, n, Broadcast.Row(cols));
        var contribution = Allocate<float>(n);
        try
        {
            BinaryGradB(BinaryOp.Mul, a, b, dy, contribution, n, Broadcast.Row(cols));
            ReduceTo(contribution, db, n, Broadcast.Row(cols));
        }
        finally { Release(contribution); }
    }

    /// <summary>y[i] += alpha * x[i] (gradient accumulation, SGD).</summary>
    void Axpy(float alpha, DeviceBuffer<float> x, DeviceBuffer<float> y, long n);
    /// <summary>y[i] = alpha * x[i]; y may alias x.</summary>
    void Scale(float alpha, DeviceBuffer<float> x, DeviceBuffer<float> y, long n);
    /// <summary>GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))).</summary>
    void Gelu(DeviceBuffer<float> x, DeviceBuffer<float> y, long n);
    void GeluBackward(DeviceBuffer<float> x, DeviceBuffer<float> dy, DeviceBuffer<float> dx, long n);
    /// <summary>
    /// Inverted dropout with a counter-based hash of (seed, i), so both backends draw the same mask and the
    /// backward pass (the same call applied to dy) needs no stored mask: y[i] = keep(i) ? x[i] / (1 - p) : 0.
    /// </summary>
    void Dropout(DeviceBuffer<float> x, DeviceBuffer<float> y, long n, float p, ulong seed);

    // ---- reductions and broadcasts ----
    /// <summary>y[j] = sum of x[i] over all i with bc(i) = j; y has bc.Modulus elements (sum last axis, sum all, column sums).</summary>
    void ReduceTo(DeviceBuffer<float> x, DeviceBuffer<float> y, long n, Broadcast bc);
    /// <summary>y[i] = x[bc(i)] for i in [0, n).</summary>
    void BroadcastTo(DeviceBuffer<float> x, DeviceBuffer<float> y, long n, Broadcast bc);

    // ---- matmul ----
    /// <summary>Strided batched GEMM; see <see cref="GemmShape"/>. beta = 1 accumulates into C.</summary>
    void Gemm(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> c, in GemmShape shape);

    /// <summary>
    /// A single (batch 1, beta 0) GEMM plus a bias over its columns: C = op(A) op(B), then C[i, j] += bias[j], with
    /// the same two roundings as <see cref="Gemm"/> followed by a row-broadcast add. A backend may fuse the add into
    /// the GEMM's last store (the managed one does); this default runs the two.
    /// </summary>
    void GemmBias(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> bias, DeviceBuffer<float> c, in GemmShape shape)
    {
        Gemm(a, b, c, shape);
        Binary(BinaryOp.Add, c, bias, c, (long)shape.M * shape.N, Broadcast.Row(shape.N));
    }

    // ---- row-wise ops over the last axis of [rows, cols] ----
    /// <summary>Softmax (or log-softmax when <paramref name="log"/>) of each row.</summary>
    void Softmax(DeviceBuffer<float> x, DeviceBuffer<float> y, int rows, int cols, bool log);
    /// <summary>dx from the forward output y: softmax dx = y (dy - sum(dy y)); log-softmax dx = dy - exp(y) sum(dy).</summary>
    void SoftmaxBackward(DeviceBuffer<float> y, DeviceBuffer<float> dy, DeviceBuffer<float> dx, int rows, int cols, bool log);
    /// <summary>y = (x - mean) * rstd * gamma + beta per row; saves mean and rstd (length rows) for backward.</summary>
    void LayerNorm(DeviceBuffer<float> x, DeviceBuffer<float> gamma, DeviceBuffer<float> beta, DeviceBuffer<float> y,
        DeviceBuffer<float> mean, DeviceBuffer<float> rstd, int rows, int cols, float eps);
    /// <summary>Writes dx, dgamma and dbeta (overwritten, not accumulated).</summary>
    void LayerNormBackward(DeviceBuffer<float> x, DeviceBuffer<float> gamma, DeviceBuffer<float> mean, DeviceBuffer<float> rstd,
        DeviceBuffer<float> dy, DeviceBuffer<float> dx, DeviceBuffer<float> dgamma, DeviceBuffer<float> dbeta, int rows, int cols);

    // ---- embedding and cross-entropy ----
    /// <summary>y[t, :] = weight[ids[t], :]; ids are trusted to lie in [0, vocab).</summary>
    void EmbeddingForward(DeviceBuffer<float> weight, DeviceBuffer<int> ids, DeviceBuffer<float> y, int count, int dim);
    /// <summary>dweight[ids[t], :] += dy[t, :] (scatter-add; repeated ids accumulate).</summary>
    void EmbeddingBackward(DeviceBuffer<float> dy, DeviceBuffer<int> ids, DeviceBuffer<float> dweight, int count, int dim);
    /// <summary>
    /// Mean cross-entropy over rows whose target is not <paramref name="ignoreIndex"/>. Writes the per-row
    /// log-sum-exp (for backward), loss[0] = mean loss and count[0] = number of counted rows (0 rows: loss 0).
    /// </summary>
    void CrossEntropy(DeviceBuffer<float> logits, DeviceBuffer<int> targets, DeviceBuffer<float> rowLse,
        DeviceBuffer<float> loss, DeviceBuffer<float> count, int rows, int classes, int ignoreIndex);
    /// <summary>dlogits = dloss[0] * (softmax(logits) - onehot(target)) / count[0]; ignored rows get 0.</summary>
    void CrossEntropyBackward(DeviceBuffer<float> logits, DeviceBuffer<int> targets, DeviceBuffer<float> rowLse,
        DeviceBuffer<float> dloss, DeviceBuffer<float> count, DeviceBuffer<float> dlogits, int rows, int classes, int ignoreIndex);

    // ---- layout ----
    /// <summary>y = x with axes permuted (see <see cref="PermuteArgs"/>); n = element count.</summary>
    void Permute(DeviceBuffer<float> x, DeviceBuffer<float> y, long n, in PermuteArgs args);
    /// <summary>
    /// Copies <paramref name="rows"/> runs of <paramref name="rowLength"/> elements: dst[dstOffset + r*dstStride + j] =
    /// src[srcOffset + r*srcStride + j]. Slice, concat and their gradients are all this one copy.
    /// </summary>
    void CopyBlock(DeviceBuffer<float> src, long srcOffset, long srcStride, DeviceBuffer<float> dst, long dstOffset, long dstStride,
        long rows, long rowLength);
}
