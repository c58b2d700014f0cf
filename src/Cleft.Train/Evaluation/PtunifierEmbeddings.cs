using Cleft.Models.PTUnifier;

namespace Cleft.Train.Evaluation;

/// <summary>
/// PTUnifier seen by the evaluations: an image is embedded with its pseudo text, a text with its pseudo image (the
/// ITC embeddings); the probe fits the image's pooled pair representation [2H]; the scale is the fixed ln(1 / temperature).
/// </summary>
public sealed class PtunifierEmbeddings(PtunifierModel model) : IEmbeddingModel
{
    public int ImageSize => model.Config.ImageSize;
    public int EmbedDim => model.Config.EmbedDim;
    public int PooledDim => 2 * model.Config.Hidden;
    public float LogitScale => model.LogitScale.ToArray()[0];

    public (float[] Embeddings, float[] Pooled) EncodeImages(float[] pixels, int count) => EvalMode.Run(model, () =>
    {
        using var owner = new PtunifierBatch(model.Device);
        var pooled = model.ImagePair(model.Pixels(pixels, count), owner);
        return (model.Embed(pooled).ToArray(), pooled.ToArray());
    });

    public float[] EncodeTexts(IReadOnlyList<string> texts) => EvalMode.Run(model, () =>
    {
        using var owner = new PtunifierBatch(model.Device);
        return model.EncodeTexts(model.Encode(texts, owner), owner).ToArray();
    });
}
