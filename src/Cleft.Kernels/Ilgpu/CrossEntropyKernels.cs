using ILGPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Mean cross-entropy with an ignore index, in three kernels so no step needs a grid-wide barrier:
/// <list type="number">
/// <item><c>cross_entropy_rows</c>: one group per row computes the row's log-sum-exp (max-shifted).</item>
/// <item><c>cross_entropy_loss</c>: a single group sums lse - logit[target] and the counted rows in a fixed order
/// (deterministic) and writes loss[0] and count[0]; one float per row is little work.</item>
/// <item><c>cross_entropy_backward</c>: elementwise over [rows, classes]; the scale dloss/count is read on the
/// device, so the loss never has to visit the host between forward and backward.</item>
/// </list>
/// </summary>
static class CrossEntropyKernels
{
    [Kernel("cross_entropy_rows", KernelGrouping.Explicit)]
    static void RowLogSumExp(ArrayView<float> logits, ArrayView<float> rowLse, int rows, int classes)
    {
        for (int r = Grid.IdxX; r < rows; r += Grid.DimX)
        {
            long o = (long)r * classes;
            var stats = GroupReduce.RowMaxSumExp(logits, o, classes);
            if (Group.IdxX == 0) rowLse[r] = stats.Max + MathF.Log(stats.SumExp);
        }
    }

    [Kernel("cross_entropy_loss", KernelGrouping.Explicit)]
    static void MeanLoss(ArrayView<float> logits, ArrayView<int> targets, ArrayView<float> rowLse,
        ArrayView<float> loss, ArrayView<float> count, int rows, int classes, int ignoreIndex)
    {
        // Launched as one group; the stride still uses Group.DimX so any group size works.
        float total = 0f, counted = 0f;
        for (int r = Group.IdxX; r < rows; r += Group.DimX)
        {
            int t = targets[r];
            if (t == ignoreIndex) continue;
            total += rowLse[r] - logits[(long)r * classes + t];
            counted += 1f;
        }
        total = GroupReduce.AllSum(total);
        counted = GroupReduce.AllSum(counted);
        if (Group.IdxX == 0)
        {
            loss[0] = counted == 0f ? 0f : total / counted;
            count[0] = counted;
        }
    }

    [Kernel("cross_entropy_backward", KernelGrouping.Explicit)]
    static void Backward(ArrayView<float> logits, ArrayView<int> targets, ArrayView<float> rowLse, ArrayView<float> dloss,
        ArrayView<float> count, ArrayView<float> dlogits, int rows, int classes, int ignoreIndex)
    {
        float cnt = count[0];
        float scale = cnt == 0f ? 0f : dloss[0] / cnt;
        int n = rows * classes;
        for (int i = GridStride.Start; i < n; i += GridStride.Step)
        {
            int r = i / classes;
            int c = i - r * classes;
            int t = targets[r];
            if (t == ignoreIndex) { dlogits[i] = 0f; continue; }
            float p = MathF.Exp(logits[i] - rowLse[r]);
            dlogits[i] = scale * (c == t ? p - 1f : p);
        }
    }
}
