using Cleft.Kernels.Cpu;
using Cleft.Models.Recipe;
using Cleft.Train.Training;
using Cleft.Tests.Gpt2;
using Xunit.Abstractions;

namespace Cleft.Tests.Recipe;

/// <summary>Stage 1 on the tiny model: learning, determinism, checkpoint / resume, divergence handling.</summary>
public sealed class Stage1TrainerTests(ITestOutputHelper output)
{
    static List<float> Run(int steps)
    {
        using var dev = new CpuBackend();
        using var model = CleftFixture.Model(dev);
        using var trainer = new Stage1Trainer(model, CleftFixture.Stage1(steps));
        return CleftFixture.Train(trainer, 0, steps);
    }

    [Fact]
    public void LossFallsAndIsBitIdenticalForTheSameSeed()
    {
        var a = Run(40);
        var b = Run(40);
        output.WriteLine(string.Join(" ", a.Select(l => l.ToString("F3"))));
        Assert.Equal(a, b);
        double first = a.Take(5).Average(), last = a.TakeLast(5).Average();
        // Captions repeat within a batch (4 classes, 8 pairs), so the floor is well above 0; ln 8 = 2.08 is chance.
        Assert.True(last < 0.85 * first && last < Math.Log(8) - 0.2, $"loss {first:F3} -> {last:F3}");
    }

    [Fact]
    public void SummedLossIsTwiceTheMean()
    {
        using var dev = new CpuBackend();
        using var mean = CleftFixture.Model(dev);
        using var sum = CleftFixture.Model(dev, sumLoss: true);
        var (pixels, captions, _) = CleftFixture.Batch(3, 8);
        using var a = new Stage1Trainer(mean, CleftFixture.Stage1(10));
        using var b = new Stage1Trainer(sum, CleftFixture.Stage1(10));
        float va = a.Validate([(pixels, captions)]), vb = b.Validate([(pixels, captions)]);
        Assert.Equal(2 * va, vb, 4);
    }

    [Fact]
    public void FrozenBaseStaysAndLoraAndVisionTrain()
    {
        using var dev = new CpuBackend();
        using var model = CleftFixture.Model(dev);
        var gpt = model.Gpt2Text.Transformer;
        Assert.False(gpt.Wte.RequiresGrad);
        Assert.True(gpt.Blocks[0].CAttn.Lora!.LoraA.RequiresGrad);
        Assert.All(model.Image.Parameters(), p => Assert.True(p.RequiresGrad));
        var wte = gpt.Wte.ToArray();
        var patch = model.Image.Vit.NamedParameters().First().Param.ToArray();
        var loraB = gpt.Blocks[0].CAttn.Lora!.LoraB.ToArray();
        using var trainer = new Stage1Trainer(model, CleftFixture.Stage1(10));
        CleftFixture.Train(trainer, 0, 3);
        Assert.Equal(wte, gpt.Wte.ToArray());
        Assert.NotEqual(patch, model.Image.Vit.NamedParameters().First().Param.ToArray());
        Assert.NotEqual(loraB, gpt.Blocks[0].CAttn.Lora!.LoraB.ToArray());
        float s = model.LogitScale.Read();
        Assert.InRange(s, 0f, MathF.Log(100f));
    }

    [Fact]
    public void ResumeContinuesWithIdenticalLosses()
    {
        using var dir = new Gpt2Fixture.TempDir();
        List<float> straight;
        string checkpoint;
        var progress = new List<TrainingProgress>();
        using (var dev = new CpuBackend())
        using (var model = CleftFixture.Model(dev))
        using (var trainer = new Stage1Trainer(model, CleftFixture.Stage1(20, dir)) { Progress = progress.Add })
        {
            CleftFixture.Train(trainer, 0, 8);
            checkpoint = trainer.SaveCheckpoint(valLoss: 1f, new Dictionary<string, double> { ["acc"] = 0.5 });
            straight = CleftFixture.Train(trainer, 8, 14);
        }
        Assert.Equal(14, progress.Count);
        Assert.Equal(Enumerable.Range(1, 14), progress.Select(p => p.Step));
        Assert.All(progress, p => Assert.True(p.StepsPerSecond > 0 && p.LearningRate > 0));
        Assert.StartsWith("step 14  loss ", progress[^1].ToString());
        Assert.True(File.Exists(Path.Combine(checkpoint, "adapter", "adapter_model.safetensors")));
        var info = CheckpointStore.ReadInfo(checkpoint);
        Assert.Equal(8, info.Step);
        Assert.Equal(0.5, info.Metrics["acc"]);

        using var dev2 = new CpuBackend();
        using var fresh = CleftFixture.Model(dev2, seed: 99); // different init: everything trainable must come from the checkpoint
        using var resumed = new Stage1Trainer(fresh, CleftFixture.Stage1(20, dir));
        Assert.Equal(checkpoint, resumed.ResumeLatest()?.Directory);
        Assert.Equal(8, resumed.Step);
        Assert.Equal(straight, CleftFixture.Train(resumed, 8, 14));
    }

    [Fact]
    public void AbsurdLearningRateDivergesWithAClearError()
    {
        using var dev = new CpuBackend();
        using var model = CleftFixture.Model(dev);
        using var trainer = new Stage1Trainer(model, CleftFixture.Stage1(30) with { LearningRate = 1e30f, WarmupSteps = 0, MaxGradNorm = null });
        // The first step blows the weights up; the losses after it are not finite, so each later step is skipped
        // (the weights stay as they are) until ten in a row stop the run.
        var e = Assert.Throws<TrainingDivergedException>(() => CleftFixture.Train(trainer, 0, 30));
        output.WriteLine(e.Message);
        Assert.Equal(trainer.Step + 1, e.Step);
        Assert.Equal(BadStepGuard.DefaultMaxBadSteps, e.BadSteps);
        Assert.Equal(BadStepGuard.DefaultMaxBadSteps, trainer.Guard.Skipped);
        Assert.Contains("last good checkpoint: none", e.Message);
        Assert.Null(e.LastCheckpoint);
    }
}
