using Cleft.Autograd;
using Cleft.Models.Recipe;
using Cleft.Train.Cli;
using Cleft.Train.Data;
using Cleft.Train.Training;

namespace Cleft.Train.Evaluation;

/// <summary>Image features of a whole manifest, in manifest order: what every evaluation starts from.</summary>
/// <param name="Embeddings">[N, EmbedDim] L2-normalised joint-space embeddings (zero-shot, retrieval, classify).</param>
/// <param name="Pooled">[N, hidden] mean-pooled ViT tokens before the projection (the linear probe's features).</param>
/// <param name="Kept">Manifest indices of the rows (all of them unless bad images were skipped).</param>
public sealed record ImageFeatures(float[] Embeddings, int EmbedDim, float[] Pooled, int PooledDim, int[] Kept)
{
    public int Count => Kept.Length;
}

/// <summary>Runs the frozen towers over manifests in eval mode without gradients, with progress.</summary>
public static class Features
{
    public static ImageFeatures Images(CleftModel model, Manifest manifest, TextWriter log, int batch = 64, int workers = 2, bool skipBadImages = false)
    {
        var loader = new DataLoader(new ImageDataset(manifest, PretrainRun.ImageSizes(model.Config.ImageSize), skipBadImages),
            new LoaderOptions(Math.Min(batch, manifest.Count), Shuffle: false, Augment: false, Workers: workers));
        int d = model.Config.EmbedDim, h = model.Config.Vision.HiddenSize;
        var emb = new List<float>(manifest.Count * d);
        var pooled = new List<float>(manifest.Count * h);
        var kept = new List<int>(manifest.Count);
        bool training = model.Training;
        model.Eval();
        try
        {
            ProgressDisplay.Run(log, $"features {manifest.Name}", loader.BatchesPerEpoch, 0, Math.Max(1, loader.BatchesPerEpoch / 4), ticker =>
            {
                int done = 0;
                foreach (var b in loader.Epoch(0))
                {
                    using var _ = GradMode.NoGrad();
                    using var scope = new TensorScope();
                    var p = model.Image.Pooled(model.Pixels(b.Pixels, b.Count));
                    pooled.AddRange(p.ToArray());
                    emb.AddRange(Ops.L2Normalize(model.Image.Projection.Forward(p)).ToArray());
                    kept.AddRange(b.Indices);
                    ticker.Update(++done, $"{kept.Count} images");
                }
            });
        }
        finally { model.Train(training); }
        if (loader.Dataset.SkipReport() is { Length: > 0 } skipped) log.Write(skipped);
        return new ImageFeatures([.. emb], d, [.. pooled], h, [.. kept]);
    }

    /// <summary>L2-normalised text embeddings [N, EmbedDim] of captions, in batches.</summary>
    public static float[] Texts(CleftModel model, IReadOnlyList<string> captions, int batch = 64)
    {
        var result = new float[captions.Count * model.Config.EmbedDim];
        bool training = model.Training;
        model.Eval();
        try
        {
            for (int start = 0; start < captions.Count; start += batch)
            {
                var chunk = captions.Skip(start).Take(batch).ToList();
                using var _ = GradMode.NoGrad();
                using var scope = new TensorScope();
                using var texts = model.TextBatch(chunk);
                model.EncodeTexts(texts).ToArray().CopyTo(result, start * model.Config.EmbedDim);
            }
        }
        finally { model.Train(training); }
        return result;
    }
}
