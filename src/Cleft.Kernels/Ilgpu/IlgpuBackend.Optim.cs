using ILGPU;
using ILGPU.Runtime;

namespace Cleft.Kernels.Ilgpu;

// Fused optimizer updates, clipping and the clamp on ILGPU (kernels in OptimKernels). AdamW and the sums of
// squares of the global norm go out as multi-tensor launches of up to TensorList.Capacity tensors each.
public sealed partial class IlgpuBackend
{
    Action<KernelConfig, TensorList, TensorList, TensorList, TensorList, ArrayView<float>, AdamWArgs, OptimMath.AdamWFactors>? _adamW;
    Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, SgdArgs>? _sgdMomentum;
    Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, SgdArgs>? _sgd;
    Action<KernelConfig, TensorList, ArrayView<float>>? _sumSquares;
    Action<Index1D, ArrayView<float>, int, float, ArrayView<float>, ArrayView<float>>? _clipCoefficient;
    Action<Index1D, ArrayView<float>, float, float>? _clamp;

    public void AdamWStep(ReadOnlySpan<AdamWTensor> tensors, DeviceBuffer<float> gradScale, in AdamWArgs args)
    {
        var factors = OptimMath.AdamW(args);
        for (int first = 0; first < tensors.Length; first += TensorList.Capacity)
        {
            var chunk = tensors.Slice(first, Math.Min(TensorList.Capacity, tensors.Length - first));
            TensorList p = default, g = default, m = default, v = default;
            long longest = 0;
            for (int i = 0; i < chunk.Length; i++)
            {
                var t = chunk[i];
                int n = Elements32(t.Length, "AdamWStep");
                p.Set(i, F(t.P).SubView(0, n)); g.Set(i, F(t.G).SubView(0, n)); m.Set(i, F(t.M).SubView(0, n)); v.Set(i, F(t.V).SubView(0, n));
                longest = Math.Max(longest, n);
            }
            if (longest == 0) continue;
            Kernel(ref _adamW, "adamw_step")(PerTensor(Elementwise(longest).GridDim.X, chunk.Length), p, g, m, v, F(gradScale), args, factors);
        }
    }

    public void SgdStep(DeviceBuffer<float> p, DeviceBuffer<float> g, DeviceBuffer<float>? velocity,
        DeviceBuffer<float> gradScale, long n, in SgdArgs args)
    {
        if (n == 0) return;
        if (args.Momentum > 0 && velocity is not null)
            Kernel(ref _sgdMomentum, "sgd_momentum_step")((int)n, F(p), F(g), F(velocity), F(gradScale), args);
        else
            Kernel(ref _sgd, "sgd_step")((int)n, F(p), F(g), F(gradScale), args);
    }

    /// <summary>
    /// Groups per tensor of sum_squares: enough for the largest tensor to fill the device, from its length alone
    /// (never the device), so the split and the summation order are the same everywhere.
    /// </summary>
    const int MaxSumSquaresGroups = 128;

    public void SumSquares(ReadOnlySpan<DeviceBuffer<float>?> xs, ReadOnlySpan<long> lengths, DeviceBuffer<float> partial)
    {
        int count = xs.Length;
        if (count == 0) return;
        long longest = 0;
        for (int i = 0; i < count; i++) if (xs[i] is not null) longest = Math.Max(longest, Elements32(lengths[i], "SumSquares"));
        int groups = (int)Math.Clamp((longest + 4L * _block - 1) / (4L * _block), 1, MaxSumSquaresGroups);
        // Per-group shares, [count, groups]; a missing gradient's row is an empty tensor's (zeros).
        var shares = Allocate<float>((long)count * groups);
        try
        {
            var sv = F(shares);
            var launch = Kernel(ref _sumSquares, "sum_squares");
            for (int first = 0; first < count; first += TensorList.Capacity)
            {
                int size = Math.Min(TensorList.Capacity, count - first);
                TensorList list = default;
                for (int i = 0; i < size; i++)
                    list.Set(i, xs[first + i] is { } x ? F(x).SubView(0, lengths[first + i]) : sv.SubView(0, 0));
                launch(PerTensor(groups, size), list, sv.SubView((long)first * groups, (long)size * groups));
            }
            // Each tensor's shares in order: a row sum of [count, groups].
            ReduceTo(shares, partial, (long)count * groups, Broadcast.PerRow(count, groups));
        }
        finally { Release(shares); }
    }

    /// <summary>Multi-tensor launches: <paramref name="groups"/> groups along X for each of <paramref name="tensors"/> along Y.</summary>
    KernelConfig PerTensor(int groups, int tensors) => new(new Index2D(groups, tensors), new Index2D(_block, 1));

    public void ClipCoefficient(DeviceBuffer<float> partial, int count, float maxNorm, DeviceBuffer<float> norm, DeviceBuffer<float> coef) =>
        Kernel(ref _clipCoefficient, "clip_coefficient")(1, F(partial), count, maxNorm, F(norm), F(coef));

    public void Clamp(DeviceBuffer<float> y, long n, float lo, float hi)
    {
        if (n == 0) return;
        Kernel(ref _clamp, "clamp")((int)n, F(y), lo, hi);
    }
}
