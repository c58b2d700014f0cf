using Cleft.Kernels;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// The similarity-loss, L2-normalise and optimizer kernels through the engine on ILGPU's CPU accelerator
/// against the managed backend. Each kernel on its own is checked by <see cref="CrossBackendTests"/>
/// (cases in <see cref="ContrastiveCases"/>).
/// </summary>
[Collection(IlgpuCollection.Name)] // with the other ILGPU tests: CPU-accelerator threads should not compete across classes
public sealed class ContrastiveKernelTests
{
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
}
