using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using Cleft.Models.Recipe;
using Cleft.Train.Training;
using Xunit.Abstractions;

namespace Cleft.Tests.Recipe;

/// <summary>Zero-shot classification after a short stage 1, and the embeddings it is built from.</summary>
public sealed class ZeroShotTests(ITestOutputHelper output)
{
    [Fact]
    public void AccuracyIsAboveChanceAfterShortStage1()
    {
        using var dev = new CpuBackend();
        using var model = CleftFixture.Model(dev);
        using var trainer = new Stage1Trainer(model, CleftFixture.Stage1(60));
        var losses = CleftFixture.Train(trainer, 0, 60);
        float val = trainer.Validate([.. Enumerable.Range(0, 2).Select(i =>
        {
            var (p, c, _) = CleftFixture.Batch(77 + (ulong)i, 8);
            return (p, (IReadOnlyList<string>)c);
        })]);
        Assert.True(model.Training);

        var classifier = ZeroShotClassifier.FromPrompts(model, ZeroShotClassifier.Prompts(CleftFixture.Classes, ZeroShotClassifier.ChexpertTemplate));
        var (pixels, _, labels) = CleftFixture.Batch(4242, 64);
        var result = classifier.Classify(pixels, 64);
        double acc = result.Predictions.Zip(labels).Count(x => x.First == x.Second) / 64.0;
        output.WriteLine($"loss {losses[0]:F3} -> {losses[^1]:F3}, val {val:F3}, zero-shot acc {acc:P0}");
        Assert.True(acc > 0.5, $"zero-shot accuracy {acc:P0} (chance 25%)");
        for (int b = 0; b < 64; b++)
            Assert.Equal(1.0, Enumerable.Range(0, 4).Sum(k => (double)result.Score(b, k)), 4);
    }

    [Fact]
    public void EmbeddingsAreUnitNormAndForwardEmbeddingsMatchesIds()
    {
        using var dev = new CpuBackend();
        using var model = CleftFixture.Model(dev);
        using var _ = GradMode.NoGrad();
        using var scope = new TensorScope();
        using var texts = model.TextBatch([CleftFixture.Caption(0), CleftFixture.Caption(1)]);
        var t = model.EncodeTexts(texts).ToArray();
        var (pixels, _, _) = CleftFixture.Batch(1, 2);
        var i = model.EncodeImages(model.Pixels(pixels, 2)).ToArray();
        foreach (var v in new[] { t, i })
            for (int r = 0; r < 2; r++)
                Assert.Equal(1.0, Math.Sqrt(v.Skip(r * CleftFixture.EmbedDim).Take(CleftFixture.EmbedDim).Sum(x => (double)x * x)), 5);
        var gpt = model.Gpt2Text.Transformer;
        var viaIds = gpt.Forward(texts.Ids, texts.Mask).ToArray();
        var viaEmbeds = gpt.ForwardEmbeddings(Ops.Embedding(gpt.Wte, texts.Ids), texts.Mask).ToArray();
        Assert.Equal(viaIds, viaEmbeds);
    }

    [Fact]
    public void PromptsFillTheTemplateSlotWithTheLowercasedClassName()
    {
        Assert.Equal(["a photo of pleural effusion", "a photo of edema"],
            ZeroShotClassifier.Prompts(["Pleural Effusion", "Edema"], "a photo of {}"));
        Assert.Equal(["edema, seen on a chest film"], ZeroShotClassifier.Prompts(["Edema"], "{}, seen on a chest film"));
        Assert.Equal("this is a chest x ray of a patient with", ZeroShotClassifier.TemplatePrefix(ZeroShotClassifier.ChexpertTemplate));
        var ex = Assert.Throws<ArgumentException>(() => ZeroShotClassifier.Prompts(["Edema"], "a photo of"));
        Assert.Contains("'a photo of'", ex.Message);
        Assert.Contains("{}", ex.Message);
    }
}
