using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using Cleft.Models.Bert;
using Cleft.Models.PTUnifier;
using Cleft.Models.Vision;
using Cleft.Tests.Autograd;
using Cleft.Tests.Data;
using Cleft.Tests.Recipe;
using Cleft.Tests.Vision;

namespace Cleft.Tests.Ptunifier;

/// <summary>
/// PTUnifier from Hugging Face folders (the vit_tiny and bert_tiny fixtures, both 32 wide): the towers carry the
/// checkpoints' weights and the folder's WordPiece vocabulary; a saved model loads back to the same embeddings.
/// </summary>
public sealed class PtunifierPretrainedTests
{
    static readonly string BertDir = Path.Combine(AppContext.BaseDirectory, "Fixtures", "bert_tiny");

    static PtunifierSpec Spec => new()
    {
        Vision = VitFixture.Dir, Text = BertDir, ImageSize = 16, MaxTextLength = 12, PoolSize = 8, VisualPrompts = 2, TextualPrompts = 2,
        FusionLayers = 1, FusionHeads = 4, EmbedDim = 8, Seed = 3,
    };

    [Fact]
    public void BuildsFromHuggingFaceFoldersAndRoundTrips()
    {
        using var dev = new CpuBackend();
        using var model = PtunifierModel.Build(dev, Spec);
        using (var bert = BertCheckpoint.Load(dev, BertDir, new Rng(1)))
            foreach (var (name, p) in bert.NamedParameters())
                Assert.Equal(p.ToArray(), model.Text.NamedParameters().Single(x => x.Name == name).Param.ToArray());
        using (var vit = new VisionTransformer(dev, new Rng(1), VitConfig.FromJson(VitFixture.Config), 16))
        {
            VitCheckpoint.Load(vit, VitFixture.Weights);
            foreach (var (name, p) in vit.NamedParameters())
                Assert.Equal(p.ToArray(), model.Vision.NamedParameters().Single(x => x.Name == name).Param.ToArray());
        }
        Assert.Equal(BertWordPieceTokenizerVocabulary(), model.Tokenizer.VocabSize);

        var (pixels, _, _) = CleftFixture.Batch(5, 3);
        string[] captions = ["the lungs are clear", "no acute finding", "a small effusion"];
        float[] Embed(PtunifierModel m)
        {
            using var scope = new TensorScope();
            using var owner = new PtunifierBatch(dev);
            return [.. m.EncodeImages(m.Pixels(pixels, 3), owner).ToArray(), .. m.EncodeTexts(m.Encode(captions, owner), owner).ToArray()];
        }
        using (var scope = new TensorScope())
        using (var owner = new PtunifierBatch(dev))
            Assert.True(float.IsFinite(model.Forward(model.Pixels(pixels, 3), captions, owner).Total.Item()));
        using var dir = new TempDir();
        model.SaveWeights(dir.Path);
        using var loaded = PtunifierModel.Load(dev, dir.Path);
        TestData.AssertClose(Embed(model).Select(v => (double)v).ToArray(), Embed(loaded), 0, 0, "embeddings after save and load");
    }

    static int BertWordPieceTokenizerVocabulary() => File.ReadAllLines(Path.Combine(BertDir, "vocab.txt")).Length;
}
