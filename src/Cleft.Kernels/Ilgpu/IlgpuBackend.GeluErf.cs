using ILGPU;
using ILGPU.Runtime;

namespace Cleft.Kernels.Ilgpu;

// Exact GELU (IBackend.GeluErf.cs): elementwise launches of the gelu_erf kernels.
public sealed partial class IlgpuBackend
{
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, int>? _geluErf;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>? _geluErfBackward;

    public void GeluErf(DeviceBuffer<float> x, DeviceBuffer<float> y, long n)
    {
        if (n == 0) return;
        Kernel(ref _geluErf, "gelu_erf")
            (Elementwise(n), F(x), F(y), Elements32(n, "GeluErf"));
    }

    public void GeluErfBackward(DeviceBuffer<float> x, DeviceBuffer<float> dy, DeviceBuffer<float> dx, long n)
    {
        if (n == 0) return;
        Kernel(ref _geluErfBackward, "gelu_erf_backward")
            (Elementwise(n), F(x), F(dy), F(dx), Elements32(n, "GeluErfBackward"));
    }
}
