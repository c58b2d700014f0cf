using Cleft.Autograd;
using Cleft.Autograd.Optim;
using Cleft.Kernels.Cpu;
using Cleft.Models.Clip;

namespace Cleft.Tests.Models;

/// <summary>
/// A toy CLIP end to end: paired "image" and "text" features are two different noisy linear views of shared
/// latent vectors; two MLP towers learn to map them into a joint space with the contrastive loss, AdamW
/// (decay groups, clamped logit scale) and warmup + cosine.
/// </summary>
public sealed class TwoTowerTrainingTests
{
    const int Latent = 6, ImageIn = 12, TextIn = 10, Batch = 32, Steps = 60;

    static List<float> Train(ulong seed)
    {
        var rng = new Rng(seed);
        float[] mixI = new float[Latent * ImageIn], mixT = new float[Latent * TextIn];
        rng.FillNormal(mixI, 0f, 1f);
        rng.FillNormal(mixT, 0f, 1f);
        using var dev = new CpuBackend();
        using var model = new TwoTower(dev, rng, ImageIn, TextIn, 32, 16);
        var sched = new WarmupCosine(3e-3f, 6, Steps, 3e-4f);
        using var opt = new AdamW(model.Head.Scale.Groups(model, 0.1f), sched.BaseLr) { MaxGradNorm = 5f };
        var losses = new List<float>();
        var z = new float[Batch * Latent];
        var noise = new float[Batch * Math.Max(ImageIn, TextIn)];
        for (int step = 0; step < Steps; step++)
        {
            using var scope = new TensorScope();
            rng.FillNormal(z, 0f, 1f);
            var img = View(z, mixI, ImageIn, rng, noise);
            var txt = View(z, mixT, TextIn, rng, noise);
            sched.Apply(opt, step);
            opt.ZeroGrad();
            var loss = model.Loss(Tensor.FromArray(dev, img, Batch, ImageIn), Tensor.FromArray(dev, txt, Batch, TextIn));
            loss.Backward();
            opt.Step();
            losses.Add(loss.Item());
        }
        return losses;
    }

    // x = z M + 0.1 noise: one view of the shared latent.
    static float[] View(float[] z, float[] mix, int width, Rng rng, float[] noise)
    {
        var x = new float[Batch * width];
        rng.FillNormal(noise.AsSpan(0, x.Length), 0f, 0.1f);
        for (int i = 0; i < Batch; i++)
            for (int j = 0; j < width; j++)
            {
                float s = noise[i * width + j];
                for (int k = 0; k < Latent; k++) s += z[i * Latent + k] * mix[k * width + j];
                x[i * width + j] = s;
            }
        return x;
    }

    [Fact]
    public void LossGoesDownAndIsDeterministicBySeed()
    {
        var a = Train(42);
        var b = Train(42);
        Assert.Equal(a, b); // bit-identical on the managed backend
        double first = a.Take(5).Average(), last = a.TakeLast(5).Average();
        // ln 32 = 3.47 is chance; the towers must get well below it.
        Assert.True(last < 0.5 * first, $"loss {first:F3} -> {last:F3}: did not halve");
        Assert.NotEqual(a, Train(43));
    }
}
