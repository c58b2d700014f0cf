using Cleft.Kernels;
using Cleft.Kernels.Ilgpu;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// The bf16 tensor-core GEMM's cross-backend case (registered in <see cref="KernelCases.All"/>). The managed side is
/// the fp32 GEMM on inputs rounded to bf16 on the host, so the only allowed difference is fp32 summation order; a
/// kernel that skipped the rounding, misplaced a fragment element or dropped an edge would be off by far more.
/// </summary>
static class TensorCoreCases
{
    /// <summary>M x N x K: none divides a tile; one row; one n8 tile across two M tiles; several tiles both ways.</summary>
    static readonly (int M, int N, int K)[] Shapes = [(37, 29, 45), (1, 70, 16), (65, 8, 33), (70, 130, 40)];

    public static readonly KernelCase GemmBf16 = new(
        "bf16 mma GEMM " + string.Join(", ", Shapes.Select(s => $"{s.M}x{s.N}x{s.K}")) + " vs fp32 GEMM of bf16-rounded inputs", s =>
    {
        var outs = new List<float[]>();
        foreach (var (m, n, k) in Shapes)
        {
            float[] a = s.Values((long)m * k), b = s.Values((long)k * n);
            var c = s.Rand((long)m * n); // stale contents: the kernel must overwrite every element
            if (s.B is IlgpuBackend ilgpu)
                ilgpu.GemmBf16(s.Upload(a), s.Upload(b), c, m, n, k);
            else
                s.B.Gemm(s.Upload(Rounded(a)), s.Upload(Rounded(b)), c, GemmShape.Contiguous(1, m, n, k));
            outs.Add(s.Read(c));
        }
        return outs;
    }, 1e-5, 1e-4);

    static float[] Rounded(float[] x) => x.Select(Bf16.Round).ToArray();
}
