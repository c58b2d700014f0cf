using ILGPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Fused optimizer kernels: one launch per parameter per step, each element read and written once. The
/// per-element arithmetic is <see cref="OptimMath"/>, shared with the managed backend.
/// </summary>
public static class OptimKernels
{
    [Kernel("adamw_step", KernelGrouping.Implicit)]
    public static void AdamW(Index1D i, ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v,
        ArrayView<float> gradScale, AdamWArgs args, OptimMath.AdamWFactors k) =>
        p[i] = OptimMath.AdamWUpdate(p[i], g[i] * gradScale[0], ref m[i], ref v[i], args, k);

    [Kernel("sgd_momentum_step", KernelGrouping.Implicit)]
    public static void SgdMomentum(Index1D i, ArrayView<float> p, ArrayView<float> g, ArrayView<float> velocity,
        ArrayView<float> gradScale, SgdArgs args) =>
        p[i] = OptimMath.SgdMomentumUpdate(p[i], g[i] * gradScale[0], ref velocity[i], args);

    [Kernel("sgd_step", KernelGrouping.Implicit)]
    public static void Sgd(Index1D i, ArrayView<float> p, ArrayView<float> g, ArrayView<float> gradScale, SgdArgs args) =>
        p[i] = OptimMath.SgdPlainUpdate(p[i], g[i] * gradScale[0], args);

    [Kernel("clamp", KernelGrouping.Implicit)]
    public static void Clamp(Index1D i, ArrayView<float> y, float lo, float hi) => y[i] = OptimMath.Clamp(y[i], lo, hi);

    /// <summary>
    /// One group: partial[slot] = sum of x^2. A single group keeps the order fixed (deterministic norms); the
    /// global norm is a once-per-step metric, so one pass at one group's bandwidth is acceptable here.
    /// </summary>
    [Kernel("sum_squares", KernelGrouping.Explicit)]
    public static void SumSquares(ArrayView<float> x, long n, ArrayView<float> partial, int slot)
    {
        float acc = 0f;
        for (long k = Group.IdxX; k < n; k += Group.DimX) { float v = x[k]; acc += v * v; }
        acc = GroupReduce.AllSum(acc);
        if (Group.IdxX == 0) partial[slot] = acc;
    }

    /// <summary>One thread: the global norm and torch's clip coefficient from the per-parameter sums of squares.</summary>
    [Kernel("clip_coefficient", KernelGrouping.Implicit)]
    public static void ClipCoefficient(Index1D i, ArrayView<float> partial, int count, float maxNorm, ArrayView<float> norm, ArrayView<float> coef)
    {
        float total = 0f;
        for (int k = 0; k < count; k++) total += partial[k];
        float nr = MathF.Sqrt(total);
        norm[0] = nr;
        coef[0] = OptimMath.ClipCoefficient(nr, maxNorm);
    }
}
