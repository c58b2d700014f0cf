using Cleft.Kernels;
using Cleft.Kernels.Cpu;

namespace Cleft.Tests.Cpu;

/// <summary>
/// Bias gradients (ReduceTo over rows) and LayerNorm's dgamma / dbeta on the managed backend, which sum fixed blocks
/// of 32 rows in float64 and add the partials in block order: against float64 column sums, with row counts that
/// leave a ragged last block. The only float32 rounding is the final cast (and, for dgamma, the float32 product
/// dy * xhat per element), so 1e-6 relative to the sum of magnitudes bounds it.
/// </summary>
public class CpuColumnSumsTests
{
    static float[] Random(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(2 * rng.NextDouble() - 1)).ToArray();
    }

    static float[] Upload(CpuBackend cpu, float[] host, out DeviceBuffer<float> buffer)
    {
        buffer = cpu.Allocate<float>(host.Length);
        cpu.CopyFromHost<float>(host, buffer);
        return host;
    }

    static float[] Download(CpuBackend cpu, DeviceBuffer<float> buffer, int n)
    {
        var host = new float[n];
        cpu.CopyToHost<float>(buffer, host);
        return host;
    }

    static void AssertColumns(double[] want, double[] scale, float[] got, string what)
    {
        for (int j = 0; j < want.Length; j++)
            if (!(Math.Abs(got[j] - want[j]) <= 1e-6 * scale[j]))
                Assert.Fail($"{what}: column {j} is {got[j]:R}, float64 sum {want[j]:R}");
    }

    [Theory]
    [InlineData(1, 5)]
    [InlineData(31, 7)]
    [InlineData(1001, 37)]
    public void BiasGradientMatchesFloat64(int rows, int cols)
    {
        using var cpu = new CpuBackend();
        var x = Upload(cpu, Random(rows * cols, rows), out var xb);
        var yb = cpu.Allocate<float>(cols);
        cpu.ReduceTo(xb, yb, (long)rows * cols, Broadcast.Row(cols));
        var want = new double[cols]; var scale = new double[cols];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) { want[j] += x[r * cols + j]; scale[j] += Math.Abs(x[r * cols + j]); }
        AssertColumns(want, scale, Download(cpu, yb, cols), $"bias gradient [{rows}, {cols}]");
    }

    [Theory]
    [InlineData(3, 8)]
    [InlineData(97, 24)]
    public void LayerNormParameterGradientsMatchFloat64(int rows, int cols)
    {
        using var cpu = new CpuBackend();
        var x = Upload(cpu, Random(rows * cols, 1), out var xb);
        Upload(cpu, Random(cols, 2), out var gb);
        Upload(cpu, Random(cols, 3), out var bb);
        var dy = Upload(cpu, Random(rows * cols, 4), out var db);
        DeviceBuffer<float> yb = cpu.Allocate<float>(rows * cols), mb = cpu.Allocate<float>(rows), rb = cpu.Allocate<float>(rows);
        DeviceBuffer<float> dxb = cpu.Allocate<float>(rows * cols), dgb = cpu.Allocate<float>(cols), dbb = cpu.Allocate<float>(cols);
        cpu.LayerNorm(xb, gb, bb, yb, mb, rb, rows, cols, 1e-5f);
        cpu.LayerNormBackward(xb, gb, mb, rb, db, dxb, dgb, dbb, rows, cols);
        float[] mean = Download(cpu, mb, rows), rstd = Download(cpu, rb, rows);
        var wantG = new double[cols]; var wantB = new double[cols]; var scaleG = new double[cols]; var scaleB = new double[cols];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++)
            {
                double d = dy[r * cols + j], xh = (x[r * cols + j] - (double)mean[r]) * rstd[r];
                wantG[j] += d * xh; scaleG[j] += Math.Abs(d * xh);
                wantB[j] += d; scaleB[j] += Math.Abs(d);
            }
        AssertColumns(wantG, scaleG, Download(cpu, dgb, cols), $"LayerNorm dgamma [{rows}, {cols}]");
        AssertColumns(wantB, scaleB, Download(cpu, dbb, cols), $"LayerNorm dbeta [{rows}, {cols}]");
    }
}
