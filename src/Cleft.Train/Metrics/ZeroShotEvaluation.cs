namespace Cleft.Train.Metrics;

/// <summary>Zero-shot metrics: accuracy, macro one-vs-rest AUC on softmax scores, confusion matrix.
/// (Named apart from Cleft.Models.Recipe.ZeroShotResult, the classifier's raw scores.)</summary>
public sealed record ZeroShotMetrics(double Accuracy, AucReport Auc, ConfusionMatrix Confusion, int[] Predictions, double[] Probabilities);

/// <summary>
/// CLEFT's zero-shot evaluation on host embeddings: logits = exp(logit_scale) * cos(image, class prompt),
/// prediction = argmax, AUC on the row softmax. Embeddings are L2-normalised here, so raw projections can be
/// passed. Cosine is computed in double so results do not depend on summation order.
/// </summary>
public static class ZeroShotEvaluation
{
    /// <param name="images">[N, dim] image embeddings, row-major.</param>
    /// <param name="classes">[K, dim] embeddings of the K class prompts, in label order.</param>
    public static ZeroShotMetrics Evaluate(ReadOnlySpan<float> images, ReadOnlySpan<float> classes, int dim,
        ReadOnlySpan<int> labels, float logitScale)
    {
        if (dim <= 0 || images.Length % dim != 0 || classes.Length % dim != 0 || classes.Length == 0)
            throw new ArgumentException($"embedding lengths {images.Length}, {classes.Length} are not multiples of dim {dim}");
        int n = images.Length / dim, k = classes.Length / dim;
        if (labels.Length != n) throw new ArgumentException($"{labels.Length} labels for {n} images");
        double scale = Math.Exp(logitScale);
        var cls = Embeddings.Normalised(classes, k, dim);
        var img = Embeddings.Normalised(images, n, dim);
        var logits = new float[n * k];
        for (int i = 0; i < n; i++)
            for (int c = 0; c < k; c++)
            {
                double dot = 0;
                for (int j = 0; j < dim; j++) dot += img[i * dim + j] * cls[c * dim + j];
                logits[i * k + c] = (float)(scale * dot);
            }
        return FromProbabilities(Scores.Softmax(logits, k), k, labels);
    }

    /// <summary>Metrics from [N, K] softmax scores already computed (e.g. ZeroShotClassifier.Classify(...).Scores).</summary>
    public static ZeroShotMetrics FromProbabilities(ReadOnlySpan<float> probabilities, int classes, ReadOnlySpan<int> labels)
    {
        var p = new double[probabilities.Length];
        for (int i = 0; i < p.Length; i++) p[i] = probabilities[i];
        return FromProbabilities(p, classes, labels);
    }

    public static ZeroShotMetrics FromProbabilities(double[] probabilities, int classes, ReadOnlySpan<int> labels)
    {
        var pred = Scores.Argmax(probabilities, classes);
        return new ZeroShotMetrics(Classification.Accuracy(labels, pred), RocAuc.MacroOneVsRest(probabilities, labels, classes),
            new ConfusionMatrix(labels, pred, classes), pred, probabilities);
    }
}
