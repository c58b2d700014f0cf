using ILGPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Inverted dropout. The mask is a pure function of (seed, element index) through <see cref="CounterRng"/>, the
/// same code the managed backend runs, so both devices drop the same elements and the backward pass is this
/// same kernel applied to dy (no mask is stored).
/// </summary>
static class DropoutKernels
{
    [Kernel("dropout", KernelGrouping.Explicit)]
    static void Dropout(ArrayView<float> x, ArrayView<float> y, int n, float p, ulong seed)
    {
        for (int i = GridStride.Start; i < n; i += GridStride.Step)
            y[i] = CounterRng.DropoutValue(x[i], p, seed, i);
    }
}
