using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Host side of the similarity-loss, L2-normalise and optimizer kernels on an ILGPU accelerator: grid shapes
/// and launch order, over plain ArrayViews, so the IlgpuBackend methods only unwrap their buffers and call
/// these (and the cross-backend tests can drive the kernels directly). Loaded kernels are cached per accelerator.
/// </summary>
public static class ContrastiveLaunch
{
    /// <summary>Threads per group of the row/column reduction kernels: four warps of 32 (or eight of 16).</summary>
    public const int RowThreads = 128;

    // Weakly keyed: a disposed accelerator (one per test class) takes its loaded kernels with it.
    static readonly ConditionalWeakTable<Accelerator, ConcurrentDictionary<string, Delegate>> Cache = new();

    static T Load<T>(Accelerator acc, string name, Func<Accelerator, T> load) where T : Delegate =>
        (T)Cache.GetValue(acc, _ => new()).GetOrAdd(name, _ => load(acc));

    /// <summary>Forward; <paramref name="terms"/> is scratch of N + M floats; labels may be an empty view when diagonal.</summary>
    public static void Forward(Accelerator acc, ArrayView<float> a, ArrayView<float> b, ArrayView<float> scale, ArrayView<int> labels,
        ArrayView<float> logits, ArrayView<float> rowLse, ArrayView<float> colLse, ArrayView<float> terms, ArrayView<float> loss, in SimilarityLoss loss0)
    {
        var s = SimArgs.From(loss0);
        var logitsK = Load(acc, "similarity_logits", x => x.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, SimArgs>(SimilarityKernels.Logits));
        var lseK = Load(acc, "similarity_lse", x => x.LoadStreamKernel<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, SimArgs>(SimilarityKernels.Lse));
        var lossK = Load(acc, "similarity_loss", x => x.LoadStreamKernel<ArrayView<float>, ArrayView<float>, SimArgs>(SimilarityKernels.Loss));
        logitsK(ProductGrid(s.N, s.M), a, b, scale, logits, s);
        lseK(new KernelConfig(s.N + (s.Symmetric != 0 ? s.M : 0), RowThreads), logits, labels, rowLse, colLse, terms, s);
        lossK(new KernelConfig(1, RowThreads), terms, loss, s);
    }

    public static void Backward(Accelerator acc, ArrayView<float> a, ArrayView<float> b, ArrayView<float> scale, ArrayView<int> labels,
        ArrayView<float> logits, ArrayView<float> rowLse, ArrayView<float> colLse, ArrayView<float> dloss,
        ArrayView<float> da, ArrayView<float> db, ArrayView<float> dscale, in SimilarityLoss loss0)
    {
        var s = SimArgs.From(loss0);
        var gradA = Load(acc, "similarity_grad_a", x => x.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, SimArgs>(SimilarityKernels.GradA));
        var gradB = Load(acc, "similarity_grad_b", x => x.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, SimArgs>(SimilarityKernels.GradB));
        var gradS = Load(acc, "similarity_scale_grad", x => x.LoadStreamKernel<ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, SimArgs>(SimilarityKernels.ScaleGrad));
        gradA(ProductGrid(s.N, s.D), b, scale, labels, logits, rowLse, colLse, dloss, da, s);
        gradB(ProductGrid(s.M, s.D), a, scale, labels, logits, rowLse, colLse, dloss, db, s);
        gradS(new KernelConfig(1, RowThreads), labels, logits, rowLse, colLse, dloss, dscale, s);
    }

    static KernelConfig ProductGrid(int rows, int cols) => new(
        new Index2D((cols + SimilarityKernels.Tile - 1) / SimilarityKernels.Tile, (rows + SimilarityKernels.Tile - 1) / SimilarityKernels.Tile),
        new Index2D(SimilarityKernels.Tile, SimilarityKernels.Tile));

    public static void L2Normalize(Accelerator acc, ArrayView<float> x, ArrayView<float> y, ArrayView<float> norm, int rows, int cols, float eps) =>
        Load(acc, "l2_normalize", k => k.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(NormalizeKernels.Forward))
            (new KernelConfig(rows, RowThreads), x, y, norm, cols, eps);

    public static void L2NormalizeBackward(Accelerator acc, ArrayView<float> y, ArrayView<float> norm, ArrayView<float> dy, ArrayView<float> dx, int rows, int cols, float eps) =>
        Load(acc, "l2_normalize_backward", k => k.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(NormalizeKernels.Backward))
            (new KernelConfig(rows, RowThreads), y, norm, dy, dx, cols, eps);

    public static void AdamW(Accelerator acc, ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v,
        ArrayView<float> gradScale, long n, in AdamWArgs args) =>
        Load(acc, "adamw_step", k => k.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, AdamWArgs, OptimMath.AdamWFactors>(OptimKernels.AdamW))((int)n, p, g, m, v, gradScale, args, OptimMath.AdamW(args));

    /// <summary>Momentum SGD when velocity is given and momentum &gt; 0, plain SGD otherwise.</summary>
    public static void Sgd(Accelerator acc, ArrayView<float> p, ArrayView<float> g, ArrayView<float>? velocity, ArrayView<float> gradScale, long n, in SgdArgs args)
    {
        if (args.Momentum > 0 && velocity is { } vel)
            Load(acc, "sgd_momentum_step", k => k.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, SgdArgs>(OptimKernels.SgdMomentum))
                ((int)n, p, g, vel, gradScale, args);
        else
            Load(acc, "sgd_step", k => k.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, SgdArgs>(OptimKernels.Sgd))
                ((int)n, p, g, gradScale, args);
    }

    public static void SumSquares(Accelerator acc, ArrayView<float> x, long n, ArrayView<float> partial, int slot) =>
        Load(acc, "sum_squares", k => k.LoadStreamKernel<ArrayView<float>, long, ArrayView<float>, int>(OptimKernels.SumSquares))
            (new KernelConfig(1, RowThreads), x, n, partial, slot);

    public static void ClipCoefficient(Accelerator acc, ArrayView<float> partial, int count, float maxNorm, ArrayView<float> norm, ArrayView<float> coef) =>
        Load(acc, "clip_coefficient", k => k.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, float, ArrayView<float>, ArrayView<float>>(OptimKernels.ClipCoefficient))
            (1, partial, count, maxNorm, norm, coef);

    public static void Clamp(Accelerator acc, ArrayView<float> y, long n, float lo, float hi) =>
        Load(acc, "clamp", k => k.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float, float>(OptimKernels.Clamp))((int)n, y, lo, hi);
}
