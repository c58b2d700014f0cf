using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using Cleft.Models.Bert;
using Cleft.Models.Recipe;
using Cleft.Models.Text;
using Cleft.Tests.Gpt2;

namespace Cleft.Tests.Recipe;

/// <summary>
/// The BERT-CLIP baseline as a model: CLEFT's ViT and contrastive head with a fully fine-tuned bert-tiny text
/// tower; every BERT weight learns, captions keep their [SEP] when truncated, the spec rebuilds it from model.json,
/// and what only CLEFT's GPT-2 tower can do (stage 2, LoRA) is refused by name.
/// </summary>
public sealed class BertClipModelTests
{
    static readonly CleftModelSpec Spec = new()
    {
        Vision = "tiny", Text = BertPresets.Tiny, TextKind = CleftModelSpec.BertKind, FreezeText = false, Lora = null,
        ImageSize = CleftFixture.Size, EmbedDim = 16, MaxTextLength = 16, Seed = 5,
    };

    [Fact]
    public void EveryBertWeightHasAGradientAfterAStep()
    {
        using var dev = new CpuBackend();
        using var model = CleftModel.Build(dev, Spec);
        Assert.IsType<BertTextEncoder>(model.Text);
        var text = model.NamedParameters().Where(x => x.Name.StartsWith("text.", StringComparison.Ordinal)).ToList();
        Assert.Contains(text, x => x.Name == "text.bert.embeddings.word_embeddings.weight");
        Assert.Contains(text, x => x.Name.StartsWith("text.bert.pooler.dense.", StringComparison.Ordinal));
        Assert.All(text, x => Assert.True(x.Param.RequiresGrad, $"{x.Name} is frozen"));

        var (pixels, captions, _) = CleftFixture.Batch(11, 8);
        using (var scope = new TensorScope())
        using (var texts = model.TextBatch(captions))
            model.Forward(model.Pixels(pixels, 8), texts).Backward();
        foreach (var (name, p) in text)
        {
            var grad = p.Grad?.ToArray();
            Assert.True(grad is not null, $"{name} has no gradient");
            Assert.True(grad.All(float.IsFinite) && grad.Any(g => g != 0f), $"{name}'s gradient is zero or not finite");
        }
    }

    [Fact]
    public void CaptionsAreFramedAndTruncationKeepsTheClosingToken()
    {
        using var dev = new CpuBackend();
        using var model = CleftModel.Build(dev, Spec);
        var tok = BertPresets.Tokenizer(BertPresets.Tiny);
        string longCaption = string.Join(' ', Enumerable.Repeat("lung", 30));
        using var batch = model.TextBatch(["a chest x ray", longCaption]);
        var ids = batch.Ids.ToArray();
        var mask = batch.Mask.ToArray();
        int t = Spec.MaxTextLength;
        Assert.Equal(tok.Encode("a chest x ray"), ids[..6]);
        Assert.All(ids[6..t], id => Assert.Equal(tok.PadId, id));
        Assert.Equal([1, 1, 1, 1, 1, 1, .. new int[t - 6]], mask[..t]);
        Assert.Equal(tok.ClsId, ids[t]);
        Assert.Equal(tok.SepId, ids[2 * t - 1]); // HF's truncation keeps [SEP]
        Assert.All(mask[t..], m => Assert.Equal(1, m));
    }

    [Fact]
    public void SavedModelRebuildsAsBertFromModelJson()
    {
        using var dir = new Gpt2Fixture.TempDir();
        using var dev = new CpuBackend();
        string[] prompts = ["atelectasis", "edema"];
        float[] before;
        using (var model = CleftModel.Build(dev, Spec))
        {
            // Move every text weight off its seeded start, so only loading can bring the embeddings back.
            foreach (var (_, p) in model.TrainableNamedParameters()) p.Load(p.ToArray().Select(v => v * 0.9f + 0.01f).ToArray());
            before = TextEmbeddings(model, prompts);
            model.SaveWeights(dir.Path);
        }
        Assert.Contains("\"TextKind\": \"bert\"", File.ReadAllText(Path.Combine(dir.Path, CleftModelSpec.FileName)));
        using var loaded = CleftModel.Load(dev, dir.Path);
        Assert.IsType<BertTextEncoder>(loaded.Text);
        Assert.Equal(before, TextEmbeddings(loaded, prompts));
    }

    [Fact]
    public void AHuggingFaceBertFolderIsDetectedAndLoaded()
    {
        string folder = Path.Combine(AppContext.BaseDirectory, "Fixtures", "bert_tiny");
        Assert.Equal(CleftModelSpec.BertKind, CleftModelSpec.KindOf(folder));
        using var dev = new CpuBackend();
        using var model = CleftModel.Build(dev, Spec with { Text = folder });
        using var reference = BertCheckpoint.Load(dev, folder, new Rng(1));
        var text = (BertTextEncoder)model.Text;
        Assert.Equal(reference.Embeddings.Word.ToArray(), text.Bert.Embeddings.Word.ToArray());
        Assert.Equal(reference.Layers[1].NamedParameters().First().Param.ToArray(), text.Bert.Layers[1].NamedParameters().First().Param.ToArray());
        using var batch = model.TextBatch(["a chest x ray"]);
        Assert.Equal(BertWordPieceTokenizer.Load(folder).Encode("a chest x ray"), batch.Ids.ToArray()[..batch.EosPositions[0]]);
    }

    static float[] TextEmbeddings(CleftModel m, string[] captions)
    {
        using var _ = GradMode.NoGrad();
        using var scope = new TensorScope();
        using var batch = m.TextBatch(captions);
        return m.EncodeTexts(batch).ToArray();
    }

    [Fact]
    public void GptOnlyFeaturesAreRefusedByName()
    {
        using var dev = new CpuBackend();
        using var model = CleftModel.Build(dev, Spec);
        var e = Assert.Throws<NotSupportedException>(() => new PromptLearner(model, ["edema", "effusion"], 4, "a chest x ray of"));
        Assert.Contains("BERT", e.Message);
        var lora = Assert.Throws<ArgumentException>(() => (Spec with { FreezeText = true, Lora = new(4, 8f, 0f, ["query"]) }).Config().Validate());
        Assert.Contains("fully fine-tuned", lora.Message);
        Assert.Equal(CleftModelSpec.BertKind, CleftModelSpec.KindOf(BertPresets.Tiny));
        Assert.Equal(CleftModelSpec.Gpt2Kind, CleftModelSpec.KindOf("tiny"));
    }
}
