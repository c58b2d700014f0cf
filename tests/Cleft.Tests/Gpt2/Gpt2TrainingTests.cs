using Cleft.Autograd;
using Cleft.Autograd.Optim;
using Cleft.Kernels.Cpu;
using Cleft.Models.Clip;
using Cleft.Models.Gpt2;
using Xunit.Abstractions;

namespace Cleft.Tests.Gpt2;

/// <summary>
/// The encoder inside a CLIP step: LoRA (dropout 0.1, training mode) + projection trained by AdamW against
/// fixed "image" embeddings with the contrastive head. The loss must fall, the frozen base must not move, and
/// after warm-up the steps must allocate no new device memory (every temporary comes back through the scope).
/// </summary>
public sealed class Gpt2TrainingTests(ITestOutputHelper output)
{
    [Fact]
    public void LoraAndProjectionLearnWhileBaseStaysFrozen()
    {
        using var dev = new CpuBackend();
        using var enc = Gpt2TextEncoder.FromPretrained(dev, Gpt2Fixture.Directory, Gpt2Options.Cleft, new Rng(11), embedDim: 16);
        using var head = new ContrastiveHead(dev);
        using var batch = Gpt2Fixture.Batch(dev);
        using var images = Tensor.Randn(dev, new Rng(12), 1f, batch.Batch, 16);
        images.RequiresGrad = false;
        var frozenBefore = enc.Transformer.Blocks[0].CAttn.Weight!.ToArray();
        var groups = ParamGroup.DecayAndNoDecay(enc.NamedParameters().Where(x => x.Param.RequiresGrad), 0.1f);
        using var opt = new AdamW(groups, lr: 3e-2f);
        var losses = new List<float>();
        long allocAfterWarmup = 0;
        for (int step = 0; step < 12; step++)
        {
            using var scope = new TensorScope();
            opt.ZeroGrad();
            var loss = head.Forward(images, enc.Forward(batch));
            loss.Backward();
            opt.Step();
            losses.Add(loss.Item());
            if (step == 2) allocAfterWarmup = dev.Pool.FreshAllocations;
        }
        output.WriteLine($"losses {string.Join(", ", losses.Select(l => l.ToString("F4")))}");
        Assert.True(losses[^1] < 0.5f * losses[0], $"loss should fall: {losses[0]} -> {losses[^1]}");
        Assert.Equal(frozenBefore, enc.Transformer.Blocks[0].CAttn.Weight!.ToArray());
        Assert.Equal(allocAfterWarmup, dev.Pool.FreshAllocations);
    }
}
