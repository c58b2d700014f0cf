using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using Cleft.Models.Bert;
using Cleft.Tests.Autograd;

namespace Cleft.Tests.Bert;

/// <summary>
/// Central differences through the whole BERT (embeddings, 2 post-norm blocks with a padded key, pooler) on a very
/// small config: the loss sum(hidden * w1) + sum(pooled * w2) accumulated in float64, for the input embeddings
/// (the inputs_embeds path) and for every parameter tensor (up to 8 elements each).
/// </summary>
public sealed class BertGradCheckTests
{
    // hidden 8, 2 layers, 2 heads, intermediate 12, vocab 11, 6 positions, 2 token types.
    static readonly BertConfig Small = new(8, 2, 2, 12, 11, 6, 2, 1e-5f);
    const double Step = 1e-2, Atol = 2e-3, Rtol = 2e-2;
    const int B = 2, T = 4;
    static readonly int[] Mask = [1, 1, 1, 0, 1, 1, 1, 1];
    static readonly int[] Types = [0, 0, 1, 1, 0, 1, 1, 0];
    static readonly int[] Ids = [2, 5, 7, 0, 3, 9, 10, 1];

    static Tensor Loss(BertOutput o) =>
        Ops.Concat(1, Ops.Reshape(o.LastHiddenState, B, T * 8), o.PooledOutput);     // [B, T*8 + 8]

    [Fact]
    public void InputEmbeddingGradient()
    {
        using var dev = new CpuBackend();
        using var model = Randomised(dev);
        using var mask = IntTensor.FromArray(dev, Mask, B, T);
        using var types = IntTensor.FromArray(dev, Types, B, T);
        GradCheck.Run(dev, x => Loss(model.ForwardEmbeddings(x[0], mask, types)), [GradCheck.In(TestData.Normal(new Rng(81), B * T * 8), B, T, 8)], Step, Atol, Rtol);
    }

    [Fact]
    public void EveryParameterGradient()
    {
        using var dev = new CpuBackend();
        using var model = Randomised(dev);
        using var ids = IntTensor.FromArray(dev, Ids, B, T);
        using var mask = IntTensor.FromArray(dev, Mask, B, T);
        using var types = IntTensor.FromArray(dev, Types, B, T);
        var w = TestData.Normal(new Rng(82), B * (T * 8 + 8));
        using (var scope = new TensorScope())
            Loss(model.Forward(ids, mask, types)).Backward(Tensor.FromArray(dev, w, B, T * 8 + 8));
        double L()
        {
            using var scope = new TensorScope();
            using var _ = GradMode.NoGrad();
            var y = Loss(model.Forward(ids, mask, types)).ToArray();
            return y.Select((v, i) => (double)v * w[i]).Sum();
        }
        // Every tensor, at most 8 elements each (evenly spread, offset per tensor): keeps the test a few seconds.
        var (checkedCount, tensors) = GradCheck.Parameters(model, L, _ => true, perTensor: 8, Step, Atol, Rtol);
        Assert.Equal(5 + 2 * 16 + 2, tensors);
        Assert.True(checkedCount > 200, $"only {checkedCount} parameter elements checked");
    }

    [Fact]
    public void PoolerTanhMatchesMath()
    {
        using var dev = new CpuBackend();
        float[] z = [-30f, -2.5f, -0.3f, 0f, 1e-4f, 0.7f, 4f, 40f];
        using var scope = new TensorScope();
        var y = BertModelTanh(Tensor.FromArray(dev, z, 2, 4)).ToArray();
        TestData.AssertClose(z.Select(v => Math.Tanh(v)).ToArray(), y, 1e-6, 1e-6, "tanh");
        GradCheck.Run(dev, x => BertModelTanh(x[0]), [GradCheck.In([-2.5f, -0.3f, 0.1f, 0.7f, 1.9f, 3f], 2, 3)], 1e-3, 1e-3, 1e-2);
    }

    static Tensor BertModelTanh(Tensor z) => BertModel.Tanh(z);

    /// <summary>Non-trivial LayerNorm gains and biases (their inits are 1 and 0) and larger weights than init.</summary>
    static BertModel Randomised(CpuBackend dev)
    {
        var model = new BertModel(dev, new Rng(83), Small);
        var rng = new Rng(84);
        foreach (var (name, p) in model.NamedParameters())
        {
            bool gain = name.Contains("LayerNorm") && name.EndsWith("weight", StringComparison.Ordinal);
            p.Load(TestData.Normal(rng, p.Length, 0.4f).Select(v => gain ? 1f + v : v).ToArray());
        }
        return model;
    }
}
