namespace Cleft.Kernels;

/// <summary>
/// Where the D values of row t of head h of batch item b start in an attention operand's buffer:
/// Offset + b BatchStride + h HeadStride + t RowStride (the D values themselves are contiguous).
/// </summary>
public readonly record struct AttentionLayout(long BatchStride, long HeadStride, long RowStride, long Offset = 0)
{
    /// <summary>[B, H, T, D] row-major: heads already split.</summary>
    public static AttentionLayout HeadsMajor(int heads, int t, int d) => new((long)heads * t * d, (long)t * d, d);

    /// <summary>
    /// Heads side by side in the rows of a [B, T, width] tensor (a linear layer's output), starting at column
    /// <paramref name="column"/>: [B, T, C] has width C and column 0; GPT-2's fused [B, T, 3C] holds q, k, v at
    /// columns 0, C, 2C.
    /// </summary>
    public static AttentionLayout TokensMajor(int t, int width, int d, int column = 0) => new((long)t * width, d, width, column);

    public long Row(int b, int h, int t) => Offset + b * BatchStride + h * HeadStride + t * RowStride;
}

/// <summary>
/// Sizes and options of one multi-head attention call. q, k, v, o, dq, dk, dv are [Batch, Heads, T, D]
/// row-major unless a layout says otherwise (dq, dk, dv follow q, k, v; dO follows o); the key padding mask is
/// [Batch, T] ints (nonzero = the key is visible); row statistics are [Batch, Heads, T].
/// </summary>
/// <param name="Scale">Multiplies q.k before the softmax: 1/sqrt(D), times 1/(layer_idx + 1) for GPT-2's
/// scale_attn_by_inverse_layer_idx.</param>
/// <param name="Causal">Query t sees keys 0..t only.</param>
/// <param name="HasMask">The key padding mask buffer is meaningful; otherwise every key is visible (the
/// buffer argument may then be any int buffer, e.g. a one-element dummy, and is not read).</param>
public readonly record struct AttentionShape(int Batch, int Heads, int T, int D, float Scale, bool Causal, bool HasMask)
{
    public long Elements => (long)Batch * Heads * T * D;
    public long Rows => (long)Batch * Heads * T;

    /// <summary>
    /// Dense forward + backward multiply-adds as a plain implementation counts them (QK^T and PV forward;
    /// dV, dP, dS K and dS^T Q backward), whatever tiles a kernel skips: the same count for every
    /// implementation, so GFLOP/s ratios are time ratios.
    /// </summary>
    public double DenseTrainingFlops => 6.0 * 2.0 * Batch * Heads * (double)T * T * D;

    /// <summary>Layouts of q (and dq), k (dk), v (dv), o (dO); null is [Batch, Heads, T, D]. Backends whose
    /// <see cref="IBackend.AttentionTakesLayouts"/> is false accept only null.</summary>
    public AttentionLayout? QLayout { get; init; }
    public AttentionLayout? KLayout { get; init; }
    public AttentionLayout? VLayout { get; init; }
    public AttentionLayout? OLayout { get; init; }

    public bool HeadsMajorOnly => QLayout is null && KLayout is null && VLayout is null && OLayout is null;
    public AttentionLayout Q => QLayout ?? AttentionLayout.HeadsMajor(Heads, T, D);
    public AttentionLayout K => KLayout ?? AttentionLayout.HeadsMajor(Heads, T, D);
    public AttentionLayout V => VLayout ?? AttentionLayout.HeadsMajor(Heads, T, D);
    public AttentionLayout O => OLayout ?? AttentionLayout.HeadsMajor(Heads, T, D);

    /// <summary>Whether query <paramref name="i"/> may see key <paramref name="j"/> of batch row <paramref name="b"/> (reference semantics).</summary>
    public bool Visible(ReadOnlySpan<int> mask, int b, int i, int j) => (!Causal || j <= i) && (!HasMask || mask[b * T + j] != 0);
}

public partial interface IBackend
{
    // ---- attention ----
    /// <summary>
    /// Whether <see cref="AttentionForward"/> and <see cref="AttentionBackward"/> read and write operands in any
    /// <see cref="AttentionLayout"/> (then heads can stay inside a linear layer's [B, T, C] output with no split or
    /// merge copies); false: [B, H, T, D] only.
    /// </summary>
    bool AttentionTakesLayouts => false;

    /// <summary>
    /// o = softmax(Scale q k^T over the visible keys) v for every (batch, head), without materialising the
    /// T x T score matrix (flash-attention tiling with an online softmax). Writes the row log-sum-exp of the
    /// scaled scores to <paramref name="lse"/> for the backward pass. A query with no visible key (all of its
    /// keys masked) gets o = 0 and lse = +infinity, so exp(s - lse) = 0 there in the backward and nothing is NaN.
    /// </summary>
    void AttentionForward(DeviceBuffer<float> q, DeviceBuffer<float> k, DeviceBuffer<float> v, DeviceBuffer<int> keyMask,
        DeviceBuffer<float> o, DeviceBuffer<float> lse, in AttentionShape shape);

    /// <summary>
    /// Gradients of the forward above given do = dL/do, recomputing the probabilities tile by tile from q, k
    /// and the saved lse (P = exp(Scale q k^T - lse)) and using Delta_i = rowsum(do * o):
    /// dv = P^T do, dS = P * (do v^T - Delta), dq = Scale dS k, dk = Scale dS^T q. dq, dk, dv are overwritten.
    /// </summary>
    void AttentionBackward(DeviceBuffer<float> q, DeviceBuffer<float> k, DeviceBuffer<float> v, DeviceBuffer<int> keyMask,
        DeviceBuffer<float> o, DeviceBuffer<float> lse, DeviceBuffer<float> dO,
        DeviceBuffer<float> dq, DeviceBuffer<float> dk, DeviceBuffer<float> dv, in AttentionShape shape);
}
