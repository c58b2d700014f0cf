using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Bert;
using Cleft.Models.PTUnifier;
using Cleft.Models.Text;
using Cleft.Models.Vision;
using Cleft.Tests.Autograd;

namespace Cleft.Tests.Ptunifier;

/// <summary>Tiny PTUnifier configs on the bert-tiny vocabulary, and a parameter gradient check over any module.</summary>
public static class PtunifierFixture
{
    public static readonly BertWordPieceTokenizer Tokenizer = BertPresets.Tokenizer(BertPresets.Tiny);

    /// <summary>16 wide, 16 px images (4 x 4 patches of 4 px), one layer per tower and fusion: trains in seconds.</summary>
    public static PtunifierConfig Small(ObjectiveWeights? weights = null) => new(
        new VitConfig(16, 1, 2, 4, 16, 3, 0, 2.0, 1f, 1e-6f),
        new BertConfig(16, 1, 2, 32, BertPresets.TinyVocabulary.Count, 24, 2, 1e-5f),
        ImageSize: 16, MaxTextLength: 16, PoolSize: 16, VisualPrompts: 4, TextualPrompts: 4, FusionLayers: 1, FusionHeads: 2, EmbedDim: 16)
    { Weights = weights ?? new() };

    /// <summary>8 wide, 8 px images (2 x 2 patches), captions of at most 6 tokens: small enough for finite differences.</summary>
    public static PtunifierConfig Micro(ObjectiveWeights weights) => new(
        new VitConfig(8, 1, 2, 4, 8, 3, 0, 2.0, 1f, 1e-6f),
        new BertConfig(8, 1, 2, 12, BertPresets.TinyVocabulary.Count, 8, 2, 1e-5f),
        ImageSize: 8, MaxTextLength: 6, PoolSize: 6, VisualPrompts: 2, TextualPrompts: 3, FusionLayers: 1, FusionHeads: 2, EmbedDim: 4,
        MaskProbability: 0.5f)
    { Weights = weights };

    public static PtunifierModel Model(IBackend dev, PtunifierConfig config, ulong seed = 5) => new(dev, config, Tokenizer, new Rng(seed));

    /// <summary>
    /// Spreads each pool's rows along one direction with distinct lengths (row r = (r + 1) u + noise): scores are then
    /// well separated, so a finite-difference step never changes which rows are selected.
    /// </summary>
    public static void SeparatePools(PtunifierModel model, ulong seed)
    {
        var rng = new Rng(seed);
        foreach (var pool in new[] { model.VisualPool, model.TextualPool })
        {
            var u = TestData.Normal(rng, pool.Dim);
            var values = new float[pool.Size * pool.Dim];
            for (int r = 0; r < pool.Size; r++)
                for (int j = 0; j < pool.Dim; j++) values[r * pool.Dim + j] = (r + 1) * 0.5f * u[j] + 0.05f * (float)rng.NextNormal();
            pool.Prompts.Load(values);
        }
    }

    /// <summary>
    /// Central differences of <paramref name="loss"/> (a scalar, recomputed per evaluation with a fresh batch owner) against
    /// its analytic gradient for up to <paramref name="perTensor"/> elements of every parameter <paramref name="which"/> picks.
    /// <paramref name="reset"/> runs before every evaluation (to replay the same random draws). Returns the elements checked.
    /// </summary>
    public static int CheckParameters(Module model, Func<PtunifierBatch, Tensor> loss, Func<string, bool> which, Action reset,
        double step = 1e-2, double atol = 2e-3, double rtol = 2e-2, int perTensor = 6)
    {
        var dev = model.Parameters().First().Device;
        model.ZeroGrad();
        reset();
        using (var scope = new TensorScope())
        using (var owner = new PtunifierBatch(dev))
            loss(owner).Backward();
        double L()
        {
            reset();
            using var scope = new TensorScope();
            using var owner = new PtunifierBatch(dev);
            using var _ = GradMode.NoGrad();
            return loss(owner).Item();
        }
        return GradCheck.Parameters(model, L, which, perTensor, step, atol, rtol).Elements;
    }
}
