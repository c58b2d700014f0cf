using ILGPU;
using ILGPU.Runtime;

namespace Cleft.Kernels.Ilgpu;

// Fused optimizer updates, clipping and the clamp on ILGPU (kernels in OptimKernels).
public sealed partial class IlgpuBackend
{
    Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamWArgs, OptimMath.AdamWFactors>? _adamW;
    Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, SgdArgs>? _sgdMomentum;
    Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, SgdArgs>? _sgd;
    Action<KernelConfig, ArrayView<float>, long, ArrayView<float>, int>? _sumSquares;
    Action<Index1D, ArrayView<float>, int, float, ArrayView<float>, ArrayView<float>>? _clipCoefficient;
    Action<Index1D, ArrayView<float>, float, float>? _clamp;

    public void AdamWStep(DeviceBuffer<float> p, DeviceBuffer<float> g, DeviceBuffer<float> m, DeviceBuffer<float> v,
        DeviceBuffer<float> gradScale, long n, in AdamWArgs args)
    {
        if (n == 0) return;
        Kernel(ref _adamW, "adamw_step")((int)n, F(p), F(g), F(m), F(v), F(gradScale), args, OptimMath.AdamW(args));
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

    public void SumSquares(DeviceBuffer<float> x, long n, DeviceBuffer<float> partial, int slot) =>
        Kernel(ref _sumSquares, "sum_squares")(new KernelConfig(1, RowThreads), F(x), n, F(partial), slot);

    public void ClipCoefficient(DeviceBuffer<float> partial, int count, float maxNorm, DeviceBuffer<float> norm, DeviceBuffer<float> coef) =>
        Kernel(ref _clipCoefficient, "clip_coefficient")(1, F(partial), count, maxNorm, F(norm), F(coef));

    public void Clamp(DeviceBuffer<float> y, long n, float lo, float hi)
    {
        if (n == 0) return;
        Kernel(ref _clamp, "clamp")((int)n, F(y), lo, hi);
    }
}
