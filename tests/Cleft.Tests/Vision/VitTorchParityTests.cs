using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Kernels.Cpu;
using Cleft.Models.Vision;
using Xunit.Abstractions;

namespace Cleft.Tests.Vision;

/// <summary>
/// The tiny DINOv2-with-registers model loaded from its safetensors file against the PyTorch reference (float64):
/// last-block tokens, HF's last_hidden_state, CLEFT's pooled + projected embedding, gradients of sum(emb * w),
/// a second resolution that resamples the position table, and the resampling alone. fp32 tolerances: forward
/// 1e-5 abs + 1e-4 rel; gradients 1e-4 abs + 1e-3 rel.
/// </summary>
public sealed class VitTorchParityTests(ITestOutputHelper output)
{
    internal static VitImageEncoder LoadEncoder(IBackend dev, VitFixture f, int? imageSize = null)
    {
        var config = VitConfig.FromJson(VitFixture.Config);
        var enc = new VitImageEncoder(dev, new Rng(5), config, imageSize ?? f.ImageSize, f.EmbedDim);
        VitCheckpoint.Load(enc.Vit, VitFixture.Weights);
        enc.Projection.Weight.Load(f.ProjWeight);
        enc.Projection.Bias!.Load(f.ProjBias);
        return enc;
    }

    [Fact]
    public void ForwardMatchesPyTorch()
    {
        var f = VitFixture.Load();
        using var dev = new CpuBackend();
        using var enc = LoadEncoder(dev, f);
        using var scope = new TensorScope();
        using var _ = GradMode.NoGrad();
        var pixels = Tensor.FromArray(dev, f.Pixels, f.PixelsShape);
        var tokens = enc.Vit.ForwardTokens(pixels);
        Assert.Equal(f.TokensShape, tokens.Shape);
        double t = VitFixture.AssertClose(f.Tokens, tokens.ToArray(), 1e-5, 1e-4, "tokens");
        double n = VitFixture.AssertClose(f.Normed, enc.Vit.FinalNorm.Forward(tokens).ToArray(), 1e-5, 1e-4, "last_hidden_state");
        double e = VitFixture.AssertClose(f.Embedding, enc.Forward(pixels).ToArray(), 1e-5, 1e-4, "embedding");
        output.WriteLine($"max |diff|: tokens {t:E2}, last_hidden_state {n:E2}, embedding {e:E2}");
    }

    [Fact]
    public void GradientsMatchPyTorch()
    {
        var f = VitFixture.Load();
        using var dev = new CpuBackend();
        using var enc = LoadEncoder(dev, f);
        using var scope = new TensorScope();
        var pixels = Tensor.FromArray(dev, f.Pixels, f.PixelsShape);
        pixels.RequiresGrad = true;
        var emb = enc.Forward(pixels);
        Ops.Sum(Ops.Mul(emb, Tensor.FromArray(dev, f.LossW, emb.Shape))).Backward();

        var report = new List<string> { $"pixels {VitFixture.AssertClose(f.GradPixels, pixels.Grad!.ToArray(), 1e-4, 1e-3, "grad pixels"):E2}" };
        var named = enc.Vit.NamedParameters().ToDictionary(x => x.Name, x => x.Param);
        foreach (var (name, want) in f.Grads)
        {
            var p = named[name];
            var got = p.Grad!.ToArray();
            if (p.Rank == 2) // our [in, out] (patch conv: [C*p*p, h]) -> HF's [out, in] ([h, C, p, p])
                got = VitFixture.Transpose(got, p.Shape[0], p.Shape[1]);
            report.Add($"{name} {VitFixture.AssertClose(want, got, 1e-4, 1e-3, $"grad {name}"):E2}");
        }
        report.Add($"proj.weight {VitFixture.AssertClose(f.GradProjWeight, enc.Projection.Weight.Grad!.ToArray(), 1e-4, 1e-3, "grad proj.weight"):E2}");
        Assert.Null(enc.Vit.FinalNorm.Weight.Grad); // the embedding is taken before the final LayerNorm
        output.WriteLine("max |diff| of gradients: " + string.Join(", ", report));
    }

    [Fact]
    public void OtherResolutionResamplesPositionsAsHuggingFace()
    {
        // The checkpoint's 4x4 position grid, run at 24 px (6x6): upsampled once at load, as HF does per forward.
        var f = VitFixture.Load();
        using var dev = new CpuBackend();
        using var enc = LoadEncoder(dev, f, imageSize: 24);
        using var scope = new TensorScope();
        using var _ = GradMode.NoGrad();
        var tokens = enc.Vit.ForwardTokens(Tensor.FromArray(dev, f.Pixels24, 1, 3, 24, 24));
        Assert.Equal(new[] { 1, 1 + 2 + 36, 32 }, tokens.Shape);
        output.WriteLine($"24 px tokens max |diff| {VitFixture.AssertClose(f.Tokens24, tokens.ToArray(), 1e-5, 1e-4, "tokens at 24 px"):E2}");
    }

    [Fact]
    public void PositionResamplingMatchesTorchAntialiasedBicubic()
    {
        // 7x7 -> 3x3: shrinking, the case of DINOv2's 37x37 table at 224 px.
        var f = VitFixture.Load();
        var got = PositionInterpolation.Resample(f.Table7.AsSpan(32), 7, 3, 32);
        output.WriteLine($"7x7 -> 3x3 max |diff| {VitFixture.AssertClose(f.Table3, got, 1e-5, 1e-5, "resampled table"):E2}");
        var same = PositionInterpolation.Resample(f.Table7.AsSpan(32), 7, 7, 32);
        VitFixture.AssertClose(f.Table7[32..], same, 1e-6, 0, "7x7 -> 7x7 is the identity");
    }
}
