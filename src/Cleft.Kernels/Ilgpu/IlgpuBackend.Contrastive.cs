using ILGPU;
using ILGPU.Runtime;

namespace Cleft.Kernels.Ilgpu;

// Similarity losses and L2 normalisation on ILGPU (kernels in SimilarityKernels and NormalizeKernels).
public sealed partial class IlgpuBackend
{
    /// <summary>Threads per group of the similarity row/column reductions and L2 norms: four warps of 32 (or eight of 16).</summary>
    const int RowThreads = 128;

    Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, SimArgs>? _simLogits;
    Action<KernelConfig, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, SimArgs>? _simLse;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, SimArgs>? _simLoss;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, SimArgs>? _simGradA, _simGradB;
    Action<KernelConfig, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, SimArgs>? _simScaleGrad;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>? _l2Normalize;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>? _l2NormalizeBackward;

    public void L2Normalize(DeviceBuffer<float> x, DeviceBuffer<float> y, DeviceBuffer<float> norm, int rows, int cols, float eps)
    {
        if (rows == 0) return;
        Kernel(ref _l2Normalize, "l2_normalize")(new KernelConfig(rows, RowThreads), F(x), F(y), F(norm), cols, eps);
    }

    public void L2NormalizeBackward(DeviceBuffer<float> y, DeviceBuffer<float> norm, DeviceBuffer<float> dy, DeviceBuffer<float> dx, int rows, int cols, float eps)
    {
        if (rows == 0) return;
        Kernel(ref _l2NormalizeBackward, "l2_normalize_backward")(new KernelConfig(rows, RowThreads), F(y), F(norm), F(dy), F(dx), cols, eps);
    }

    public void SimilarityLossForward(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> scale, DeviceBuffer<int>? labels,
        DeviceBuffer<float> logits, DeviceBuffer<float> rowLse, DeviceBuffer<float> colLse, DeviceBuffer<float> loss, in SimilarityLoss s)
    {
        var args = SimArgs.From(s);
        // Per-line CE terms, summed by one group afterwards in a fixed order (deterministic, no atomics).
        var terms = Allocate<float>(s.N + s.M);
        try
        {
            Kernel(ref _simLogits, "similarity_logits")(ProductGrid(args.N, args.M), F(a), F(b), F(scale), F(logits), args);
            Kernel(ref _simLse, "similarity_lse")(new KernelConfig(args.N + (args.Symmetric != 0 ? args.M : 0), RowThreads),
                F(logits), Labels(labels), F(rowLse), F(colLse), F(terms), args);
            Kernel(ref _simLoss, "similarity_loss")(new KernelConfig(1, RowThreads), F(terms), F(loss), args);
        }
        finally { Release(terms); } // the pool hands it out again only to work queued after these kernels
    }

    public void SimilarityLossBackward(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> scale, DeviceBuffer<int>? labels,
        DeviceBuffer<float> logits, DeviceBuffer<float> rowLse, DeviceBuffer<float> colLse, DeviceBuffer<float> dloss,
        DeviceBuffer<float> da, DeviceBuffer<float> db, DeviceBuffer<float> dscale, in SimilarityLoss s)
    {
        var args = SimArgs.From(s);
        var l = Labels(labels);
        Kernel(ref _simGradA, "similarity_grad_a")(ProductGrid(args.N, args.D), F(b), F(scale), l, F(logits), F(rowLse), F(colLse), F(dloss), F(da), args);
        Kernel(ref _simGradB, "similarity_grad_b")(ProductGrid(args.M, args.D), F(a), F(scale), l, F(logits), F(rowLse), F(colLse), F(dloss), F(db), args);
        Kernel(ref _simScaleGrad, "similarity_scale_grad")(new KernelConfig(1, RowThreads), l, F(logits), F(rowLse), F(colLse), F(dloss), F(dscale), args);
    }

    /// <summary>Square tiles over a [rows, cols] product (the similarity logits and their gradients).</summary>
    static KernelConfig ProductGrid(int rows, int cols) => new(
        new Index2D((cols + SimilarityKernels.Tile - 1) / SimilarityKernels.Tile, (rows + SimilarityKernels.Tile - 1) / SimilarityKernels.Tile),
        new Index2D(SimilarityKernels.Tile, SimilarityKernels.Tile));

    // Diagonal targets read no labels: an empty view stands in.
    ArrayView<int> Labels(DeviceBuffer<int>? labels) => labels is null ? default : I(labels);
}
