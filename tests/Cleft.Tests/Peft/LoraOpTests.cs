using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Kernels.Cpu;
using Cleft.Tests.Autograd;
using static Cleft.Tests.Autograd.GradCheck;

namespace Cleft.Tests.Peft;

/// <summary>LoRA linear, IA3 and the fp16-weight linear: float64 references, gradient checks, dropout determinism.</summary>
public sealed class LoraOpTests
{
    const int In = 13, Out = 11, R = 3;
    const float Scaling = 32f / 8f;

    /// <summary>x W + b + s (x A^T) B^T in float64 (x [rows, in], W [in, out], A [r, in], B [out, r]).</summary>
    static double[] Reference(float[] x, float[] w, float[] b, float[] a, float[] bl, int rows, double s)
    {
        var y = new double[rows * Out];
        for (int n = 0; n < rows; n++)
        {
            var t = new double[R];
            for (int k = 0; k < R; k++) for (int i = 0; i < In; i++) t[k] += (double)x[n * In + i] * a[k * In + i];
            for (int j = 0; j < Out; j++)
            {
                double v = b[j];
                for (int i = 0; i < In; i++) v += (double)x[n * In + i] * w[i * Out + j];
                for (int k = 0; k < R; k++) v += s * t[k] * bl[j * R + k];
                y[n * Out + j] = v;
            }
        }
        return y;
    }

    static (float[] x, float[] w, float[] b, float[] a, float[] bl) Data(int rows, int seed)
    {
        var rng = new Rng((ulong)seed);
        return (TestData.NonZero(rng, rows * In), TestData.NonZero(rng, In * Out), TestData.NonZero(rng, Out),
            TestData.NonZero(rng, R * In), TestData.NonZero(rng, Out * R));
    }

    [Fact]
    public void ForwardMatchesFloat64ForFp32AndFp16BaseWeights()
    {
        var (x, w, b, a, bl) = Data(2 * 5, 1);
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var xt = Tensor.FromArray(dev, x, 2, 5, In);
        Tensor W = Tensor.FromArray(dev, w, In, Out), B = Tensor.FromArray(dev, b, Out), A = Tensor.FromArray(dev, a, R, In), Bl = Tensor.FromArray(dev, bl, Out, R);
        var y = Ops.LoraLinear(xt, W, B, A, Bl, Scaling, 0f, 0);
        Assert.Equal([2, 5, Out], y.Shape);
        TestData.AssertClose(Reference(x, w, b, a, bl, 10, Scaling), y, 1e-4, 1e-5, "LoraLinear fp32 base");

        // fp16 base: exact against the float64 reference on the fp16-rounded weights; within fp16 rounding of fp32.
        using var wh = new HalfTensor(dev, w, In, Out);
        var yh = Ops.LoraLinear(xt, wh, B, A, Bl, Scaling, 0f, 0);
        TestData.AssertClose(Reference(x, wh.ToArray(), b, a, bl, 10, Scaling), yh, 1e-4, 1e-5, "LoraLinear fp16 base vs rounded weights");
        TestData.AssertClose(Reference(x, w, b, a, bl, 10, Scaling), yh, 2e-2, 2e-3, "LoraLinear fp16 base vs fp32 weights");
    }

    [Fact]
    public void GradientsReachXAAndBOnly()
    {
        var (x, w, b, a, bl) = Data(7, 2);
        foreach (float p in new[] { 0f, 0.3f })
            Run(t => Ops.LoraLinear(t[0], t[1], t[2], t[3], t[4], Scaling, p, 99UL),
                [In(x, 7, In), Const(w, In, Out), Const(b, Out), In(a, R, In), In(bl, Out, R)], 1e-2, 2e-3, 2e-3);
        // The fp16 base path: dx goes through the widened weight.
        Run(t =>
        {
            var wh = new HalfTensor(t[0].Device, w, In, Out);
            return Ops.LoraLinear(t[0], wh, null, t[1], t[2], Scaling, 0.2f, 5UL);
        }, [In(x, 7, In), In(a, R, In), In(bl, Out, R)], 1e-2, 2e-3, 2e-3);
    }

    [Fact]
    public void FrozenBaseWeightOrBiasRequiringGradIsRefused()
    {
        var (x, w, b, a, bl) = Data(3, 3);
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var W = Tensor.FromArray(dev, w, In, Out); W.RequiresGrad = true;
        var e = Assert.Throws<ArgumentException>(() => Ops.LoraLinear(Tensor.FromArray(dev, x, 3, In), W, null,
            Tensor.FromArray(dev, a, R, In), Tensor.FromArray(dev, bl, Out, R), Scaling, 0f, 0));
        Assert.Contains("LoraLinear", e.Message);
        var e2 = Assert.Throws<ArgumentException>(() => Ops.LoraLinear(Tensor.FromArray(dev, x, 3, In), Tensor.FromArray(dev, w, In, Out), null,
            Tensor.Full(dev, 1f, R, In - 1), Tensor.FromArray(dev, bl, Out, R), Scaling, 0f, 0));
        Assert.Contains("lora_A", e2.Message);
    }

    [Fact]
    public void DropoutIsDeterministicBySeedAndAppliesOnlyToTheLowRankInput()
    {
        var (x, w, b, a, bl) = Data(6, 4);
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var xt = Tensor.FromArray(dev, x, 6, In);
        Tensor W = Tensor.FromArray(dev, w, In, Out), B = Tensor.FromArray(dev, b, Out), A = Tensor.FromArray(dev, a, R, In), Bl = Tensor.FromArray(dev, bl, Out, R);
        float[] Y(float p, ulong seed) => Ops.LoraLinear(xt, W, B, A, Bl, Scaling, p, seed).ToArray();
        Assert.Equal(Y(0.5f, 11), Y(0.5f, 11));
        Assert.NotEqual(Y(0.5f, 11), Y(0.5f, 12));
        Assert.NotEqual(Y(0f, 0), Y(0.5f, 11));
        // Reference: the base path sees x, the low-rank path sees the counter-RNG dropout of x.
        var xd = Reference64.Dropout(x, 0.5f, 11).Select(v => (float)v).ToArray();
        var expected = Reference(x, w, b, a, bl, 6, Scaling);
        var noBase = Reference(x, w, b, a, new float[bl.Length], 6, Scaling);
        var lowRank = Reference(xd, new float[w.Length], new float[Out], a, bl, 6, Scaling);
        var want = expected.Select((_, i) => noBase[i] + lowRank[i]).ToArray();
        TestData.AssertClose(want, Y(0.5f, 11), 1e-4, 1e-5, "LoraLinear with dropout 0.5");
    }

    [Fact]
    public void Ia3ForwardAndGradient()
    {
        var rng = new Rng(5);
        var x = TestData.NonZero(rng, 3 * 4 * 9); var l = TestData.NonZero(rng, 9);
        using (var dev = new CpuBackend())
        using (new TensorScope())
        {
            var y = Ops.Ia3(Tensor.FromArray(dev, x, 3, 4, 9), Tensor.FromArray(dev, l, 9));
            TestData.AssertClose(Reference64.Binary('*', x, [3, 4, 9], l, [9]), y, 1e-6, 1e-6, "Ia3");
        }
        Run(t => Ops.Ia3(t[0], t[1]), [In(x, 3, 4, 9), In(l, 9)], 1e-2, 1e-3, 1e-3);
    }

    [Fact]
    public void LinearHalfGradientFlowsToXAndBias()
    {
        var (x, w, b, _, _) = Data(5, 6);
        Run(t => Ops.LinearHalf(t[0], new HalfTensor(t[0].Device, w, In, Out), t[1]), [In(x, 5, In), In(b, Out)], 1e-2, 2e-3, 2e-3);
    }

    [Theory]
    [InlineData(1, 1, 1, 1, false)]
    [InlineData(1, 7, 2560, 33, false)]
    [InlineData(2, 37, 29, 53, true)]
    [InlineData(1, 130, 150, 300, false)]
    [InlineData(1, 130, 150, 300, true)]
    [InlineData(1, 20, 40, 1100, true)] // three k blocks: the transposed fp16 pack from k offsets
    public void HalfBGemmMatchesFloat64OnTheWidenedWeight(int batch, int m, int n, int k, bool transB)
    {
        var rng = new Rng(8);
        var a = TestData.NonZero(rng, (long)batch * m * k);
        var h = HalfConvert.ToHalf(TestData.NonZero(rng, (long)batch * k * n));
        var wide = HalfConvert.ToSingle(h);
        var s = GemmShape.Contiguous(batch, m, n, k, transB: transB, alpha: 0.75f, beta: 0.5f);
        var c0 = TestData.NonZero(rng, (long)batch * m * n);
        var c = (float[])c0.Clone();
        CpuGemm.MultiplyHalfB(a, h, c, s);
        var ab = Reference64.MatMul(a, wide, batch, m, n, k, false, transB, false);
        TestData.AssertClose(ab.Select((v, i) => 0.75 * v + 0.5 * c0[i]).ToArray(), c, 1e-5 * Math.Sqrt(k), 1e-5, $"half-B GEMM {batch}x{m}x{n}x{k}");
        // Large enough for the packed route in both: then the fp32 GEMM on the widened weight gives the same bits.
        if ((long)m * n * k > 32 * 32 * 32 && m >= 4 && n >= 8)
        {
            var c2 = (float[])c0.Clone();
            CpuGemm.Multiply(a, wide, c2, s);
            Assert.Equal(c2, c);
        }
    }
}
