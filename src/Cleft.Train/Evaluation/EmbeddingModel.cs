using Cleft.Autograd;
using Cleft.Models.Recipe;

namespace Cleft.Train.Evaluation;

/// <summary>
/// What the evaluations read from a trained image-text model, whatever its architecture (CLEFT's two towers,
/// PTUnifier's prompted fusion): joint-space embeddings of images and texts, the features a linear probe fits, and the
/// logit scale zero-shot softmaxes with. Every call runs in eval mode without a graph and puts the mode back.
/// </summary>
public interface IEmbeddingModel
{
    int ImageSize { get; }
    int EmbedDim { get; }
    int PooledDim { get; }
    /// <summary>s with logits = exp(s) cos-sim.</summary>
    float LogitScale { get; }
    /// <summary>pixels [n, 3, S, S] -> L2-normalised embeddings [n, EmbedDim] and probe features [n, PooledDim].</summary>
    (float[] Embeddings, float[] Pooled) EncodeImages(float[] pixels, int count);
    /// <summary>L2-normalised embeddings [n, EmbedDim] of one batch of texts.</summary>
    float[] EncodeTexts(IReadOnlyList<string> texts);
}

/// <summary>CLEFT's towers: the projected mean-pooled ViT tokens, the projected EOS state of GPT-2, the learned scale.</summary>
public sealed class CleftEmbeddings(CleftModel model) : IEmbeddingModel
{
    public int ImageSize => model.Config.ImageSize;
    public int EmbedDim => model.Config.EmbedDim;
    public int PooledDim => model.Config.Vision.HiddenSize;
    public float LogitScale => model.LogitScale.Read();

    public (float[] Embeddings, float[] Pooled) EncodeImages(float[] pixels, int count) => EvalMode.Run(model, () =>
    {
        var p = model.Image.Pooled(model.Pixels(pixels, count));
        return (Ops.L2Normalize(model.Image.Projection.Forward(p)).ToArray(), p.ToArray());
    });

    public float[] EncodeTexts(IReadOnlyList<string> texts) => EvalMode.Run(model, () =>
    {
        using var batch = model.TextBatch(texts);
        return model.EncodeTexts(batch).ToArray();
    });
}

/// <summary>Runs host-returning work in eval mode, without gradients, in its own tensor scope; the mode is put back.</summary>
public static class EvalMode
{
    public static T Run<T>(Module model, Func<T> work)
    {
        bool training = model.Training;
        model.Eval();
        try
        {
            using var _ = GradMode.NoGrad();
            using var scope = new TensorScope();
            return work();
        }
        finally { model.Train(training); }
    }
}
