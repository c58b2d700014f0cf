using Half = ILGPU.Half;

namespace Cleft.Kernels;

/// <summary>
/// Parameter-efficient fine-tuning ops: LoRA's low-rank path, IA3's backward, and a GEMM whose B operand is
/// fp16 (frozen weights stored at half size, products and sums in fp32).
/// </summary>
public partial interface IBackend
{
    /// <summary>
    /// As <see cref="Gemm"/> (same shape, transposes, strides, alpha/beta), but B is stored as fp16. Each B element
    /// is widened to fp32 exactly (every fp16 value is an fp32 value) before it is multiplied, so the only
    /// difference from an fp32 GEMM on the widened weights is none at all.
    /// </summary>
    void GemmHalfB(DeviceBuffer<float> a, DeviceBuffer<Half> b, DeviceBuffer<float> c, in GemmShape shape);

    /// <summary>
    /// <see cref="GemmHalfB"/> plus a bias over C's columns, as <see cref="GemmBias"/> is to <see cref="Gemm"/>: a single
    /// (batch 1, beta 0) GEMM, then C[i, j] += bias[j], rounded as the separate add. This default runs the two.
    /// </summary>
    void GemmHalfBBias(DeviceBuffer<float> a, DeviceBuffer<Half> b, DeviceBuffer<float> bias, DeviceBuffer<float> c, in GemmShape shape)
    {
        GemmHalfB(a, b, c, shape);
        Binary(BinaryOp.Add, c, bias, c, (long)shape.M * shape.N, Broadcast.Row(shape.N));
    }

    /// <summary>
    /// LoRA down-projection with the dropout fused in: t[n, k] = sum_i drop(n, i) x[n, i] a[k, i], where
    /// x is [rows, inFeatures], a is [rank, inFeatures] (PEFT's lora_A layout), t is [rows, rank] and
    /// drop(n, i) x = <see cref="CounterRng.DropoutValue"/>(x, p, seed, n * inFeatures + i) (p = 0: identity).
    /// The dropped x is never written out.
    /// </summary>
    void LoraDown(DeviceBuffer<float> x, DeviceBuffer<float> a, DeviceBuffer<float> t, int rows, int inFeatures, int rank, float p, ulong seed);

    /// <summary>Gradient of lora_A: da[k, i] = sum_n dt[n, k] drop(x[n, i]) (overwritten), same dropout rule as <see cref="LoraDown"/>.</summary>
    void LoraGradA(DeviceBuffer<float> x, DeviceBuffer<float> dt, DeviceBuffer<float> da, int rows, int inFeatures, int rank, float p, ulong seed);

    /// <summary>
    /// The low-rank path's share of dx, ADDED to dx (which already holds the base layer's g W^T):
    /// dx[n, i] += drop(n, i)(sum_k dt[n, k] a[k, i]), where drop applies the forward's mask and 1/(1-p).
    /// </summary>
    void LoraGradX(DeviceBuffer<float> a, DeviceBuffer<float> dt, DeviceBuffer<float> dx, int rows, int inFeatures, int rank, float p, ulong seed);

    /// <summary>
    /// Backward of IA3's y[n, j] = x[n, j] l[j] over x [rows, cols]: dx = dy l (dx may alias dy) and
    /// dl[j] = sum_n dy[n, j] x[n, j] (overwritten, summed in row order), without a [rows, cols] product temp.
    /// </summary>
    void Ia3Backward(DeviceBuffer<float> x, DeviceBuffer<float> l, DeviceBuffer<float> dy, DeviceBuffer<float> dx,
        DeviceBuffer<float> dl, int rows, int cols);
}
