namespace Cleft.Train.Metrics;

/// <summary>
/// Macro one-vs-rest AUC. <see cref="PerClass"/> is NaN for a class whose one-vs-rest problem is degenerate
/// (no positives or no negatives in the labels); those are listed in <see cref="Undefined"/> and left out of
/// <see cref="Macro"/>, which averages the defined classes. (scikit-learn refuses such input instead; with all
/// classes present the two agree.)
/// </summary>
public sealed record AucReport(double Macro, double[] PerClass, int[] Undefined)
{
    public string Describe(IReadOnlyList<string>? names = null)
    {
        string macro = double.IsNaN(Macro) ? "undefined" : Macro.ToString("F4", System.Globalization.CultureInfo.InvariantCulture);
        if (Undefined.Length == 0) return $"macro AUC {macro}";
        string Name(int k) => names is not null && k < names.Count ? names[k] : $"class {k}";
        return $"macro AUC {macro} over {PerClass.Length - Undefined.Length}/{PerClass.Length} classes; " +
               $"AUC undefined for {string.Join(", ", Undefined.Select(Name))} (absent from the labels, or the only class present)";
    }
}

/// <summary>
/// Exact ROC AUC by rank statistics: AUC = (sum of positive ranks - P(P+1)/2) / (P N), with tied scores given
/// their average rank — the Mann-Whitney U form, equal to the trapezoidal area under the ROC curve with ties
/// counted as one half, which is what scikit-learn's roc_auc_score computes.
/// </summary>
public static class RocAuc
{
    /// <summary>Binary AUC; NaN when there are no positives or no negatives.</summary>
    public static double Binary(ReadOnlySpan<double> scores, ReadOnlySpan<bool> positive)
    {
        if (scores.Length != positive.Length) throw new ArgumentException($"{scores.Length} scores vs {positive.Length} labels");
        int n = scores.Length;
        for (int i = 0; i < n; i++) if (double.IsNaN(scores[i])) throw new ArgumentException($"score {i} is NaN");
        var idx = Enumerable.Range(0, n).ToArray();
        var s = scores.ToArray();
        Array.Sort(idx, (a, b) => s[a].CompareTo(s[b]));
        long pos = 0;
        double rankSum = 0;
        for (int i = 0; i < n;)
        {
            int j = i;
            while (j + 1 < n && s[idx[j + 1]] == s[idx[i]]) j++;
            double avgRank = (i + j) / 2.0 + 1; // ranks are 1-based
            for (int k = i; k <= j; k++) if (positive[idx[k]]) { pos++; rankSum += avgRank; }
            i = j + 1;
        }
        long neg = n - pos;
        if (pos == 0 || neg == 0) return double.NaN;
        return (rankSum - pos * (pos + 1) / 2.0) / ((double)pos * neg);
    }

    /// <summary>Macro average of the one-vs-rest AUCs of an [N, K] score matrix (softmax probabilities in CLEFT).</summary>
    public static AucReport MacroOneVsRest(ReadOnlySpan<double> scores, ReadOnlySpan<int> labels, int classes)
    {
        Scores.Check(scores.Length, classes);
        int n = scores.Length / classes;
        if (labels.Length != n) throw new ArgumentException($"{labels.Length} labels vs {n} score rows");
        for (int i = 0; i < n; i++)
            if ((uint)labels[i] >= (uint)classes) throw new ArgumentOutOfRangeException(nameof(labels), $"sample {i}: label {labels[i]} outside 0..{classes - 1}");
        var per = new double[classes];
        var col = new double[n];
        var isPos = new bool[n];
        for (int k = 0; k < classes; k++)
        {
            for (int i = 0; i < n; i++) { col[i] = scores[i * classes + k]; isPos[i] = labels[i] == k; }
            per[k] = Binary(col, isPos);
        }
        var undefined = Enumerable.Range(0, classes).Where(k => double.IsNaN(per[k])).ToArray();
        var defined = per.Where(v => !double.IsNaN(v)).ToArray();
        return new AucReport(defined.Length == 0 ? double.NaN : defined.Average(), per, undefined);
    }
}
