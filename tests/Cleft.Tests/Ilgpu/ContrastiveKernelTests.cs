using Cleft.Kernels;
using ILGPU;
using ILGPU.Runtime.CPU;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// Runs <see cref="ContrastiveKernelCases"/> on ILGPU's CPU accelerator (Nvidia-like: 32-wide warps, groups up
/// to 1024 threads), and checks that every catalogue kernel of these families has a case.
/// </summary>
public sealed class ContrastiveKernelTests : IDisposable
{
    static readonly string[] Families = ["similarity_", "l2_normalize", "adamw_", "sgd_", "clamp", "sum_squares", "clip_"];

    readonly Context _context = Context.Create(b => b.CPU(CPUDeviceKind.Nvidia).EnableAlgorithms());
    readonly ILGPU.Runtime.Accelerator _acc;

    public ContrastiveKernelTests() => _acc = _context.CreateCPUAccelerator(0);

    public static TheoryData<string> Names() => new(ContrastiveKernelCases.Cases.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public void IlgpuCpuAcceleratorMatchesManaged(string kernel)
    {
        KernelCatalog.Get(kernel); // the case must name a real catalogue kernel
        ContrastiveKernelCases.Cases[kernel](_acc);
    }

    [Fact]
    public void EveryKernelOfTheseFamiliesHasACase()
    {
        var missing = KernelCatalog.All.Where(k => Families.Any(f => k.Name.StartsWith(f, StringComparison.Ordinal)))
            .Select(k => k.Name).Where(n => !ContrastiveKernelCases.Cases.ContainsKey(n)).ToList();
        Assert.True(missing.Count == 0, $"kernels without an ILGPU-vs-managed case: {string.Join(", ", missing)}");
    }

    /// <summary>
    /// Through IlgpuBackend and the engine: CLIP loss on raw embeddings (L2Normalize included), its gradients,
    /// then two clipped AdamW steps with a clamped logit scale, against the managed backend.
    /// </summary>
    [Fact]
    public void IlgpuBackendMatchesManagedThroughTheEngine()
    {
        using var cpu = new Cleft.Kernels.Cpu.CpuBackend();
        using var gpu = Cleft.Kernels.Ilgpu.IlgpuBackend.Create(DeviceKind.IlgpuCpu);
        var (lc, pc) = Run(cpu);
        var (lg, pg) = Run(gpu);
        for (int i = 0; i < lc.Length; i++) Assert.Equal(lc[i], lg[i], 1e-4f * Math.Max(1f, Math.Abs(lc[i])));
        for (int i = 0; i < pc.Count; i++)
            Autograd.TestData.AssertClose(pc[i].Select(v => (double)v).ToArray(), pg[i], 1e-4, 1e-3, $"parameter {i} after two steps");
    }

    static (float[] Losses, List<float[]> Params) Run(IBackend dev)
    {
        const int n = 9, d = 21;
        var rng = new Cleft.Autograd.Rng(4);
        using var img = new Cleft.Autograd.Parameter(dev, Autograd.TestData.NonZero(rng, n * d), n, d);
        using var txt = new Cleft.Autograd.Parameter(dev, Autograd.TestData.NonZero(rng, n * d), n, d);
        // A moderate scale and eps = 1e-3: Adam's m / sqrt(v) turns a rounding-level gradient (a saturated softmax)
        // into a full-size step whose sign is noise, which would compare rounding, not kernels.
        using var scale = new Cleft.Models.Clip.LogitScale(dev, 2f);
        using var opt = new Cleft.Autograd.Optim.AdamW([new Cleft.Autograd.Optim.ParamGroup([img, txt]), scale.Group()], 0.05f, eps: 1e-3f) { MaxGradNorm = 1f };
        var losses = new float[2];
        for (int step = 0; step < 2; step++)
        {
            using var scope = new Cleft.Autograd.TensorScope();
            opt.ZeroGrad();
            var loss = Cleft.Autograd.Ops.ContrastiveLoss(Cleft.Autograd.Ops.L2Normalize(img), Cleft.Autograd.Ops.L2Normalize(txt), scale.Value);
            loss.Backward();
            opt.Step();
            losses[step] = loss.Item();
        }
        return (losses, [img.ToArray(), txt.ToArray(), scale.Value.ToArray()]);
    }

    public void Dispose()
    {
        _acc.Dispose();
        _context.Dispose();
    }
}
