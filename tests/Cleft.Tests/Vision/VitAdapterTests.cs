using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using Cleft.Models.Peft;
using Cleft.Models.Vision;
using Cleft.Tests.Autograd;

namespace Cleft.Tests.Vision;

/// <summary>
/// The ViT's attention runs plain q/k/v projections as one fused GEMM, and any adapted one through the adapter:
/// an adapter injected by name must take part in the forward pass and get gradients.
/// </summary>
public sealed class VitAdapterTests
{
    [Fact]
    public void InjectedLoraOnQueryTakesPartAndTheFusedPathMatchesIt()
    {
        using var dev = new CpuBackend();
        using var plain = new VisionTransformer(dev, new Rng(11), VitConfig.Tiny);
        using var adapted = new VisionTransformer(dev, new Rng(11), VitConfig.Tiny);
        var injected = PeftInjection.Inject(adapted, new LoraConfig(4, 8f, 0f, ["query"]), new Rng(12));
        Assert.Equal(VitConfig.Tiny.Layers, injected.Count);
        var pixels = TestData.Normal(new Rng(13), 2 * 3 * 16 * 16);
        using var scope = new TensorScope();

        // lora_B starts at zero: the adapted model (separate projections) gives the plain one's (fused GEMM) output.
        var want = plain.Forward(Tensor.FromArray(dev, pixels, 2, 3, 16, 16)).ToArray();
        var got = adapted.Forward(Tensor.FromArray(dev, pixels, 2, 3, 16, 16)).ToArray();
        TestData.AssertClose([.. want.Select(x => (double)x)], got, 1e-5, 1e-5, "fused q/k/v vs separate projections");

        // A non-zero lora_B must change the output and every adapter matrix must get a gradient.
        var loraB = adapted.NamedParameters().Where(p => p.Name.EndsWith(".lora_B.weight", StringComparison.Ordinal)).ToList();
        Assert.Equal(VitConfig.Tiny.Layers, loraB.Count);
        foreach (var (_, p) in loraB) p.Load(TestData.Normal(new Rng(14), p.Length, 0.5f));
        var y = adapted.Forward(Tensor.FromArray(dev, pixels, 2, 3, 16, 16));
        Assert.True(want.Zip(y.ToArray(), (a, b) => Math.Abs(a - b)).Max() > 1e-3, "the query adapter does not reach the output");
        Ops.Sum(y).Backward();
        foreach (var (name, p) in adapted.NamedParameters().Where(p => PeftInjection.IsAdapterParameter(p.Name)))
            Assert.True(p.Grad is not null && p.Grad.ToArray().Any(g => g != 0f), $"{name}: no gradient");
    }
}
