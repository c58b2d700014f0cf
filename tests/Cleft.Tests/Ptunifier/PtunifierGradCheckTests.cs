using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using Cleft.Models.PTUnifier;
using Cleft.Tests.Autograd;
using Cleft.Tests.Recipe;

namespace Cleft.Tests.Ptunifier;

/// <summary>
/// Central differences (float64 sums over the engine's float32) for the co-attention fusion (its inputs and every
/// parameter, with text and image of different lengths and padded text), and for each objective on a micro model: ITC
/// through the selected pool rows, the ITM head and the MLM head (whose decoder is the tied word-embedding table).
/// </summary>
public sealed class PtunifierGradCheckTests
{
    static readonly string[] Captions = ["edema", "pleural effusion", "atelectasis"];
    static readonly int[] TextMask = [1, 1, 0, 0, 1, 1, 1, 1];

    [Fact]
    public void CoAttentionFusionInputsAndParameters()
    {
        using var dev = new CpuBackend();
        using var fusion = new CoAttentionFusion(dev, new Rng(11), hidden: 8, heads: 2, depth: 1, eps: 1e-5f);
        Randomise(fusion, 12);
        using var owner = new PtunifierBatch(dev);
        var rng = new Rng(13);
        float[] text = TestData.Normal(rng, 2 * 4 * 8), image = TestData.Normal(rng, 2 * 3 * 8);
        Tensor Outputs(Tensor t, Tensor v, PtunifierBatch batch)
        {
            var o = fusion.Forward(t, TextMask, v, batch);
            return Ops.Concat(1, Ops.Reshape(o.Text, 2, 32), Ops.Reshape(o.Image, 2, 24), o.Pooled);
        }
        GradCheck.Run(dev, x => Outputs(x[0], x[1], owner), [GradCheck.In(text, 2, 4, 8), GradCheck.In(image, 2, 3, 8)], 1e-2, 2e-3, 2e-2);
        var w = TestData.Normal(rng, 2 * 72);
        int n = PtunifierFixture.CheckParameters(fusion, batch => Ops.Sum(Ops.Mul(
            Outputs(Tensor.FromArray(dev, text, 2, 4, 8), Tensor.FromArray(dev, image, 2, 3, 8), batch), Tensor.FromArray(dev, w, 2, 72))), _ => true, () => { }, perTensor: 4);
        Assert.True(n > 70, $"only {n} fusion parameter elements checked");
    }

    [Fact]
    public void ItcThroughThePoolSelection() =>
        CheckObjective(new ObjectiveWeights(0, 0, 1), name => name.Contains("_pool.") || name.StartsWith("itc.", StringComparison.Ordinal)
            || (name.StartsWith("fusion.", StringComparison.Ordinal) && name.Contains("pooler")) || name.StartsWith("vision.embeddings.cls", StringComparison.Ordinal), expectAtLeast: 40);

    [Fact]
    public void ItmHead() =>
        CheckObjective(new ObjectiveWeights(0, 1, 0), name => name.StartsWith("itm.", StringComparison.Ordinal) || (name.StartsWith("fusion.", StringComparison.Ordinal) && name.Contains("pooler"))
            || name.Contains("cross_attention"), expectAtLeast: 60);

    [Fact]
    public void MlmHeadWithTiedEmbeddings() =>
        CheckObjective(new ObjectiveWeights(1, 0, 0), name => name.StartsWith("mlm.", StringComparison.Ordinal)
            || name == "text.embeddings.word_embeddings.weight" || name.StartsWith("fusion.text_layers.0.output", StringComparison.Ordinal), expectAtLeast: 30);

    static void CheckObjective(ObjectiveWeights weights, Func<string, bool> which, int expectAtLeast)
    {
        using var dev = new CpuBackend();
        using var model = PtunifierFixture.Model(dev, PtunifierFixture.Micro(weights), seed: 21);
        Randomise(model, 22);
        PtunifierFixture.SeparatePools(model, 23);
        var (pixels, _, _) = CleftFixture.Batch(24, 3);
        var small = Downsample(pixels, 3);
        var state = model.ObjectiveRng.ExportState();
        int n = PtunifierFixture.CheckParameters(model, owner => model.Forward(model.Pixels(small, 3), Captions, owner).Total, which,
            () => model.ObjectiveRng.ImportState(state));
        Assert.True(n >= expectAtLeast, $"only {n} parameter elements checked");
    }

    /// <summary>CleftFixture's 16 px images averaged down to the micro model's 8 px.</summary>
    static float[] Downsample(float[] pixels, int batch)
    {
        var y = new float[batch * 3 * 64];
        for (int p = 0; p < batch * 3; p++)
            for (int i = 0; i < 8; i++)
                for (int j = 0; j < 8; j++)
                    y[p * 64 + i * 8 + j] = (pixels[p * 256 + 2 * i * 16 + 2 * j] + pixels[p * 256 + 2 * i * 16 + 2 * j + 1]
                        + pixels[p * 256 + (2 * i + 1) * 16 + 2 * j] + pixels[p * 256 + (2 * i + 1) * 16 + 2 * j + 1]) / 4;
        return y;
    }

    /// <summary>Larger weights than init and non-trivial LayerNorm gains, as BertGradCheckTests does.</summary>
    static void Randomise(Module model, ulong seed)
    {
        var rng = new Rng(seed);
        foreach (var (name, p) in model.NamedParameters())
        {
            bool gain = (name.Contains("LayerNorm") || name.Contains("norm")) && name.EndsWith("weight", StringComparison.Ordinal);
            p.Load(TestData.Normal(rng, p.Length, 0.4f).Select(v => gain ? 1f + v : v).ToArray());
        }
    }
}
