using System.Text.Json;
using System.Text.Json.Serialization;
using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using Cleft.Models.Bert;
using Cleft.Models.Text;
using Cleft.Tests.Vision;

namespace Cleft.Tests.Bert;

/// <summary>
/// The tiny BERT of tests/fixtures/generators/bert_tiny.py (HF BertModel's forward in plain torch, float64,
/// "bert."-prefixed keys with cls.* heads and the position_ids buffer beside them) against ours in float32.
/// </summary>
public sealed class BertTorchParityTests
{
    sealed record Reference(
        [property: JsonPropertyName("batch")] int Batch,
        [property: JsonPropertyName("seq")] int Seq,
        [property: JsonPropertyName("texts")] string[] Texts,
        [property: JsonPropertyName("input_ids")] int[] InputIds,
        [property: JsonPropertyName("attention_mask")] int[] AttentionMask,
        [property: JsonPropertyName("token_type_ids")] int[] TokenTypeIds,
        [property: JsonPropertyName("last_hidden_state")] float[] LastHiddenState,
        [property: JsonPropertyName("pooler_output")] float[] PoolerOutput);

    static string Dir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "bert_tiny");
    static Reference Ref() => JsonSerializer.Deserialize<Reference>(File.ReadAllText(Path.Combine(Dir, "reference.json")))!;

    [Fact]
    public void HiddenStatesAndPoolerMatchTorch()
    {
        var r = Ref();
        using var dev = new CpuBackend();
        using var model = BertCheckpoint.Load(dev, Dir, new Rng(1));
        Assert.Equal(BertConfig.Tiny(model.Config.VocabSize), model.Config);
        using var scope = new TensorScope();
        using var _ = GradMode.NoGrad();
        using var ids = IntTensor.FromArray(dev, r.InputIds, r.Batch, r.Seq);
        using var mask = IntTensor.FromArray(dev, r.AttentionMask, r.Batch, r.Seq);
        using var types = IntTensor.FromArray(dev, r.TokenTypeIds, r.Batch, r.Seq);
        var o = model.Forward(ids, mask, types);
        Assert.Equal([r.Batch, r.Seq, 32], o.LastHiddenState.Shape);
        Assert.Equal([r.Batch, 32], o.PooledOutput.Shape);
        VitFixture.AssertClose(r.LastHiddenState, o.LastHiddenState.ToArray(), 1e-4, 0, "last_hidden_state");
        VitFixture.AssertClose(r.PoolerOutput, o.PooledOutput.ToArray(), 1e-4, 0, "pooler_output");
    }

    /// <summary>The fixture's inputs came from the reference tokenizer: the library-backed one gives the same batch.</summary>
    [Fact]
    public void TokenizerReproducesTheFixtureInputs()
    {
        var r = Ref();
        var (ids, mask, _) = BertWordPieceTokenizer.Load(Dir).EncodeBatch(r.Texts, r.Seq);
        Assert.Equal(r.InputIds, ids);
        Assert.Equal(r.AttentionMask, mask);
    }

    [Fact]
    public void PaddingDoesNotChangeTheRealTokens()
    {
        // Row 0 alone, unpadded, must equal its padded form's real positions (and the pooled [CLS] output).
        var r = Ref();
        int n = r.AttentionMask.Take(r.Seq).Sum();
        using var dev = new CpuBackend();
        using var model = BertCheckpoint.Load(dev, Dir, new Rng(1));
        using var scope = new TensorScope();
        using var _ = GradMode.NoGrad();
        using var ids = IntTensor.FromArray(dev, r.InputIds.AsSpan(0, n), 1, n);
        var o = model.Forward(ids);
        var expected = r.LastHiddenState.AsSpan(0, n * 32).ToArray();
        VitFixture.AssertClose(expected, o.LastHiddenState.ToArray(), 1e-4, 0, "unpadded row 0");
        VitFixture.AssertClose(r.PoolerOutput[..32], o.PooledOutput.ToArray(), 1e-4, 0, "unpadded pooler row 0");
    }
}
