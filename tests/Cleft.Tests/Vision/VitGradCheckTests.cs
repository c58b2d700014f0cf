using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using Cleft.Models.Vision;
using Cleft.Tests.Autograd;

namespace Cleft.Tests.Vision;

/// <summary>
/// Central differences through the whole image encoder (embeddings, 2 blocks, pooling, projection) on a very
/// small config, for the pixels and for every parameter element. Loss sum(emb * w) accumulated in float64.
/// </summary>
public sealed class VitGradCheckTests
{
    // hidden 8, 2 layers, 2 heads, patch 2 on 4 px (2x2 patches), 3 channels, 1 register, MLP 16.
    static readonly VitConfig Small = new(8, 2, 2, 2, 4, 3, 1, 2.0, 0.7f, 1e-6f);
    const double Step = 1e-2, Atol = 2e-3, Rtol = 2e-2;

    static float[] Pixels() => TestData.Normal(new Rng(71), 2 * 3 * 4 * 4);

    [Fact]
    public void PixelGradient()
    {
        using var dev = new CpuBackend();
        using var enc = new VitImageEncoder(dev, new Rng(72), Small, imageSize: 4, embedDim: 4);
        Randomise(enc);
        GradCheck.Run(dev, x => enc.Forward(x[0]), [GradCheck.In(Pixels(), 2, 3, 4, 4)], Step, Atol, Rtol);
    }

    [Fact]
    public void EveryParameterGradient()
    {
        using var dev = new CpuBackend();
        using var enc = new VitImageEncoder(dev, new Rng(73), Small, imageSize: 4, embedDim: 4);
        Randomise(enc);
        var w = TestData.Normal(new Rng(74), 2 * 4);
        var pixels = Pixels();
        using (var scope = new TensorScope())
        {
            var emb = enc.Forward(Tensor.FromArray(dev, pixels, 2, 3, 4, 4));
            emb.Backward(Tensor.FromArray(dev, w, 2, 4));
        }
        double Loss()
        {
            using var scope = new TensorScope();
            using var _ = GradMode.NoGrad();
            var y = enc.Forward(Tensor.FromArray(dev, pixels, 2, 3, 4, 4)).ToArray();
            return y.Select((v, i) => (double)v * w[i]).Sum();
        }
        int checkedCount = 0;
        foreach (var (name, p) in enc.NamedParameters())
        {
            if (name.StartsWith("vit.layernorm.", StringComparison.Ordinal)) { Assert.Null(p.Grad); continue; } // not on the path
            var analytic = p.Grad!.ToArray();
            var data = p.ToArray();
            var numeric = new double[data.Length];
            for (int j = 0; j < data.Length; j++)
            {
                float x0 = data[j], xp = (float)(x0 + Step), xm = (float)(x0 - Step);
                data[j] = xp; p.Load(data); double lp = Loss();
                data[j] = xm; p.Load(data); double lm = Loss();
                data[j] = x0; p.Load(data);
                numeric[j] = (lp - lm) / ((double)xp - xm);
            }
            TestData.AssertClose(numeric, analytic, Atol, Rtol, $"gradient of {name} {p.ShapeString}");
            checkedCount += data.Length;
        }
        Assert.True(checkedCount > 1000, $"only {checkedCount} parameter elements checked");
    }

    /// <summary>Non-trivial LayerScale, LayerNorm and register values (their inits are constants).</summary>
    static void Randomise(VitImageEncoder enc)
    {
        var rng = new Rng(75);
        foreach (var (name, p) in enc.NamedParameters())
            if (name.Contains("lambda1") || name.Contains("norm") || name.Contains("register_tokens"))
                p.Load(TestData.Normal(rng, p.Length, 0.3f).Select(v => v + (name.EndsWith("bias") || name.Contains("register") ? 0f : 1f)).ToArray());
    }
}
