using ILGPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Fused optimizer kernels, each element read and written once. AdamW and the global norm's sums of squares are
/// multi-tensor: one launch covers a <see cref="TensorList"/> of parameters (grid Y = tensor, grid-stride along
/// X within it). The per-element arithmetic is <see cref="OptimMath"/>, shared with the managed backend.
/// </summary>
static class OptimKernels
{
    [Kernel("adamw_step", KernelGrouping.Explicit)]
    static void AdamW(TensorList p, TensorList g, TensorList m, TensorList v, ArrayView<float> gradScale,
        AdamWArgs args, OptimMath.AdamWFactors k)
    {
        int t = Grid.IdxY;
        ArrayView<float> pt = p[t], gt = g[t], mt = m[t], vt = v[t];
        float scale = gradScale[0];
        int n = pt.IntLength;
        for (int i = Grid.IdxX * Group.DimX + Group.IdxX; i < n; i += Grid.DimX * Group.DimX)
            pt[i] = OptimMath.AdamWUpdate(pt[i], gt[i] * scale, ref mt[i], ref vt[i], args, k);
    }

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
    /// partial[t * Grid.DimX + Grid.IdxX] = group Grid.IdxX's share of the sum of squares of tensor t = Grid.IdxY
    /// (elements IdxX * DimX + IdxX, stepping by the grid): a fixed split, so the per-tensor sums that reduce_rows
    /// then adds in order are deterministic.
    /// </summary>
    [Kernel("sum_squares", KernelGrouping.Explicit)]
    static void SumSquares(TensorList xs, ArrayView<float> partial)
    {
        var x = xs[Grid.IdxY];
        int n = x.IntLength;
        float acc = 0f;
        for (int i = Grid.IdxX * Group.DimX + Group.IdxX; i < n; i += Grid.DimX * Group.DimX) { float e = x[i]; acc += e * e; }
        acc = GroupReduce.AllSum(acc);
        if (Group.IdxX == 0) partial[Grid.IdxY * Grid.DimX + Grid.IdxX] = acc;
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
