using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Kernels.Cpu;
using Cleft.Kernels.Ilgpu;
using Cleft.Tests.Autograd;
using ILGPU;
using ILGPU.Runtime;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// ILGPU-vs-managed cases for the similarity-loss, L2-normalise and optimizer kernels, keyed by catalogue
/// name: odd shapes, random never-zero inputs, each kernel run on the given accelerator (ILGPU's CPU
/// accelerator in tests) and compared with CpuBackend. Written as a dictionary so the cross-backend test
/// table can take these entries over when it lands.
/// </summary>
public static class ContrastiveKernelCases
{
    const double Atol = 2e-5, Rtol = 2e-4;

    public static readonly IReadOnlyDictionary<string, Action<Accelerator>> Cases = new Dictionary<string, Action<Accelerator>>
    {
        ["similarity_logits"] = acc => { Similarity(acc, contrastive: true); Similarity(acc, contrastive: false); },
        ["similarity_lse"] = acc => Similarity(acc, contrastive: true),
        ["similarity_loss"] = acc => Similarity(acc, contrastive: false),
        ["similarity_grad_a"] = acc => Similarity(acc, contrastive: true),
        ["similarity_grad_b"] = acc => Similarity(acc, contrastive: false),
        ["similarity_scale_grad"] = acc => Similarity(acc, contrastive: true),
        ["l2_normalize"] = L2Normalize,
        ["l2_normalize_backward"] = L2Normalize,
        ["adamw_step"] = AdamW,
        ["sgd_step"] = acc => Sgd(acc, 0f),
        ["sgd_momentum_step"] = acc => Sgd(acc, 0.9f),
        ["clamp"] = Clamp,
        ["sum_squares"] = Clip,
        ["clip_coefficient"] = Clip,
    };

    static MemoryBuffer1D<T, Stride1D.Dense> Up<T>(Accelerator acc, T[] data) where T : unmanaged => acc.Allocate1D(data);
    static MemoryBuffer1D<float, Stride1D.Dense> Zeros(Accelerator acc, long n) => acc.Allocate1D<float>(n);

    static void Close(DeviceBuffer<float> managed, CpuBackend cpu, MemoryBuffer1D<float, Stride1D.Dense> ilgpu, string what)
    {
        var expected = new float[managed.Length];
        cpu.CopyToHost(managed, expected);
        TestData.AssertClose(expected.Select(v => (double)v).ToArray(), ilgpu.GetAsArray1D(), Atol, Rtol, what);
    }

    static DeviceBuffer<T> Managed<T>(CpuBackend cpu, T[] data) where T : unmanaged
    {
        var b = cpu.Allocate<T>(data.Length);
        cpu.CopyFromHost<T>(data, b);
        return b;
    }

    /// <summary>Forward and backward of the whole family at once (each kernel's output is checked).</summary>
    static void Similarity(Accelerator acc, bool contrastive)
    {
        int n = contrastive ? 13 : 11, m = contrastive ? 13 : 5, d = contrastive ? 37 : 19;
        var s = contrastive ? SimilarityLoss.Contrastive(n, d, sum: false) : SimilarityLoss.Classification(n, m, d);
        var rng = new Rng((ulong)(n * 31 + d));
        float[] a = TestData.NonZero(rng, n * d).Select(v => v * 0.3f).ToArray(), b = TestData.NonZero(rng, m * d).Select(v => v * 0.3f).ToArray();
        int[] labels = Enumerable.Range(0, n).Select(i => (i * 3 + 1) % m).ToArray();
        float[] scale = [0.7f], dloss = [1.3f];
        using var cpu = new CpuBackend();
        var ma = Managed(cpu, a); var mb = Managed(cpu, b); var ms = Managed(cpu, scale); var ml = Managed(cpu, labels); var mg = Managed(cpu, dloss);
        var mL = cpu.Allocate<float>(n * m); var mr = cpu.Allocate<float>(n); var mc = cpu.Allocate<float>(m); var mloss = cpu.Allocate<float>(1);
        var mda = cpu.Allocate<float>(n * d); var mdb = cpu.Allocate<float>(m * d); var mds = cpu.Allocate<float>(1);
        cpu.SimilarityLossForward(ma, mb, ms, contrastive ? null : ml, mL, mr, mc, mloss, s);
        cpu.SimilarityLossBackward(ma, mb, ms, contrastive ? null : ml, mL, mr, mc, mg, mda, mdb, mds, s);

        using var ga = Up(acc, a); using var gb = Up(acc, b); using var gs = Up(acc, scale); using var gl = Up(acc, labels); using var gg = Up(acc, dloss);
        using var gL = Zeros(acc, n * m); using var gr = Zeros(acc, n); using var gc = Zeros(acc, m); using var gt = Zeros(acc, n + m); using var gloss = Zeros(acc, 1);
        using var gda = Zeros(acc, n * d); using var gdb = Zeros(acc, m * d); using var gds = Zeros(acc, 1);
        ContrastiveLaunch.Forward(acc, ga.View, gb.View, gs.View, gl.View, gL.View, gr.View, gc.View, gt.View, gloss.View, s);
        ContrastiveLaunch.Backward(acc, ga.View, gb.View, gs.View, gl.View, gL.View, gr.View, gc.View, gg.View, gda.View, gdb.View, gds.View, s);
        acc.Synchronize();
        string tag = contrastive ? "contrastive" : "classification";
        Close(mL, cpu, gL, $"{tag} logits");
        Close(mr, cpu, gr, $"{tag} row lse");
        if (contrastive) Close(mc, cpu, gc, $"{tag} column lse");
        Close(mloss, cpu, gloss, $"{tag} loss");
        Close(mda, cpu, gda, $"{tag} d a");
        Close(mdb, cpu, gdb, $"{tag} d b");
        Close(mds, cpu, gds, $"{tag} d scale");
    }

    static void L2Normalize(Accelerator acc)
    {
        int rows = 5, cols = 131; // more columns than threads per group: the strided loops run twice
        var rng = new Rng(17);
        float[] x = TestData.NonZero(rng, rows * cols), dy = TestData.NonZero(rng, rows * cols);
        using var cpu = new CpuBackend();
        var mx = Managed(cpu, x); var mdy = Managed(cpu, dy);
        var my = cpu.Allocate<float>(x.Length); var mn = cpu.Allocate<float>(rows); var mdx = cpu.Allocate<float>(x.Length);
        cpu.L2Normalize(mx, my, mn, rows, cols, 1e-12f);
        cpu.L2NormalizeBackward(my, mn, mdy, mdx, rows, cols, 1e-12f);
        using var gx = Up(acc, x); using var gdy = Up(acc, dy);
        using var gy = Zeros(acc, x.Length); using var gn = Zeros(acc, rows); using var gdx = Zeros(acc, x.Length);
        ContrastiveLaunch.L2Normalize(acc, gx.View, gy.View, gn.View, rows, cols, 1e-12f);
        ContrastiveLaunch.L2NormalizeBackward(acc, gy.View, gn.View, gdy.View, gdx.View, rows, cols, 1e-12f);
        acc.Synchronize();
        Close(my, cpu, gy, "l2 normalize y");
        Close(mn, cpu, gn, "l2 normalize norm");
        Close(mdx, cpu, gdx, "l2 normalize dx");
    }

    static void AdamW(Accelerator acc)
    {
        const int n = 1001;
        var rng = new Rng(23);
        float[] p = TestData.NonZero(rng, n), g = TestData.NonZero(rng, n), m = TestData.NonZero(rng, n).Select(v => v * 0.1f).ToArray();
        float[] v = TestData.NonZero(rng, n).Select(x => x * x * 0.01f).ToArray(), gs = [0.8f];
        var args = new AdamWArgs(1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, 1 - 0.9f * 0.9f, 1 - 0.999f * 0.999f, -1.2f, 1.2f);
        using var cpu = new CpuBackend();
        var mp = Managed(cpu, p); var mm = Managed(cpu, m); var mv = Managed(cpu, v);
        cpu.AdamWStep(mp, Managed(cpu, g), mm, mv, Managed(cpu, gs), n, args);
        using var gp = Up(acc, p); using var gg = Up(acc, g); using var gm = Up(acc, m); using var gv = Up(acc, v); using var gsc = Up(acc, gs);
        ContrastiveLaunch.AdamW(acc, gp.View, gg.View, gm.View, gv.View, gsc.View, n, args);
        acc.Synchronize();
        Close(mp, cpu, gp, "adamw p");
        Close(mm, cpu, gm, "adamw m");
        Close(mv, cpu, gv, "adamw v");
    }

    static void Sgd(Accelerator acc, float momentum)
    {
        const int n = 777;
        var rng = new Rng(29);
        float[] p = TestData.NonZero(rng, n), g = TestData.NonZero(rng, n), vel = TestData.NonZero(rng, n), gs = [0.5f];
        var args = new SgdArgs(0.05f, momentum, 0.01f, float.NegativeInfinity, float.PositiveInfinity);
        using var cpu = new CpuBackend();
        var mp = Managed(cpu, p); var mv = Managed(cpu, vel);
        cpu.SgdStep(mp, Managed(cpu, g), mv, Managed(cpu, gs), n, args);
        using var gp = Up(acc, p); using var gg = Up(acc, g); using var gv = Up(acc, vel); using var gsc = Up(acc, gs);
        ContrastiveLaunch.Sgd(acc, gp.View, gg.View, gv.View, gsc.View, n, args);
        acc.Synchronize();
        Close(mp, cpu, gp, $"sgd p (momentum {momentum})");
        Close(mv, cpu, gv, $"sgd velocity (momentum {momentum})");
    }

    static void Clamp(Accelerator acc)
    {
        var x = TestData.NonZero(new Rng(31), 301);
        using var cpu = new CpuBackend();
        var mx = Managed(cpu, x);
        cpu.Clamp(mx, x.Length, -0.9f, 1.1f);
        using var gx = Up(acc, x);
        ContrastiveLaunch.Clamp(acc, gx.View, x.Length, -0.9f, 1.1f);
        acc.Synchronize();
        Close(mx, cpu, gx, "clamp");
    }

    static void Clip(Accelerator acc)
    {
        var rng = new Rng(37);
        float[] x1 = TestData.NonZero(rng, 333), x2 = TestData.NonZero(rng, 7);
        using var cpu = new CpuBackend();
        var mpart = cpu.Allocate<float>(2); var mn = cpu.Allocate<float>(1); var mc = cpu.Allocate<float>(1);
        cpu.SumSquares(Managed(cpu, x1), x1.Length, mpart, 0);
        cpu.SumSquares(Managed(cpu, x2), x2.Length, mpart, 1);
        cpu.ClipCoefficient(mpart, 2, 3f, mn, mc);
        using var g1 = Up(acc, x1); using var g2 = Up(acc, x2);
        using var gpart = Zeros(acc, 2); using var gn = Zeros(acc, 1); using var gc = Zeros(acc, 1);
        ContrastiveLaunch.SumSquares(acc, g1.View, x1.Length, gpart.View, 0);
        ContrastiveLaunch.SumSquares(acc, g2.View, x2.Length, gpart.View, 1);
        ContrastiveLaunch.ClipCoefficient(acc, gpart.View, 2, 3f, gn.View, gc.View);
        acc.Synchronize();
        Close(mpart, cpu, gpart, "sum of squares");
        Close(mn, cpu, gn, "global norm");
        Close(mc, cpu, gc, "clip coefficient");
    }
}
