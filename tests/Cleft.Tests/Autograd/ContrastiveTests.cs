using System.Text.Json;
using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using static Cleft.Tests.Autograd.GradCheck;

namespace Cleft.Tests.Autograd;

/// <summary>
/// The similarity losses and L2Normalize: float64 reference forwards (written from the definitions),
/// gradient checks and the open_clip-style PyTorch fixture (tests/fixtures/generators/contrastive.py).
/// </summary>
public sealed class ContrastiveTests
{
    /// <summary>Float64 reference: weight * (mean row CE + [symmetric] mean column CE) of exp(s) a b^T.</summary>
    public static double SimilarityLoss64(float[] a, float[] b, int n, int m, int d, double s, int[]? labels, bool symmetric, double weight)
    {
        var L = new double[n, m];
        double t = Math.Exp(s);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++)
            {
                double acc = 0;
                for (int k = 0; k < d; k++) acc += (double)a[i * d + k] * b[j * d + k];
                L[i, j] = t * acc;
            }
        double rows = 0, cols = 0;
        for (int i = 0; i < n; i++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int j = 0; j < m; j++) max = Math.Max(max, L[i, j]);
            for (int j = 0; j < m; j++) sum += Math.Exp(L[i, j] - max);
            rows += max + Math.Log(sum) - L[i, labels?[i] ?? i];
        }
        if (symmetric)
            for (int j = 0; j < m; j++)
            {
                double max = double.NegativeInfinity, sum = 0;
                for (int i = 0; i < n; i++) max = Math.Max(max, L[i, j]);
                for (int i = 0; i < n; i++) sum += Math.Exp(L[i, j] - max);
                cols += max + Math.Log(sum) - L[j, j];
            }
        return weight * (rows / n + (symmetric ? cols / m : 0));
    }

    static float[] Unit(float[] x, int cols)
    {
        var y = (float[])x.Clone();
        for (int r = 0; r < x.Length / cols; r++)
        {
            double nr = 0;
            for (int c = 0; c < cols; c++) nr += (double)x[r * cols + c] * x[r * cols + c];
            for (int c = 0; c < cols; c++) y[r * cols + c] = (float)(x[r * cols + c] / Math.Sqrt(nr));
        }
        return y;
    }

    [Theory]
    [InlineData(13, 37, false, 2.6593f)]
    [InlineData(13, 37, true, 2.6593f)]
    [InlineData(1, 3, false, 0f)]
    [InlineData(40, 7, true, 4.6f)]
    public void ContrastiveForwardMatchesFloat64(int n, int d, bool sum, float scale)
    {
        var rng = new Rng((ulong)(n * 100 + d));
        float[] a = Unit(TestData.NonZero(rng, n * d), d), b = Unit(TestData.NonZero(rng, n * d), d);
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var loss = Ops.ContrastiveLoss(Tensor.FromArray(dev, a, n, d), Tensor.FromArray(dev, b, n, d), Tensor.Full(dev, scale, 1), sum);
        double expected = SimilarityLoss64(a, b, n, n, d, scale, null, true, sum ? 1 : 0.5);
        Assert.Equal(expected, loss.Item(), 1e-4 * Math.Max(1, Math.Abs(expected)));
    }

    [Fact]
    public void ClassificationForwardMatchesFloat64()
    {
        int n = 11, k = 5, d = 9;
        var rng = new Rng(3);
        float[] a = TestData.NonZero(rng, n * d), c = TestData.NonZero(rng, k * d);
        int[] labels = Enumerable.Range(0, n).Select(i => (i * 7 + 2) % k).ToArray();
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        using var lab = IntTensor.FromArray(dev, labels, n);
        var loss = Ops.ClassificationLoss(Tensor.FromArray(dev, a, n, d), Tensor.FromArray(dev, c, k, d), lab, Tensor.Full(dev, 0.3f, 1));
        double expected = SimilarityLoss64(a, c, n, k, d, 0.3, labels, false, 1);
        Assert.Equal(expected, loss.Item(), 1e-4 * Math.Max(1, Math.Abs(expected)));
    }

    [Fact]
    public void L2NormalizeMatchesFloat64AndChecksGradient()
    {
        var rng = new Rng(5);
        var x = TestData.NonZero(rng, 5 * 7);
        using var dev = new CpuBackend();
        using (new TensorScope())
        {
            var y = Ops.L2Normalize(Tensor.FromArray(dev, x, 5, 7));
            TestData.AssertClose(Unit(x, 7).Select(v => (double)v).ToArray(), y, 1e-6, 1e-5, "L2Normalize");
        }
        Run(t => Ops.L2Normalize(t[0]), [In(x, 5, 7)], step: 1e-3, atol: 1e-3, rtol: 1e-2);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ContrastiveGradientCheck(bool sum)
    {
        int n = 6, d = 5;
        var rng = new Rng(9);
        // Raw embeddings through L2Normalize: the way the loss is used, and a check of both ops' backward.
        Run(t => Ops.ContrastiveLoss(Ops.L2Normalize(t[0]), Ops.L2Normalize(t[1]), t[2], sum),
            [In(TestData.NonZero(rng, n * d), n, d), In(TestData.NonZero(rng, n * d), n, d), In([1.3f], 1)],
            step: 1e-3, atol: 2e-3, rtol: 1e-2);
        // Unnormalised inputs exercise the op's own formula without the normalisation's projection.
        Run(t => Ops.ContrastiveLoss(t[0], t[1], t[2], sum),
            [In(TestData.NonZero(rng, n * d), n, d), In(TestData.NonZero(rng, n * d), n, d), In([-1.1f], 1)],
            step: 1e-3, atol: 2e-3, rtol: 1e-2);
    }

    [Fact]
    public void ClassificationGradientCheck()
    {
        int n = 7, k = 3, d = 4;
        var rng = new Rng(12);
        using var dev = new CpuBackend();
        using var labels = IntTensor.FromArray(dev, [0, 2, 1, 1, 0, 2, 2], n);
        Run(dev, t => Ops.ClassificationLoss(t[0], t[1], labels, t[2]),
            [In(TestData.NonZero(rng, n * d), n, d), In(TestData.NonZero(rng, k * d), k, d), In([0.4f], 1)],
            step: 1e-3, atol: 2e-3, rtol: 1e-2);
    }

    [Fact]
    public void ShapeErrorsNameTheOp()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var e = Assert.Throws<ArgumentException>(() => Ops.ContrastiveLoss(Tensor.Zeros(dev, 4, 3), Tensor.Zeros(dev, 5, 3), Tensor.Zeros(dev, 1)));
        Assert.Contains("ContrastiveLoss", e.Message);
        using var bad = IntTensor.FromArray(dev, [0, 3], 2);
        e = Assert.Throws<ArgumentException>(() => Ops.ClassificationLoss(Tensor.Zeros(dev, 2, 3), Tensor.Zeros(dev, 3, 3), bad, Tensor.Zeros(dev, 1)));
        Assert.Contains("ClassificationLoss", e.Message);
    }

    // ---- the PyTorch fixture ----
    internal static JsonElement Fixture(string section)
    {
        var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "contrastive.json")));
        return doc.RootElement.GetProperty(section);
    }

    internal static float[] F(JsonElement e) => e.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray();
    internal static double[] D(JsonElement e) => e.EnumerateArray().Select(v => v.GetDouble()).ToArray();

    [Theory]
    [InlineData("mean")]
    [InlineData("sum")]
    public void ClipLossMatchesPyTorch(string reduction)
    {
        var f = Fixture("contrastive");
        int n = f.GetProperty("n").GetInt32(), d = f.GetProperty("d").GetInt32();
        var r = f.GetProperty(reduction);
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var img = Tensor.FromArray(dev, F(f.GetProperty("img")), n, d); img.RequiresGrad = true;
        var txt = Tensor.FromArray(dev, F(f.GetProperty("txt")), n, d); txt.RequiresGrad = true;
        var s = Tensor.Full(dev, (float)f.GetProperty("scale").GetDouble(), 1); s.RequiresGrad = true;
        var loss = Ops.ContrastiveLoss(Ops.L2Normalize(img), Ops.L2Normalize(txt), s, sum: reduction == "sum");
        loss.Backward();
        Assert.Equal(r.GetProperty("loss").GetDouble(), loss.Item(), 1e-5);
        TestData.AssertClose(D(r.GetProperty("d_img")), img.Grad!, 1e-5, 1e-4, "d img");
        TestData.AssertClose(D(r.GetProperty("d_txt")), txt.Grad!, 1e-5, 1e-4, "d txt");
        TestData.AssertClose([r.GetProperty("d_scale").GetDouble()], s.Grad!, 1e-5, 1e-4, "d scale");
    }

    [Fact]
    public void ClassificationLossMatchesPyTorch()
    {
        var f = Fixture("classification");
        int n = f.GetProperty("n").GetInt32(), k = f.GetProperty("k").GetInt32(), d = f.GetProperty("d").GetInt32();
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        using var labels = IntTensor.FromArray(dev, f.GetProperty("labels").EnumerateArray().Select(v => v.GetInt32()).ToArray(), n);
        var img = Tensor.FromArray(dev, F(f.GetProperty("img")), n, d); img.RequiresGrad = true;
        var cls = Tensor.FromArray(dev, F(f.GetProperty("cls")), k, d); cls.RequiresGrad = true;
        var s = Tensor.Full(dev, (float)f.GetProperty("scale").GetDouble(), 1); s.RequiresGrad = true;
        var loss = Ops.ClassificationLoss(Ops.L2Normalize(img), Ops.L2Normalize(cls), labels, s);
        loss.Backward();
        Assert.Equal(f.GetProperty("loss").GetDouble(), loss.Item(), 1e-5);
        TestData.AssertClose(D(f.GetProperty("d_img")), img.Grad!, 1e-5, 1e-4, "d img");
        TestData.AssertClose(D(f.GetProperty("d_cls")), cls.Grad!, 1e-5, 1e-4, "d cls");
        TestData.AssertClose([f.GetProperty("d_scale").GetDouble()], s.Grad!, 1e-5, 1e-4, "d scale");
    }
}
