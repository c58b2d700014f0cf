using System.Numerics.Tensors;
using Cleft.Kernels;
using Cleft.Kernels.Cpu;

namespace Cleft.Tests.Cpu;

/// <summary>
/// The managed LayerNorm's row loops (LayerNormRows) against the plain formulation they replaced: one TensorPrimitives
/// call per step of a row, dgamma / dbeta summed in float per 32-row block and in float64 across blocks. Bit for bit,
/// at widths that leave a scalar tail (13, 200) and the models' (192, 768), with a ragged last block. The float64
/// accuracy of the same kernels is CpuColumnSumsTests' and the op tests'.
/// </summary>
public class CpuLayerNormTests
{
    const float Eps = 1e-5f;

    static float[] Random(int n, int seed, double scale)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)((2 * rng.NextDouble() - 1) * scale)).ToArray();
    }

    /// <summary>y, mean, rstd, dx, dgamma, dbeta by one TensorPrimitives call per step.</summary>
    static (float[] Y, float[] Dx, float[] Dg, float[] Db) Plain(float[] x, float[] gamma, float[] beta, float[] dy, int rows, int cols)
    {
        var y = new float[rows * cols]; var dx = new float[rows * cols];
        var mean = new float[rows]; var rstd = new float[rows];
        for (int r = 0; r < rows; r++)
        {
            var xi = x.AsSpan(r * cols, cols); var yi = y.AsSpan(r * cols, cols);
            float mu = TensorPrimitives.Sum(xi) / cols;
            TensorPrimitives.Subtract(xi, mu, yi);
            float rs = 1f / MathF.Sqrt(TensorPrimitives.Dot(yi, yi) / cols + Eps);
            mean[r] = mu; rstd[r] = rs;
            TensorPrimitives.Multiply(yi, rs, yi);
            TensorPrimitives.FusedMultiplyAdd(yi, gamma, beta, yi);
        }
        var dg = new double[cols]; var db = new double[cols];
        var xh = new float[cols]; var g = new float[cols];
        for (int first = 0; first < rows; first += 32)
        {
            var pg = new float[cols]; var pb = new float[cols];
            for (int r = first; r < Math.Min(rows, first + 32); r++)
            {
                var xr = x.AsSpan(r * cols, cols); var dr = dy.AsSpan(r * cols, cols); var o = dx.AsSpan(r * cols, cols);
                TensorPrimitives.Subtract(xr, mean[r], xh);
                TensorPrimitives.Multiply(xh, rstd[r], xh);
                TensorPrimitives.Multiply(dr, gamma, g);
                float mg = TensorPrimitives.Sum(g) / cols, mgx = TensorPrimitives.Dot(g, xh) / cols;
                TensorPrimitives.FusedMultiplyAdd(dr, xh, pg, pg);
                TensorPrimitives.Add(pb, dr, pb);
                TensorPrimitives.FusedMultiplyAdd(xh, -mgx, g, o);
                TensorPrimitives.Subtract(o, mg, o);
                TensorPrimitives.Multiply(o, rstd[r], o);
            }
            for (int j = 0; j < cols; j++) { dg[j] += pg[j]; db[j] += pb[j]; }
        }
        return (y, dx, dg.Select(v => (float)v).ToArray(), db.Select(v => (float)v).ToArray());
    }

    static void SameBits(float[] want, float[] got, string what)
    {
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++)
            if (BitConverter.SingleToInt32Bits(want[i]) != BitConverter.SingleToInt32Bits(got[i]))
                Assert.Fail($"{what}: element {i} is {got[i]:R}, the plain formulation gives {want[i]:R}");
    }

    [Theory]
    [InlineData(5, 13)]
    [InlineData(37, 200)]
    [InlineData(70, 192)]
    [InlineData(33, 768)]
    public void RowLoopsGiveThePlainFormulationsBits(int rows, int cols)
    {
        var x = Random(rows * cols, 1, 3); var gamma = Random(cols, 2, 2); var beta = Random(cols, 3, 1); var dy = Random(rows * cols, 4, 2);
        var want = Plain(x, gamma, beta, dy, rows, cols);

        using var cpu = new CpuBackend();
        DeviceBuffer<float> Up(float[] h) { var b = cpu.Allocate<float>(h.Length); cpu.CopyFromHost<float>(h, b); return b; }
        float[] Down(DeviceBuffer<float> b, int n) { var h = new float[n]; cpu.CopyToHost<float>(b, h); return h; }
        var xb = Up(x); var gb = Up(gamma); var bb = Up(beta); var dyb = Up(dy);
        var yb = cpu.Allocate<float>(rows * cols); var mb = cpu.Allocate<float>(rows); var rb = cpu.Allocate<float>(rows);
        var dxb = cpu.Allocate<float>(rows * cols); var dgb = cpu.Allocate<float>(cols); var dbb = cpu.Allocate<float>(cols);
        cpu.LayerNorm(xb, gb, bb, yb, mb, rb, rows, cols, Eps);
        cpu.LayerNormBackward(xb, gb, mb, rb, dyb, dxb, dgb, dbb, rows, cols);

        SameBits(want.Y, Down(yb, rows * cols), $"y [{rows}, {cols}]");
        SameBits(want.Dx, Down(dxb, rows * cols), $"dx [{rows}, {cols}]");
        SameBits(want.Dg, Down(dgb, cols), $"dgamma [{rows}, {cols}]");
        SameBits(want.Db, Down(dbb, cols), $"dbeta [{rows}, {cols}]");
    }
}
