namespace Cleft.Kernels.Ilgpu;

// Fused optimizer updates, clipping and the clamp on ILGPU (kernels in OptimKernels, launches in ContrastiveLaunch).
public sealed partial class IlgpuBackend
{
    public void AdamWStep(DeviceBuffer<float> p, DeviceBuffer<float> g, DeviceBuffer<float> m, DeviceBuffer<float> v,
        DeviceBuffer<float> gradScale, long n, in AdamWArgs args)
    {
        if (n == 0) return;
        ContrastiveLaunch.AdamW(_acc, F(p), F(g), F(m), F(v), F(gradScale), n, args);
    }

    public void SgdStep(DeviceBuffer<float> p, DeviceBuffer<float> g, DeviceBuffer<float>? velocity,
        DeviceBuffer<float> gradScale, long n, in SgdArgs args)
    {
        if (n == 0) return;
        ContrastiveLaunch.Sgd(_acc, F(p), F(g), velocity is null ? null : F(velocity), F(gradScale), n, args);
    }

    public void SumSquares(DeviceBuffer<float> x, long n, DeviceBuffer<float> partial, int slot) =>
        ContrastiveLaunch.SumSquares(_acc, F(x), n, F(partial), slot);

    public void ClipCoefficient(DeviceBuffer<float> partial, int count, float maxNorm, DeviceBuffer<float> norm, DeviceBuffer<float> coef) =>
        ContrastiveLaunch.ClipCoefficient(_acc, F(partial), count, maxNorm, F(norm), F(coef));

    public void Clamp(DeviceBuffer<float> y, long n, float lo, float hi)
    {
        if (n == 0) return;
        ContrastiveLaunch.Clamp(_acc, F(y), n, lo, hi);
    }
}
