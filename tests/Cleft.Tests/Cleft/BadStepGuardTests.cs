using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using Cleft.Models.Gpt2;
using Cleft.Models.Peft;
using Cleft.Models.Recipe;
using Cleft.Tests.Vision;
using Cleft.Train.Training;
using Cleft.Tests.Gpt2;
using Xunit.Abstractions;

namespace Cleft.Tests.Recipe;

/// <summary>
/// The NaN/Inf guard in both stages: a poisoned batch is skipped without touching parameters, optimizer state,
/// step or schedule; K poisoned batches in a row stop the run naming the step, the count and the last good checkpoint.
/// </summary>
public sealed class BadStepGuardTests(ITestOutputHelper output)
{
    static (float[] Pixels, string[] Captions) Poisoned(ulong seed)
    {
        var (pixels, captions, _) = CleftFixture.Batch(seed, 8);
        pixels[17] = float.NaN; // one poisoned pixel
        return (pixels, captions);
    }

    static List<byte[]> Tensors(string checkpoint) => Directory.GetFiles(checkpoint, "*.safetensors", SearchOption.AllDirectories)
        .Order().Select(File.ReadAllBytes).ToList();

    [Fact]
    public void Stage1SkipsOnePoisonedBatchAsIfItNeverHappened()
    {
        using var dir = new Gpt2Fixture.TempDir();
        using var dev = new CpuBackend();
        List<float> straight;
        using (var model = CleftFixture.Model(dev))
        using (var reference = new Stage1Trainer(model, CleftFixture.Stage1(20)))
            straight = CleftFixture.Train(reference, 0, 6);

        using var guarded = CleftFixture.Model(dev);
        using var trainer = new Stage1Trainer(guarded, CleftFixture.Stage1(20, dir));
        CleftFixture.Train(trainer, 0, 3);
        string checkpoint = trainer.SaveCheckpoint(valLoss: 2f);
        var tensors = Tensors(checkpoint);
        var parameters = guarded.NamedParameters().Select(x => x.Param.ToArray()).ToList();
        float lr = trainer.LearningRate;

        var (pixels, captions) = Poisoned(5);
        Assert.True(float.IsNaN(trainer.TrainStep(pixels, captions)));
        Assert.True(trainer.LastStepSkipped);
        Assert.Equal(3, trainer.Step);
        Assert.Equal((1, 1), (trainer.Guard.Skipped, trainer.Guard.InARow));
        Assert.Equal(4, trainer.Guard.Last!.Step);
        Assert.Equal("loss NaN", trainer.Guard.Last.Reason);
        Assert.Equal(lr, trainer.LearningRate);
        Assert.Equal(parameters, guarded.NamedParameters().Select(x => x.Param.ToArray()));
        // Re-saving step 3 writes the same weights, adapter and optimizer moments, byte for byte.
        Assert.Equal(checkpoint, trainer.SaveCheckpoint(valLoss: 2f));
        Assert.Equal(tensors, Tensors(checkpoint));

        // Steps 4..6 continue exactly as the run that never saw the poisoned batch: same schedule, bias correction, moments.
        Assert.Equal(straight[3..], CleftFixture.Train(trainer, 3, 6));
        Assert.False(trainer.LastStepSkipped);
        Assert.Equal((1, 0), (trainer.Guard.Skipped, trainer.Guard.InARow));
    }

    [Fact]
    public void Stage1StopsAfterKPoisonedBatchesInARowNamingTheLastGoodCheckpoint()
    {
        using var dir = new Gpt2Fixture.TempDir();
        using var dev = new CpuBackend();
        using var model = CleftFixture.Model(dev);
        using var trainer = new Stage1Trainer(model, CleftFixture.Stage1(20, dir) with { MaxBadSteps = 3 });
        CleftFixture.Train(trainer, 0, 2);
        string checkpoint = trainer.SaveCheckpoint(valLoss: 2f);
        var files = Directory.GetFiles(checkpoint, "*", SearchOption.AllDirectories).Order().Select(f => (f, File.ReadAllBytes(f))).ToList();
        // Two bad, one good (the streak ends), then three bad: the third stops the run.
        for (int i = 0; i < 2; i++) trainer.TrainStep(Poisoned(40 + (ulong)i).Pixels, Poisoned(40 + (ulong)i).Captions);
        CleftFixture.Train(trainer, 2, 3);
        Assert.Equal((2, 0, 3), (trainer.Guard.Skipped, trainer.Guard.InARow, trainer.Step));
        trainer.TrainStep(Poisoned(50).Pixels, Poisoned(50).Captions);
        trainer.TrainStep(Poisoned(51).Pixels, Poisoned(51).Captions);
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.TrainStep(Poisoned(52).Pixels, Poisoned(52).Captions));
        output.WriteLine(e.Message);
        Assert.Equal((4, 3), (e.Step, e.BadSteps));
        Assert.Equal(checkpoint, e.LastCheckpoint);
        Assert.Contains("3 steps in a row", e.Message);
        Assert.Contains("step 4 (loss NaN", e.Message);
        Assert.Contains($"last good checkpoint: {checkpoint}", e.Message);
        Assert.Equal(3, trainer.Step);
        Assert.Equal(files, Directory.GetFiles(checkpoint, "*", SearchOption.AllDirectories).Order().Select(f => (f, File.ReadAllBytes(f))));
    }

    [Fact]
    public void Stage2SkipsAPoisonedBatchAndStopsAfterKInARow()
    {
        using var dir = new Gpt2Fixture.TempDir();
        using var dev = new CpuBackend();
        using var model = CleftFixture.Model(dev);
        using var prompts = new PromptLearner(model, CleftFixture.Classes, contextLength: 4, initText: "this is a chest x ray");
        using var trainer = new Stage2Trainer(prompts, new Stage2Options { LearningRate = 0.2f, WarmupSteps = 2, TotalSteps = 25, MaxBadSteps = 2, CheckpointDirectory = dir });
        float Step(ulong seed, bool poison)
        {
            var (pixels, _, labels) = CleftFixture.Batch(seed, 8);
            if (poison) pixels[3] = float.PositiveInfinity;
            return trainer.TrainStep(pixels, labels);
        }
        Step(1, false);
        Step(2, false);
        string checkpoint = trainer.SaveCheckpoint();
        var tensors = Tensors(checkpoint);
        var context = prompts.Context.ToArray();

        Assert.False(float.IsFinite(Step(3, true)));
        Assert.True(trainer.LastStepSkipped);
        Assert.Equal(2, trainer.Step);
        Assert.Equal(context, prompts.Context.ToArray());
        Assert.Equal(checkpoint, trainer.SaveCheckpoint());
        Assert.Equal(tensors, Tensors(checkpoint)); // context and momentum byte for byte

        Assert.True(float.IsFinite(Step(4, false)));
        Assert.Equal((3, 0, 1), (trainer.Step, trainer.Guard.InARow, trainer.Guard.Skipped));
        Step(5, true);
        var e = Assert.Throws<TrainingDivergedException>(() => Step(6, true));
        output.WriteLine(e.Message);
        Assert.Equal((4, 2), (e.Step, e.BadSteps));
        Assert.Equal(checkpoint, e.LastCheckpoint);
        Assert.Equal(3, trainer.Step);
    }

    /// <summary>
    /// The rule that keeps resume exact with dropout on: a skipped step still forwards every micro-batch, so the
    /// dropout streams advance exactly as for a taken step, and a poisoned first micro-batch does not shorten them.
    /// </summary>
    [Fact]
    public void ASkippedStepConsumesTheSameDropoutDrawsAsATakenOne()
    {
        using var dev = new CpuBackend();
        var config = CleftFixture.Config() with { TextOptions = new Gpt2Options { Lora = new LoraConfig(4, 8f, 0.3f, ["c_attn"]) } };
        ulong[][] StreamsAfter(bool poison)
        {
            using var model = CleftModel.FromPretrained(dev, config, VitFixture.Weights, Gpt2Fixture.Directory, CleftFixture.Tokenize, new Rng(7));
            using var trainer = new Stage1Trainer(model, CleftFixture.Stage1(20));
            var (a, ca, _) = CleftFixture.Batch(60, 8);
            var (b, cb, _) = CleftFixture.Batch(61, 8);
            if (poison) a[5] = float.NaN;
            ulong[][] Streams() => model.NamedRandomStreams().OrderBy(x => x.Name).Select(x => x.Stream.ExportState()).ToArray();
            var before = Streams();
            trainer.TrainStep([(a, ca), (b, cb)]);
            Assert.Equal(poison, trainer.LastStepSkipped);
            Assert.NotEqual(before, Streams()); // the step drew dropout masks
            return Streams();
        }
        var taken = StreamsAfter(poison: false);
        Assert.NotEmpty(taken);
        Assert.Equal(taken, StreamsAfter(poison: true));
    }
}
