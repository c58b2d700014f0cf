namespace Cleft.Train.Metrics;

/// <summary>Row-wise helpers over [N, K] score matrices stored row-major (double, for exact metric arithmetic).</summary>
public static class Scores
{
    /// <summary>Numerically stable softmax of each row of an [N, K] logit matrix.</summary>
    public static double[] Softmax(ReadOnlySpan<float> logits, int classes)
    {
        Check(logits.Length, classes);
        var p = new double[logits.Length];
        for (int r = 0; r < logits.Length / classes; r++)
        {
            var row = logits.Slice(r * classes, classes);
            double max = double.NegativeInfinity;
            foreach (float v in row) max = Math.Max(max, v);
            double sum = 0;
            for (int k = 0; k < classes; k++) sum += p[r * classes + k] = Math.Exp(row[k] - max);
            for (int k = 0; k < classes; k++) p[r * classes + k] /= sum;
        }
        return p;
    }

    /// <summary>Index of each row's maximum; the first one on ties (as numpy/torch argmax).</summary>
    public static int[] Argmax(ReadOnlySpan<double> scores, int classes)
    {
        Check(scores.Length, classes);
        var pred = new int[scores.Length / classes];
        for (int r = 0; r < pred.Length; r++)
        {
            int best = 0;
            for (int k = 1; k < classes; k++) if (scores[r * classes + k] > scores[r * classes + best]) best = k;
            pred[r] = best;
        }
        return pred;
    }

    internal static void Check(int length, int classes)
    {
        if (classes <= 0) throw new ArgumentOutOfRangeException(nameof(classes), classes, "need at least one class");
        if (length % classes != 0) throw new ArgumentException($"score length {length} is not a multiple of {classes} classes");
    }
}

public static class Classification
{
    /// <summary>Fraction of predictions equal to the label.</summary>
    public static double Accuracy(ReadOnlySpan<int> labels, ReadOnlySpan<int> predictions)
    {
        if (labels.Length != predictions.Length) throw new ArgumentException($"{labels.Length} labels vs {predictions.Length} predictions");
        if (labels.Length == 0) throw new ArgumentException("accuracy of an empty set is undefined");
        int hit = 0;
        for (int i = 0; i < labels.Length; i++) if (labels[i] == predictions[i]) hit++;
        return (double)hit / labels.Length;
    }
}

/// <summary>Counts[t, p] = samples of true class t predicted as p (rows: truth, columns: prediction, as sklearn).</summary>
public sealed class ConfusionMatrix
{
    public ConfusionMatrix(ReadOnlySpan<int> labels, ReadOnlySpan<int> predictions, int classes)
    {
        if (labels.Length != predictions.Length) throw new ArgumentException($"{labels.Length} labels vs {predictions.Length} predictions");
        Classes = classes;
        Counts = new long[classes, classes];
        for (int i = 0; i < labels.Length; i++)
        {
            if ((uint)labels[i] >= (uint)classes || (uint)predictions[i] >= (uint)classes)
                throw new ArgumentOutOfRangeException(nameof(labels), $"sample {i}: label {labels[i]} / prediction {predictions[i]} outside 0..{classes - 1}");
            Counts[labels[i], predictions[i]]++;
        }
    }

    public int Classes { get; }
    public long[,] Counts { get; }

    public long Total { get { long s = 0; foreach (long c in Counts) s += c; return s; } }
    public double Accuracy { get { long d = 0; for (int k = 0; k < Classes; k++) d += Counts[k, k]; return Total == 0 ? double.NaN : (double)d / Total; } }

    /// <summary>Recall of class k (NaN if it has no samples).</summary>
    public double Recall(int k)
    {
        long row = 0;
        for (int p = 0; p < Classes; p++) row += Counts[k, p];
        return row == 0 ? double.NaN : (double)Counts[k, k] / row;
    }

    public string Format(IReadOnlyList<string>? names = null)
    {
        string Name(int k) => names is not null && k < names.Count ? names[k] : k.ToString(System.Globalization.CultureInfo.InvariantCulture);
        int w = Math.Max(6, Enumerable.Range(0, Classes).Select(k => Name(k).Length).DefaultIfEmpty(0).Max() + 1);
        var sb = new System.Text.StringBuilder();
        sb.Append("true\\pred".PadRight(w));
        for (int p = 0; p < Classes; p++) sb.Append(Name(p).PadLeft(w));
        sb.AppendLine();
        for (int t = 0; t < Classes; t++)
        {
            sb.Append(Name(t).PadRight(w));
            for (int p = 0; p < Classes; p++) sb.Append(Counts[t, p].ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(w));
            sb.AppendLine();
        }
        return sb.ToString();
    }
}
