using Cleft.Train.Cli;
using Cleft.Train.Data;
using Cleft.Train.Training;

namespace Cleft.Train.Evaluation;

/// <summary>Image features of a whole manifest, in manifest order: what every evaluation starts from.</summary>
/// <param name="Embeddings">[N, EmbedDim] L2-normalised joint-space embeddings (zero-shot, retrieval, classify).</param>
/// <param name="Pooled">[N, PooledDim] the linear probe's features (CLEFT: mean-pooled ViT tokens before the projection).</param>
/// <param name="Kept">Manifest indices of the rows (all of them unless bad images were skipped).</param>
public sealed record ImageFeatures(float[] Embeddings, int EmbedDim, float[] Pooled, int PooledDim, int[] Kept)
{
    public int Count => Kept.Length;
}

/// <summary>Runs a trained model over manifests in eval mode without gradients, with progress.</summary>
public static class Features
{
    public static ImageFeatures Images(IEmbeddingModel model, Manifest manifest, TextWriter log, int batch = 64, int workers = 2, bool skipBadImages = false)
    {
        var loader = new DataLoader(new ImageDataset(manifest, PretrainRun.ImageSizes(model.ImageSize), skipBadImages),
            new LoaderOptions(Math.Min(batch, manifest.Count), Shuffle: false, Augment: false, Workers: workers));
        int d = model.EmbedDim, h = model.PooledDim;
        var emb = new List<float>(manifest.Count * d);
        var pooled = new List<float>(manifest.Count * h);
        var kept = new List<int>(manifest.Count);
        ProgressDisplay.Run(log, $"features {manifest.Name}", loader.BatchesPerEpoch, 0, Math.Max(1, loader.BatchesPerEpoch / 4), ticker =>
        {
            int done = 0;
            foreach (var b in loader.Epoch(0))
            {
                var (e, p) = model.EncodeImages(b.Pixels, b.Count);
                pooled.AddRange(p);
                emb.AddRange(e);
                kept.AddRange(b.Indices);
                ticker.Update(++done, $"{kept.Count} images");
            }
        });
        if (loader.Dataset.SkipReport() is { Length: > 0 } skipped) log.Write(skipped);
        return new ImageFeatures([.. emb], d, [.. pooled], h, [.. kept]);
    }

    /// <summary>L2-normalised text embeddings [N, EmbedDim] of captions, in batches.</summary>
    public static float[] Texts(IEmbeddingModel model, IReadOnlyList<string> captions, int batch = 64)
    {
        var result = new float[captions.Count * model.EmbedDim];
        for (int start = 0; start < captions.Count; start += batch)
            model.EncodeTexts(captions.Skip(start).Take(batch).ToList()).CopyTo(result, start * model.EmbedDim);
        return result;
    }
}
