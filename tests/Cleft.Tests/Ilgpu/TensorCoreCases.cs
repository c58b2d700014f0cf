using Cleft.Kernels;
using Cleft.Kernels.Ilgpu;
using Cleft.Tests.Autograd;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// The bf16 tensor-core GEMM's cross-backend case (registered in <see cref="KernelCases.All"/>). The managed side is
/// the fp32 GEMM on inputs rounded to bf16 on the host, so the only allowed difference is fp32 summation order; a
/// kernel that skipped the rounding, misplaced a fragment element or dropped an edge would be off by far more
/// (<see cref="TensorCoreGemmTests.ASwappedFragmentRegisterWouldFailTheCase"/> measures by how much).
/// </summary>
static class TensorCoreCases
{
    public const double Abs = 1e-5, Rel = 1e-4;

    /// <summary>
    /// None divides the 128x128x32 tile. All four transpose combinations; M = 1 and N = 1; batch 3 with a broadcast
    /// operand (stride 0); a weight-gradient sum (C stride 0, beta 1, so the items must run one after another);
    /// K = 0 (C = beta C); alpha != 1 and beta != 0; two tiles each way with a partial second K slab.
    /// </summary>
    static readonly GemmShape[] Shapes =
    [
        GemmShape.Contiguous(1, 37, 29, 45, alpha: 1.3f),
        GemmShape.Contiguous(1, 1, 70, 16, transA: true),
        GemmShape.Contiguous(1, 20, 1, 40, transA: true, transB: true, alpha: 0.5f, beta: -0.75f),
        GemmShape.Contiguous(3, 30, 20, 35, transB: true, broadcastB: true, alpha: 0.7f, beta: 0.5f),
        new(3, 24, 19, 27, true, false, 27L * 24, 27L * 19, 0, 1f, 1f),
        GemmShape.Contiguous(2, 9, 11, 0, beta: 0.5f),
        GemmShape.Contiguous(1, 130, 140, 40, transB: true, alpha: 0.9f, beta: -0.25f),
    ];

    public static readonly KernelCase GemmBf16 = new(
        "bf16 mma GEMM vs fp32 GEMM of bf16-rounded inputs: " + string.Join("; ", Shapes.Select(Describe)), s =>
    {
        var outs = new List<float[]>();
        foreach (var g in Shapes) outs.Add(Run(s, g));
        return outs;
    }, Abs, Rel);

    /// <summary>C after the GEMM: the bf16 kernel on ILGPU, the fp32 GEMM of host-rounded inputs on the managed backend.</summary>
    public static float[] Run(KernelCaseSession s, in GemmShape g)
    {
        float[] a = s.Values(Math.Max(1, (g.Batch - 1) * g.StrideA + (long)g.M * g.K));
        float[] b = s.Values(Math.Max(1, (g.Batch - 1) * g.StrideB + (long)g.K * g.N));
        var c = s.Rand((g.Batch - 1) * g.StrideC + (long)g.M * g.N); // stale contents: beta 0 must overwrite them
        if (s.B is IlgpuBackend ilgpu)
            ilgpu.GemmBf16(s.Upload(a), s.Upload(b), c, g);
        else
            s.B.Gemm(s.Upload(Rounded(a)), s.Upload(Rounded(b)), c, g);
        return s.Read(c);
    }

    public static float[] Rounded(float[] x) => x.Select(Bf16.Round).ToArray();

    static string Describe(GemmShape g) =>
        $"{(g.Batch > 1 ? $"{g.Batch} x " : "")}{g.M}x{g.N}x{g.K} {(g.TransA ? 'T' : 'N')}{(g.TransB ? 'T' : 'N')}" +
        (g.Batch > 1 ? $" strides {g.StrideA}/{g.StrideB}/{g.StrideC}" : "") + $" alpha {g.Alpha} beta {g.Beta}";
}

[Collection(IlgpuCollection.Name)]
public sealed class TensorCoreGemmTests(IlgpuFixture fx)
{
    /// <summary>Under Precision.Bf16 the backend's Gemm is the tensor-core kernel, and nothing else runs.</summary>
    [Fact]
    public void Bf16PrecisionRoutesGemmToTensorCores()
    {
        using var bf16 = IlgpuBackend.Create(DeviceKind.IlgpuCpu, Precision.Bf16);
        var shape = GemmShape.Contiguous(2, 17, 23, 19, transA: true, alpha: 1.5f);
        float[] got;
        using (var s = new KernelCaseSession(bf16, 7))
        {
            bf16.ClearLaunchedKernels();
            var a = s.Rand((long)shape.Batch * shape.M * shape.K); var b = s.Rand((long)shape.Batch * shape.K * shape.N);
            var c = s.Rand((long)shape.Batch * shape.M * shape.N);
            bf16.Gemm(a, b, c, shape);
            got = s.Read(c);
        }
        Assert.Equal(["gemm_bf16_mma"], bf16.LaunchedKernels);
        float[] want;
        using (var s = new KernelCaseSession(fx.Cpu, 7))
        {
            var a = s.Upload(TensorCoreCases.Rounded(s.Values((long)shape.Batch * shape.M * shape.K)));
            var b = s.Upload(TensorCoreCases.Rounded(s.Values((long)shape.Batch * shape.K * shape.N)));
            var c = s.Rand((long)shape.Batch * shape.M * shape.N);
            s.B.Gemm(a, b, c, shape);
            want = s.Read(c);
        }
        TestData.AssertClose(want.Select(v => (double)v).ToArray(), got, TensorCoreCases.Abs, TensorCoreCases.Rel, "bf16 Gemm on ilgpu-cpu");
    }

    /// <summary>
    /// The case's tolerance separates a right fragment layout from a wrong one: the kernel's output matches the
    /// host product of the rounded inputs, and is far from what the kernel would give with A fragment registers
    /// a0 and a2 swapped (rows g of every m16 tile reading k 8-15 where they should read k 0-7 and back).
    /// </summary>
    [Fact]
    public void ASwappedFragmentRegisterWouldFailTheCase()
    {
        const int M = 37, N = 29, K = 45;
        var shape = GemmShape.Contiguous(1, M, N, K);
        float[] a, b, got;
        using (var s = new KernelCaseSession(fx.Ilgpu, 11))
        {
            a = TensorCoreCases.Rounded(s.Values((long)M * K)); b = TensorCoreCases.Rounded(s.Values((long)K * N));
            var c = s.Rand((long)M * N);
            fx.Ilgpu.GemmBf16(s.Upload(a), s.Upload(b), c, shape);
            got = s.Read(c);
        }
        double[] right = Product(a, b, M, N, K, swapped: false), wrong = Product(a, b, M, N, K, swapped: true);
        TestData.AssertClose(right, got, TensorCoreCases.Abs, TensorCoreCases.Rel, "gemm_bf16_mma vs host product");
        int caught = Enumerable.Range(0, M * N).Count(i => Math.Abs(got[i] - wrong[i]) > TensorCoreCases.Abs + TensorCoreCases.Rel * Math.Abs(wrong[i]));
        int affected = Enumerable.Range(0, M * N).Count(i => right[i] != wrong[i]);
        Assert.True(affected > M * N / 3 && caught >= 0.95 * affected, $"the swap changes {affected} of {M * N} outputs; the tolerance catches {caught}");
    }

    /// <summary>Row-major A B in double; <paramref name="swapped"/>: rows r with r % 16 &lt; 8 read k ^ 8 (zero past K), as a0/a2 swapped would.</summary>
    static double[] Product(float[] a, float[] b, int m, int n, int k, bool swapped)
    {
        var c = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                {
                    int q = swapped && i % 16 < 8 ? p ^ 8 : p;
                    if (q < k) sum += (double)a[i * k + q] * b[p * n + j];
                }
                c[i * n + j] = sum;
            }
        return c;
    }
}
