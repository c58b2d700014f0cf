namespace Cleft.Kernels.Cpu;

/// <summary>Managed exact GELU (IBackend.GeluErf.cs), vectorised in CpuGelu; one writer per element, so deterministic.</summary>
public sealed partial class CpuBackend
{
    public void GeluErf(DeviceBuffer<float> x, DeviceBuffer<float> y, long n)
    {
        float[] xv = A(x), yv = A(y);
        Chunks(n, (s, len) => CpuGelu.Run<CpuGelu.ErfForward>(xv, xv, yv, s, len));
    }

    public void GeluErfBackward(DeviceBuffer<float> x, DeviceBuffer<float> dy, DeviceBuffer<float> dx, long n)
    {
        float[] xv = A(x), dv = A(dy), ov = A(dx);
        Chunks(n, (s, len) => CpuGelu.Run<CpuGelu.ErfBackward>(xv, dv, ov, s, len));
    }
}
