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

/// <summary>ROC points (false and true positive rates) and the score threshold at each; index 0 is (0, 0) at +inf.</summary>
public sealed record RocCurve(double[] FalsePositiveRate, double[] TruePositiveRate, double[] Thresholds)
{
    /// <summary>Trapezoidal area under the curve (equal to <see cref="RocAuc.Binary"/>).</summary>
    public double Area()
    {
        double a = 0;
        for (int i = 1; i < FalsePositiveRate.Length; i++)
            a += (FalsePositiveRate[i] - FalsePositiveRate[i - 1]) * (TruePositiveRate[i] + TruePositiveRate[i - 1]) / 2;
        return a;
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
        var (order, groupEnds) = TieGroups(scores, positive);
        long pos = 0;
        double rankSum = 0;
        int start = 0;
        foreach (int end in groupEnds)
        {
            double avgRank = (start + end - 1) / 2.0 + 1; // ranks are 1-based; a tie group shares its average rank
            for (int k = start; k < end; k++) if (positive[order[k]]) { pos++; rankSum += avgRank; }
            start = end;
        }
        long neg = scores.Length - pos;
        if (pos == 0 || neg == 0) return double.NaN;
        return (rankSum - pos * (pos + 1) / 2.0) / ((double)pos * neg);
    }

    /// <summary>
    /// The ROC curve: one point per distinct score, taken as a threshold from the highest down (a tie group moves
    /// the curve diagonally, which is how ties count one half), from (0, 0) to (1, 1). Its trapezoidal area is
    /// <see cref="Binary"/>. Throws when there are no positives or no negatives (the curve is undefined).
    /// </summary>
    public static RocCurve Curve(ReadOnlySpan<double> scores, ReadOnlySpan<bool> positive)
    {
        var (order, groupEnds) = TieGroups(scores, positive);
        long pos = 0;
        foreach (bool p in positive) if (p) pos++;
        long neg = scores.Length - pos;
        if (pos == 0 || neg == 0) throw new ArgumentException($"ROC curve undefined: {pos} positives and {neg} negatives");
        var fpr = new List<double> { 0 };
        var tpr = new List<double> { 0 };
        var thresholds = new List<double> { double.PositiveInfinity };
        long tp = 0, fp = 0;
        for (int g = groupEnds.Count - 1; g >= 0; g--) // highest scores first
        {
            int start = g == 0 ? 0 : groupEnds[g - 1];
            for (int k = start; k < groupEnds[g]; k++) if (positive[order[k]]) tp++; else fp++;
            fpr.Add((double)fp / neg);
            tpr.Add((double)tp / pos);
            thresholds.Add(scores[order[start]]);
        }
        return new RocCurve(fpr.ToArray(), tpr.ToArray(), thresholds.ToArray());
    }

    /// <summary>Indices sorted by ascending score and the exclusive end of each run of equal scores: the tie
    /// handling both the rank AUC and the curve rely on.</summary>
    static (int[] Order, List<int> GroupEnds) TieGroups(ReadOnlySpan<double> scores, ReadOnlySpan<bool> positive)
    {
        if (scores.Length != positive.Length) throw new ArgumentException($"{scores.Length} scores vs {positive.Length} labels");
        int n = scores.Length;
        for (int i = 0; i < n; i++) if (double.IsNaN(scores[i])) throw new ArgumentException($"score {i} is NaN");
        var idx = Enumerable.Range(0, n).ToArray();
        var s = scores.ToArray();
        Array.Sort(idx, (a, b) => s[a].CompareTo(s[b]));
        var ends = new List<int>();
        for (int i = 0; i < n;)
        {
            int j = i + 1;
            while (j < n && s[idx[j]] == s[idx[i]]) j++;
            ends.Add(j);
            i = j;
        }
        return (idx, ends);
    }

    /// <summary>Class <paramref name="k"/>'s one-vs-rest problem: its score column and which rows are positive.</summary>
    internal static (double[] Scores, bool[] Positive) OneVsRest(ReadOnlySpan<double> scores, ReadOnlySpan<int> labels, int classes, int k)
    {
        int n = labels.Length;
        var col = new double[n];
        var isPos = new bool[n];
        for (int i = 0; i < n; i++) { col[i] = scores[i * classes + k]; isPos[i] = labels[i] == k; }
        return (col, isPos);
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
        for (int k = 0; k < classes; k++)
        {
            var (col, isPos) = OneVsRest(scores, labels, classes, k);
            per[k] = Binary(col, isPos);
        }
        var undefined = Enumerable.Range(0, classes).Where(k => double.IsNaN(per[k])).ToArray();
        var defined = per.Where(v => !double.IsNaN(v)).ToArray();
        return new AucReport(defined.Length == 0 ? double.NaN : defined.Average(), per, undefined);
    }
}
