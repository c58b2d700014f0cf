using Cleft.Kernels;
using Half = ILGPU.Half;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// Cross-backend cases for the LoRA / IA3 / fp16-weight ops (registered in <see cref="KernelCases.All"/> and, for
/// LoRA's GEMM-built ops, <see cref="KernelCases.Composed"/>): odd sizes (rows 37, in 53, out 29, rank 3), never-zero
/// inputs, dropout 0 and 0.3. 37 rows make the gradient of lora_A a split-K GEMM of a full 32-row slice and a 5-row
/// remainder, so the splits' fixed-order sum runs too.
/// </summary>
static class LoraKernelCases
{
    const int Rows = 37, In = 53, Out = 29, Rank = 3;

    static DeviceBuffer<Half> HalfRand(KernelCaseSession s, long n)
    {
        var h = HalfConvert.ToHalf(s.Values(n));
        var b = s.B.Allocate<Half>(n);
        s.B.CopyFromHost<Half>(h, b);
        return b; // released with the backend's pool at fixture end; a few KB
    }

    public static readonly KernelCase GemmHalfB = new("fp16-B GEMM 3x37x29x53, all transposes, beta 0 and 0.5; a shared weight", s =>
    {
        var outs = new List<float[]>();
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
                foreach (float beta in new[] { 0f, 0.5f })
                {
                    var g = GemmShape.Contiguous(3, Rows, Out, In, ta, tb, alpha: 1.3f, beta: beta);
                    var a = s.Rand(3L * Rows * In); var b = HalfRand(s, 3L * In * Out); var c = s.Rand(3L * Rows * Out);
                    s.B.GemmHalfB(a, b, c, g);
                    outs.Add(s.Read(c));
                    s.B.Release(b);
                }
        var x = s.Rand(130L * 70); var w = HalfRand(s, 70L * 150); var y = s.Rand(130L * 150);
        s.B.GemmHalfB(x, w, y, GemmShape.Contiguous(1, 130, 150, 70));
        outs.Add(s.Read(y));
        s.B.Release(w);
        return outs;
    }, 1e-5, 1e-5);

    // The managed backend adds the bias as the GEMM stores C; ILGPU's runs the interface's default, GEMM then add.
    public static readonly KernelCase GemmHalfBBias = new("fp16-B GEMM [130,70] x [70,150] plus a bias, both layouts of W", s =>
    {
        var outs = new List<float[]>();
        foreach (bool tb in new[] { false, true })
        {
            var x = s.Rand(130L * 70); var w = HalfRand(s, 70L * 150); var bias = s.Rand(150); var y = s.Rand(130L * 150);
            s.B.GemmHalfBBias(x, w, bias, y, GemmShape.Contiguous(1, 130, 150, 70, transB: tb));
            outs.Add(s.Read(y));
            s.B.Release(w);
        }
        return outs;
    }, 1e-5, 1e-5);

    public static readonly KernelCase Down = new("t = dropout(x) A^T, [37,53] x [3,53]^T, p 0 and 0.3", s =>
    {
        var x = s.Rand(Rows * In); var a = s.Rand(Rank * In);
        var outs = new List<float[]>();
        foreach (float p in new[] { 0f, 0.3f })
        {
            var t = s.Rand(Rows * Rank);
            s.B.LoraDown(x, a, t, Rows, In, Rank, p, 77UL);
            outs.Add(s.Read(t));
        }
        return outs;
    }, 1e-5, 1e-5);

    public static readonly KernelCase GradA = new("dA = dt^T dropout(x), p 0 and 0.3", s =>
    {
        var x = s.Rand(Rows * In); var dt = s.Rand(Rows * Rank);
        var outs = new List<float[]>();
        foreach (float p in new[] { 0f, 0.3f })
        {
            var da = s.Rand(Rank * In);
            s.B.LoraGradA(x, dt, da, Rows, In, Rank, p, 78UL);
            outs.Add(s.Read(da));
        }
        return outs;
    }, 1e-5, 1e-5);

    public static readonly KernelCase GradX = new("dx += dropout'(dt A) into a non-zero dx, p 0 and 0.3", s =>
    {
        var a = s.Rand(Rank * In); var dt = s.Rand(Rows * Rank);
        var outs = new List<float[]>();
        foreach (float p in new[] { 0f, 0.3f })
        {
            var dx = s.Rand(Rows * In);
            s.B.LoraGradX(a, dt, dx, Rows, In, Rank, p, 79UL);
            outs.Add(s.Read(dx));
        }
        return outs;
    }, 1e-5, 1e-5);

    public static readonly KernelCase Ia3 = new("IA3 backward on [37,53]: dl column sums and dx = dy l, also with dx aliasing dy", s =>
    {
        var x = s.Rand(Rows * In); var l = s.Rand(In); var dy = s.Rand(Rows * In);
        var dx = s.Rand(Rows * In); var dl = s.Rand(In);
        s.B.Ia3Backward(x, l, dy, dx, dl, Rows, In);
        var outs = new List<float[]> { s.Read(dx), s.Read(dl) };
        s.B.Ia3Backward(x, l, dy, dy, dl, Rows, In);
        outs.AddRange([s.Read(dy), s.Read(dl)]);
        return outs;
    }, 1e-5, 1e-5);
}
