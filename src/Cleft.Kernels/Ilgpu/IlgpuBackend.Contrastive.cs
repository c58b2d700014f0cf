using ILGPU;

namespace Cleft.Kernels.Ilgpu;

// Similarity losses and L2 normalisation on ILGPU: unwrap the buffers and hand them to ContrastiveLaunch,
// which owns the grid shapes (shared with the kernel tests that drive raw accelerators).
public sealed partial class IlgpuBackend
{
    public void L2Normalize(DeviceBuffer<float> x, DeviceBuffer<float> y, DeviceBuffer<float> norm, int rows, int cols, float eps)
    {
        if (rows == 0) return;
        ContrastiveLaunch.L2Normalize(_acc, F(x), F(y), F(norm), rows, cols, eps);
    }

    public void L2NormalizeBackward(DeviceBuffer<float> y, DeviceBuffer<float> norm, DeviceBuffer<float> dy, DeviceBuffer<float> dx, int rows, int cols, float eps)
    {
        if (rows == 0) return;
        ContrastiveLaunch.L2NormalizeBackward(_acc, F(y), F(norm), F(dy), F(dx), rows, cols, eps);
    }

    public void SimilarityLossForward(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> scale, DeviceBuffer<int>? labels,
        DeviceBuffer<float> logits, DeviceBuffer<float> rowLse, DeviceBuffer<float> colLse, DeviceBuffer<float> loss, in SimilarityLoss s)
    {
        // Per-line CE terms, summed by one group afterwards in a fixed order (deterministic, no atomics).
        var terms = Allocate<float>(s.N + s.M);
        try
        {
            ContrastiveLaunch.Forward(_acc, F(a), F(b), F(scale), Labels(labels), F(logits), F(rowLse), F(colLse), F(terms), F(loss), s);
        }
        finally { Release(terms); } // the pool hands it out again only to work queued after these kernels
    }

    public void SimilarityLossBackward(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> scale, DeviceBuffer<int>? labels,
        DeviceBuffer<float> logits, DeviceBuffer<float> rowLse, DeviceBuffer<float> colLse, DeviceBuffer<float> dloss,
        DeviceBuffer<float> da, DeviceBuffer<float> db, DeviceBuffer<float> dscale, in SimilarityLoss s) =>
        ContrastiveLaunch.Backward(_acc, F(a), F(b), F(scale), Labels(labels), F(logits), F(rowLse), F(colLse), F(dloss), F(da), F(db), F(dscale), s);

    // Diagonal targets read no labels: an empty view stands in.
    ArrayView<int> Labels(DeviceBuffer<int>? labels) => labels is null ? default : I(labels);
}
