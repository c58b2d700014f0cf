using Cleft.Autograd;
using Cleft.Tests.Ilgpu;
using Xunit.Abstractions;

namespace Cleft.Tests.Vision;

/// <summary>
/// The tiny fixture model on ILGPU's CPU accelerator against the managed backend: forward tokens, embedding and
/// the gradients of sum(emb * w) agree to 1e-4 (both run the same maths; the GEMM and attention kernels sum in
/// different orders).
/// </summary>
[Collection(IlgpuCollection.Name)]
public sealed class VitIlgpuTests(IlgpuFixture fx, ITestOutputHelper output)
{
    [Fact]
    public void TinyEncoderAgreesWithManagedBackend()
    {
        var f = VitFixture.Load();
        var cpu = Run(fx.Cpu, f);
        fx.Ilgpu.ClearLaunchedKernels();
        var gpu = Run(fx.Ilgpu, f);
        Assert.Contains("gelu_erf", fx.Ilgpu.LaunchedKernels);
        Assert.Contains("attention_forward", fx.Ilgpu.LaunchedKernels);
        var report = new List<string>();
        foreach (var key in cpu.Keys)
            report.Add($"{key} {VitFixture.AssertClose(cpu[key], gpu[key], 1e-4, 1e-4, $"ilgpu-cpu vs cpu: {key}"):E2}");
        output.WriteLine("max |diff|: " + string.Join(", ", report));
    }

    static Dictionary<string, float[]> Run(Cleft.Kernels.IBackend dev, VitFixture f)
    {
        using var enc = VitTorchParityTests.LoadEncoder(dev, f);
        using var scope = new TensorScope();
        var pixels = Tensor.FromArray(dev, f.Pixels, f.PixelsShape);
        pixels.RequiresGrad = true;
        var tokens = enc.Vit.ForwardTokens(pixels);
        var emb = enc.Projection.Forward(Ops.Mean(tokens, 1));
        Ops.Sum(Ops.Mul(emb, Tensor.FromArray(dev, f.LossW, emb.Shape))).Backward();
        var named = enc.NamedParameters().ToDictionary(x => x.Name, x => x.Param);
        return new()
        {
            ["tokens"] = tokens.ToArray(),
            ["embedding"] = emb.ToArray(),
            ["grad pixels"] = pixels.Grad!.ToArray(),
            ["grad query.weight"] = named["vit.encoder.layer.0.attention.attention.query.weight"].Grad!.ToArray(),
            ["grad patch weight"] = named["vit.embeddings.patch_embeddings.projection.weight"].Grad!.ToArray(),
            ["grad fc1.weight"] = named["vit.encoder.layer.1.mlp.fc1.weight"].Grad!.ToArray(),
        };
    }
}
