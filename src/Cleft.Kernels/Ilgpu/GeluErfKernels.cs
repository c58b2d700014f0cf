using ILGPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Exact GELU kernels (IBackend.GeluErf.cs): grid-stride elementwise loops over <see cref="GeluErfMath"/>, the
/// same code the managed backend runs (MathF.Exp is remapped to ex2.approx on CUDA, hence ~1e-6 differences there).
/// </summary>
static class GeluErfKernels
{
    [Kernel("gelu_erf", KernelGrouping.Explicit)]
    static void GeluErf(ArrayView<float> x, ArrayView<float> y, int n)
    {
        for (int i = GridStride.Start; i < n; i += GridStride.Step) y[i] = GeluErfMath.Forward(x[i]);
    }

    [Kernel("gelu_erf_backward", KernelGrouping.Explicit)]
    static void GeluErfBackward(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> dx, int n)
    {
        for (int i = GridStride.Start; i < n; i += GridStride.Step) dx[i] = dy[i] * GeluErfMath.Derivative(x[i]);
    }
}
