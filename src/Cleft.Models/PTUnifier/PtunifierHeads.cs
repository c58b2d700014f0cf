using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Layers;

namespace Cleft.Models.PTUnifier;

/// <summary>
/// BERT's masked-language-model head (HF BertLMPredictionHead): dense + exact-erf GELU + LayerNorm, then the decoder
/// whose weight is the text tower's word-embedding table (tied, as in BERT: one matrix, both gradients) plus its own
/// bias [V]. Names: transform.dense, transform.LayerNorm, bias.
/// </summary>
public sealed class MlmHead : Module
{
    readonly Parameter _wordEmbeddings;

    public MlmHead(IBackend device, Rng rng, int hidden, Parameter wordEmbeddings, float eps)
    {
        ArgumentNullException.ThrowIfNull(wordEmbeddings);
        if (wordEmbeddings.Rank != 2 || wordEmbeddings.Dim(1) != hidden)
            throw new ArgumentException($"MlmHead: the tied word embeddings {wordEmbeddings.Describe()} must be [vocab, {hidden}]");
        _wordEmbeddings = wordEmbeddings;
        Dense = AddModule("transform.dense", new Linear(device, rng, hidden, hidden));
        Norm = AddModule("transform.LayerNorm", new LayerNorm(device, hidden, eps));
        Bias = AddParameter("bias", Parameter.Zeros(device, wordEmbeddings.Dim(0)));
    }

    public Linear Dense { get; }
    public LayerNorm Norm { get; }
    public Parameter Bias { get; }

    /// <summary>x [N, H] -> vocabulary logits [N, V].</summary>
    public Tensor Forward(Tensor x) =>
        Ops.Add(Ops.MatMul(Norm.Forward(Ops.GeluErf(Dense.Forward(x))), _wordEmbeddings, transB: true), Bias);
}
