namespace Cleft.Kernels;

/// <summary>One AdamW step's hyperparameters (bias corrections precomputed by the optimizer: bc = 1 - beta^t).</summary>
public readonly record struct AdamWArgs(float Lr, float Beta1, float Beta2, float Eps, float WeightDecay,
    float BiasCorrection1, float BiasCorrection2, float ClampMin, float ClampMax);

/// <summary>One SGD step: v = momentum v + g (when momentum &gt; 0); p = p (1 - lr wd) - lr v.</summary>
public readonly record struct SgdArgs(float Lr, float Momentum, float WeightDecay, float ClampMin, float ClampMax);

/// <summary>One parameter of a multi-tensor AdamW step: values, gradient, first and second moments, all of Length elements.</summary>
public readonly record struct AdamWTensor(DeviceBuffer<float> P, DeviceBuffer<float> G, DeviceBuffer<float> M, DeviceBuffer<float> V, long Length);

public partial interface IBackend
{
    /// <summary>
    /// Fused AdamW (PyTorch's torch.optim.AdamW, decoupled decay) over every element of every tensor, all with the
    /// same hyperparameters (one parameter group), with g read as g * gradScale[0] (the clip coefficient; the
    /// gradient buffers are not modified):
    /// p *= 1 - lr wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps);
    /// finally p = clamp(p, ClampMin, ClampMax) (±infinity for none). Tensors are updated independently, so the
    /// result is the same as one step per tensor; a backend may launch one kernel over many tensors.
    /// </summary>
    void AdamWStep(ReadOnlySpan<AdamWTensor> tensors, DeviceBuffer<float> gradScale, in AdamWArgs args);

    /// <summary>Fused SGD step (see <see cref="SgdArgs"/>); velocity is untouched (may be null) when momentum is 0; then clamp.</summary>
    void SgdStep(DeviceBuffer<float> p, DeviceBuffer<float> g, DeviceBuffer<float>? velocity,
        DeviceBuffer<float> gradScale, long n, in SgdArgs args);

    /// <summary>
    /// partial[i] = sum of x^2 over the first lengths[i] elements of xs[i], for every i (one slot per parameter of
    /// a global norm); a null tensor (a parameter without a gradient) writes 0. Each slot's sum is deterministic; a
    /// backend may reduce many tensors in one launch.
    /// </summary>
    void SumSquares(ReadOnlySpan<DeviceBuffer<float>?> xs, ReadOnlySpan<long> lengths, DeviceBuffer<float> partial);

    /// <summary>
    /// From count partial sums of squares (summed in slot order): norm[0] = sqrt(sum partial), the global
    /// norm; coef[0] = min(1, maxNorm / (norm + 1e-6)), the clip coefficient of torch.nn.utils.clip_grad_norm_.
    /// </summary>
    void ClipCoefficient(DeviceBuffer<float> partial, int count, float maxNorm, DeviceBuffer<float> norm, DeviceBuffer<float> coef);

    /// <summary>y[i] = min(max(y[i], lo), hi) in place (the logit-scale clamp).</summary>
    void Clamp(DeviceBuffer<float> y, long n, float lo, float hi);
}
