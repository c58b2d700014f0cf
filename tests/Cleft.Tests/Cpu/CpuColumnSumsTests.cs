using Cleft.Kernels;
using Cleft.Kernels.Cpu;

namespace Cleft.Tests.Cpu;

/// <summary>
/// Bias gradients (ReduceTo over rows), LayerScale's gradients and LayerNorm's dgamma / dbeta on the managed backend, which sum fixed blocks
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

    /// <summary>
    /// The documented order exactly, whatever the SIMD width: per block of 32 rows a float64 sum down each column, row by
    /// row, then the blocks' sums added in block order and cast once. Widths cover the 16-lane, 8-lane and scalar columns.
    /// </summary>
    [Theory]
    [InlineData(1001, 5)]
    [InlineData(70, 37)]
    [InlineData(257, 771)]
    public void BiasGradientIsTheBlockwiseFloat64SumBitForBit(int rows, int cols)
    {
        using var cpu = new CpuBackend();
        // Each column holds +2^56 and -2^56 at random rows among values below 1: the small values added while the big
        // one is in the sum vanish and the others survive, so any other order of the additions changes the result.
        var rng = new Random(cols);
        var host = Random(rows * cols, cols);
        for (int j = 0; j < cols; j++)
        {
            int up = rng.Next(rows), down = (up + 1 + rng.Next(rows - 1)) % rows;
            host[up * cols + j] = MathF.ScaleB(1f, 56);
            host[down * cols + j] = -MathF.ScaleB(1f, 56);
        }
        var x = Upload(cpu, host, out var xb);
        var yb = cpu.Allocate<float>(cols);
        cpu.ReduceTo(xb, yb, (long)rows * cols, Broadcast.Row(cols));
        var got = Download(cpu, yb, cols);
        for (int j = 0; j < cols; j++)
        {
            double total = 0;
            for (int r0 = 0; r0 < rows; r0 += 32)
            {
                double block = 0;
                for (int r = r0; r < Math.Min(rows, r0 + 32); r++) block += x[r * cols + j];
                total = r0 == 0 ? block : total + block;
            }
            Assert.True(BitConverter.SingleToInt32Bits((float)total) == BitConverter.SingleToInt32Bits(got[j]),
                $"column {j} of [{rows}, {cols}]: {got[j]:R}, blockwise float64 sum {(float)total:R}");
        }
    }

    /// <summary>
    /// LayerScale's backward in one pass (MulRowBackward) against the three it replaces (Binary, BinaryGradB, ReduceTo),
    /// bit for bit: each column of dy a holds a +2^56 / -2^56 pair among small products, so a different order of the
    /// additions, or a product rounded differently, changes the sum. Also with da written over dy, and without da.
    /// </summary>
    [Theory]
    [InlineData(1, 24)]
    [InlineData(70, 37)]
    [InlineData(1001, 5)]
    [InlineData(257, 771)]
    public void LayerScaleGradientsAreTheThreePassesBitForBit(int rows, int cols)
    {
        using var cpu = new CpuBackend();
        long n = (long)rows * cols;
        var rng = new Random(rows + cols);
        float[] a = Random((int)n, 1), dy = Random((int)n, 2);
        for (int j = 0; j < cols && rows > 1; j++)
        {
            int up = rng.Next(rows), down = (up + 1 + rng.Next(rows - 1)) % rows;
            (a[up * cols + j], dy[up * cols + j]) = (1f, MathF.ScaleB(1f, 56));
            (a[down * cols + j], dy[down * cols + j]) = (1f, -MathF.ScaleB(1f, 56));
        }
        Upload(cpu, a, out var ab);
        Upload(cpu, Random(cols, 3), out var bb);
        Upload(cpu, dy, out var gb);
        DeviceBuffer<float> wantDa = cpu.Allocate<float>(n), contribution = cpu.Allocate<float>(n), wantDb = cpu.Allocate<float>(cols);
        cpu.Binary(BinaryOp.Mul, gb, bb, wantDa, n, Broadcast.Row(cols));
        cpu.BinaryGradB(BinaryOp.Mul, ab, bb, gb, contribution, n, Broadcast.Row(cols));
        cpu.ReduceTo(contribution, wantDb, n, Broadcast.Row(cols));
        float[] da = Download(cpu, wantDa, (int)n), db = Download(cpu, wantDb, cols);

        DeviceBuffer<float> gotDa = cpu.Allocate<float>(n), gotDb = cpu.Allocate<float>(cols);
        cpu.MulRowBackward(ab, bb, gb, gotDa, gotDb, rows, cols);
        Assert.Equal(da, Download(cpu, gotDa, (int)n));
        Assert.Equal(db, Download(cpu, gotDb, cols));
        cpu.MulRowBackward(ab, bb, gb, null, gotDb, rows, cols);
        Assert.Equal(db, Download(cpu, gotDb, cols));
        cpu.MulRowBackward(ab, bb, gb, gb, gotDb, rows, cols); // da over dy
        Assert.Equal(da, Download(cpu, gb, (int)n));
        Assert.Equal(db, Download(cpu, gotDb, cols));
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
