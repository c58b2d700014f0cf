namespace Cleft.Kernels;

/// <summary>Exact GELU (the erf form), used by DINOv2's MLP; GPT-2's tanh form stays <see cref="IBackend.Gelu"/>.</summary>
public partial interface IBackend
{
    /// <summary>y[i] = x[i] Phi(x[i]) with Phi the standard normal CDF = (1 + erf(x / sqrt 2)) / 2 (<see cref="GeluErfMath"/>).</summary>
    void GeluErf(DeviceBuffer<float> x, DeviceBuffer<float> y, long n);

    /// <summary>dx[i] = dy[i] (Phi(x[i]) + x[i] phi(x[i])), phi the standard normal density (overwritten).</summary>
    void GeluErfBackward(DeviceBuffer<float> x, DeviceBuffer<float> dy, DeviceBuffer<float> dx, long n);
}
