using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using Cleft.Models.Peft;
using Cleft.Models.Recipe;
using Cleft.Tests.Gpt2;
using Cleft.Train.Training;

namespace Cleft.Tests.Recipe;

/// <summary>Model specs, saved weights, fingerprints, dropout streams in checkpoints, gradient accumulation, stage-2 resume.</summary>
public sealed class CleftPersistenceTests
{
    static readonly CleftModelSpec TinySpec = new()
    {
        Vision = "tiny", Text = "tiny", ImageSize = 16, EmbedDim = 16, MaxTextLength = 12, Seed = 3,
        Lora = new LoraConfig(4, 8f, 0.2f, ["c_attn"]), TextDropout = true,
    };

    static float[] Embeddings(CleftModel m, float[] pixels, int batch)
    {
        using var _ = GradMode.NoGrad();
        using var scope = new TensorScope();
        return m.EncodeImages(m.Pixels(pixels, batch)).ToArray();
    }

    static float[] TinyPixels(int batch, ulong seed)
    {
        var p = new float[batch * 3 * 16 * 16];
        new Rng(seed).FillNormal(p, 0f, 1f);
        return p;
    }

    [Fact]
    public void SavedWeightsLoadIntoAnInferenceReadyModel()
    {
        using var dir = new Gpt2Fixture.TempDir();
        using var dev = new CpuBackend();
        var pixels = TinyPixels(4, 1);
        float[] before;
        using (var model = CleftModel.Build(dev, TinySpec))
        using (var trainer = new Stage1Trainer(model, new Stage1Options { LearningRate = 1e-2f, WarmupSteps = 0, TotalSteps = 3 }))
        {
            trainer.TrainStep(pixels, ["a ring", "a bar", "a square", "a ring"]);
            model.SaveWeights(dir);
            before = Embeddings(model, pixels, 4);
        }
        using var loaded = CleftModel.Load(dev, dir);
        Assert.False(loaded.Training);
        Assert.Equal(before, Embeddings(loaded, pixels, 4));
        Assert.Equal(TinySpec.ToJson(null), loaded.Spec!.ToJson(null));
    }

    [Fact]
    public void FingerprintCoversTheFrozenBaseOnly()
    {
        using var dev = new CpuBackend();
        using var a = CleftModel.Build(dev, TinySpec);
        using var b = CleftModel.Build(dev, TinySpec);
        using var c = CleftModel.Build(dev, TinySpec with { Seed = 4 });
        Assert.Equal(a.FrozenFingerprint(), b.FrozenFingerprint());
        Assert.NotEqual(a.FrozenFingerprint(), c.FrozenFingerprint());
        a.Image.Projection.Weight.Load(new float[a.Image.Projection.Weight.Length]); // a trainable weight: not part of it
        Assert.Equal(b.FrozenFingerprint(), a.FrozenFingerprint());
        var e = Assert.Throws<InvalidDataException>(() => CleftModel.CheckFingerprint(a.FrozenFingerprint(), c.FrozenFingerprint(), "ckpt"));
        Assert.Contains(a.FrozenFingerprint(), e.Message);
        Assert.Contains(c.FrozenFingerprint(), e.Message);
    }

    [Fact]
    public void DropoutStreamsAreCheckpointedSoResumeIsExact()
    {
        using var dir = new Gpt2Fixture.TempDir();
        string[] captions = ["a ring", "a bar", "a square", "one ring"];
        List<float> Steps(Stage1Trainer t, int from, int to) =>
            Enumerable.Range(from, to - from).Select(s => t.TrainStep(TinyPixels(4, 100 + (ulong)s), captions)).ToList();
        var options = new Stage1Options { LearningRate = 1e-2f, WarmupSteps = 1, TotalSteps = 10, CheckpointDirectory = dir };
        List<float> straight;
        using (var dev = new CpuBackend())
        using (var model = CleftModel.Build(dev, TinySpec))
        using (var trainer = new Stage1Trainer(model, options))
        {
            Assert.NotEmpty(model.NamedRandomStreams());
            Steps(trainer, 0, 3);
            trainer.SaveCheckpoint(data: new DataPosition(0, 3));
            straight = Steps(trainer, 3, 7);
        }
        using var dev2 = new CpuBackend();
        using var model2 = CleftModel.Build(dev2, TinySpec);
        using var resumed = new Stage1Trainer(model2, options);
        var restored = resumed.ResumeLatest();
        Assert.Equal(new DataPosition(0, 3), restored!.Value.Data);
        Assert.Equal(straight, Steps(resumed, 3, 7)); // dropout masks included: bit for bit
    }

    [Fact]
    public void AccumulatingTwoCopiesOfABatchEqualsOneStepOnIt()
    {
        using var dev = new CpuBackend();
        var pixels = TinyPixels(4, 9);
        string[] captions = ["a ring", "a bar", "a square", "one ring"];
        var spec = TinySpec with { Lora = new LoraConfig(4, 8f, 0f, ["c_attn"]), TextDropout = false };
        using var a = CleftModel.Build(dev, spec);
        using var b = CleftModel.Build(dev, spec);
        var options = new Stage1Options { LearningRate = 1e-2f, WarmupSteps = 0, TotalSteps = 3 };
        using var ta = new Stage1Trainer(a, options);
        using var tb = new Stage1Trainer(b, options);
        float la = ta.TrainStep(pixels, captions);
        float lb = tb.TrainStep([(pixels, captions), (pixels, captions)]);
        Assert.Equal(la, lb, 5);
        var pa = a.Image.Projection.Weight.ToArray();
        var pb = b.Image.Projection.Weight.ToArray();
        for (int i = 0; i < pa.Length; i++) Assert.Equal(pa[i], pb[i], 5);
    }

    [Fact]
    public void Stage2ResumesWithIdenticalLosses()
    {
        using var dir = new Gpt2Fixture.TempDir();
        string[] classes = ["ring", "bar", "square"];
        var spec = TinySpec with { TextDropout = false };
        int[] Labels(int s) => [s % 3, (s + 1) % 3, (s + 2) % 3, s % 3];
        List<float> Steps(Stage2Trainer t, int from, int to) =>
            Enumerable.Range(from, to - from).Select(s => t.TrainStep(TinyPixels(4, 200 + (ulong)s), Labels(s))).ToList();
        var options = new Stage2Options { LearningRate = 0.05f, WarmupSteps = 1, TotalSteps = 10, CheckpointDirectory = dir };
        List<float> straight;
        using (var dev = new CpuBackend())
        using (var model = CleftModel.Build(dev, spec))
        using (var prompts = new PromptLearner(model, classes, 4, "a photo of a"))
        using (var trainer = new Stage2Trainer(prompts, options))
        {
            Steps(trainer, 0, 3);
            trainer.SaveCheckpoint(data: new DataPosition(1, 0));
            straight = Steps(trainer, 3, 6);
        }
        using var dev2 = new CpuBackend();
        using var model2 = CleftModel.Build(dev2, spec);
        using var prompts2 = new PromptLearner(model2, classes, 4, "a photo of a");
        using var resumed = new Stage2Trainer(prompts2, options);
        Assert.Equal(new DataPosition(1, 0), resumed.ResumeLatest()!.Value.Data);
        Assert.Equal(3, resumed.Step);
        Assert.Equal(straight, Steps(resumed, 3, 6));
    }

    [Fact]
    public void ReleasedCodeVariantTrainsTheImageTowerAndCheckpointsIt()
    {
        using var dir = new Gpt2Fixture.TempDir();
        using var dev = new CpuBackend();
        var spec = TinySpec with { TextDropout = false };
        using var model = CleftModel.Build(dev, spec);
        var wteBefore = model.Gpt2Text.Transformer.Wte.ToArray();
        var patchBefore = model.Image.Vit.NamedParameters().First().Param.ToArray();
        using var prompts = new PromptLearner(model, ["ring", "bar", "square"], 4, "a photo of a", PromptLearner.Variant.ReleasedCode);
        Assert.Contains(prompts.TrainedParameters, x => x.Name.StartsWith("image.vit.", StringComparison.Ordinal));
        using var trainer = new Stage2Trainer(prompts, new Stage2Options { LearningRate = 0.05f, WarmupSteps = 0, TotalSteps = 5, CheckpointDirectory = dir });
        for (int s = 0; s < 3; s++) Assert.True(float.IsFinite(trainer.TrainStep(TinyPixels(4, 300 + (ulong)s), [0, 1, 2, 0])));
        Assert.NotEqual(patchBefore, model.Image.Vit.NamedParameters().First().Param.ToArray());
        Assert.Equal(wteBefore, model.Gpt2Text.Transformer.Wte.ToArray()); // the text tower stays frozen
        string checkpoint = trainer.SaveCheckpoint();

        using var dev2 = new CpuBackend();
        using var model2 = CleftModel.Build(dev2, spec);
        using var prompts2 = new PromptLearner(model2, ["ring", "bar", "square"], 4, "a photo of a", PromptLearner.Variant.ReleasedCode);
        Stage2Trainer.LoadContext(checkpoint, prompts2);
        Assert.Equal(model.Image.Vit.NamedParameters().First().Param.ToArray(), model2.Image.Vit.NamedParameters().First().Param.ToArray());
        using var paper = new PromptLearner(CleftModel.Build(dev2, spec), ["ring", "bar", "square"], 4, "a photo of a");
        Assert.Throws<InvalidDataException>(() => Stage2Trainer.LoadContext(checkpoint, paper)); // the paper's learner has no image.* to load
        paper.Model.Dispose();
    }
}
