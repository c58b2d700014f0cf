namespace Cleft.Kernels;

/// <summary>
/// The similarity cross-entropy family: CLIP's symmetric InfoNCE (stage 1) and the zero-shot classification
/// loss over class-prompt embeddings (stage 2) are the same computation with different targets.
/// <para>
/// With t = exp(scale[0]), logits L = t a b^T ([n, m]); row i's target is labels[i] (or i when
/// <see cref="SimilarityLoss.Diagonal"/>). loss = weight * (mean_i CE(L[i, :], target_i)
/// + [Symmetric] mean_j CE(L[:, j], j)). The scale is used as given: clamping it is the optimizer's job
/// (see ParamGroup.Clamp / LogitScale), as in open_clip, so the loss stays a smooth function of its inputs.
/// </para>
/// </summary>
public readonly record struct SimilarityLoss(int N, int M, int D, bool Diagonal, bool Symmetric, float Weight)
{
    /// <summary>CLIP loss over n pairs; <paramref name="sum"/> = CLEFT code (sum of directions), else open_clip's mean.</summary>
    public static SimilarityLoss Contrastive(int n, int d, bool sum) => new(n, n, d, true, true, sum ? 1f : 0.5f);
    /// <summary>Cross-entropy of n images over m class embeddings with integer labels.</summary>
    public static SimilarityLoss Classification(int n, int classes, int d) => new(n, classes, d, false, false, 1f);
}

public partial interface IBackend
{
    /// <summary>
    /// y[r, :] = x[r, :] / max(||x[r, :]||, eps); norm[r] = ||x[r, :]|| (saved for backward).
    /// </summary>
    void L2Normalize(DeviceBuffer<float> x, DeviceBuffer<float> y, DeviceBuffer<float> norm, int rows, int cols, float eps);
    /// <summary>dx = (dy - y (y . dy)) / norm for rows with norm &gt; eps; dy / eps otherwise (y = x / eps is linear there).</summary>
    void L2NormalizeBackward(DeviceBuffer<float> y, DeviceBuffer<float> norm, DeviceBuffer<float> dy, DeviceBuffer<float> dx, int rows, int cols, float eps);

    /// <summary>
    /// Forward of <see cref="SimilarityLoss"/>: writes logits [n, m] (kept for backward), rowLse [n],
    /// colLse [m] (only when symmetric) and loss[0]. labels is read only when not diagonal.
    /// </summary>
    void SimilarityLossForward(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> scale, DeviceBuffer<int>? labels,
        DeviceBuffer<float> logits, DeviceBuffer<float> rowLse, DeviceBuffer<float> colLse, DeviceBuffer<float> loss, in SimilarityLoss s);

    /// <summary>
    /// Backward from the saved logits and log-sum-exps: with G = dL/dlogits (never stored whole),
    /// da = t G b, db = t G^T a, dscale[0] = sum(G * logits). All three are overwritten. dloss has one element.
    /// </summary>
    void SimilarityLossBackward(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> scale, DeviceBuffer<int>? labels,
        DeviceBuffer<float> logits, DeviceBuffer<float> rowLse, DeviceBuffer<float> colLse, DeviceBuffer<float> dloss,
        DeviceBuffer<float> da, DeviceBuffer<float> db, DeviceBuffer<float> dscale, in SimilarityLoss s);
}
