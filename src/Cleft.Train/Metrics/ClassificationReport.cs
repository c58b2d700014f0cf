using Cleft.Train.Reports;

namespace Cleft.Train.Metrics;

/// <summary>One class's one-vs-rest numbers. Precision, recall and F1 are 0 when their denominator is 0
/// (scikit-learn's zero_division=0); Auc is NaN when the class is absent from the labels (or is the only one).</summary>
public sealed record ClassMetrics(string Name, int Support, double Precision, double Recall, double F1, double Auc);

/// <summary>
/// Accuracy, macro one-vs-rest AUC, macro F1, per-class metrics and the confusion matrix of [N, K] class
/// probabilities (prediction = row argmax, first index on ties).
/// <para>Absent classes: a class with no positives has an undefined AUC (NaN in <see cref="ClassMetrics.Auc"/>,
/// listed in <see cref="AucUndefined"/>) and is left out of <see cref="MacroAuc"/>, which averages the classes
/// whose AUC is defined (NaN if none is). <see cref="MacroF1"/> averages the classes that occur in the labels or
/// the predictions, as scikit-learn's f1_score(average="macro", zero_division=0) does by default; a class that
/// is never predicted but present still counts, with F1 0.</para>
/// </summary>
public sealed class ClassificationReport
{
    ClassificationReport(IReadOnlyList<string> names, double[] probabilities, int[] labels, int[] predictions, AucReport auc)
    {
        int k = names.Count;
        Count = labels.Length;
        Probabilities = probabilities;
        Predictions = predictions;
        Confusion = new ConfusionMatrix(labels, predictions, k);
        Accuracy = Classification.Accuracy(labels, predictions);
        MacroAuc = auc.Macro;
        AucUndefined = auc.Undefined.Select(c => names[c]).ToArray();
        var per = new ClassMetrics[k];
        double f1Sum = 0;
        int f1Classes = 0;
        for (int c = 0; c < k; c++)
        {
            long tp = Confusion.Counts[c, c], support = 0, predicted = 0;
            for (int j = 0; j < k; j++) { support += Confusion.Counts[c, j]; predicted += Confusion.Counts[j, c]; }
            double precision = predicted == 0 ? 0 : (double)tp / predicted;
            double recall = support == 0 ? 0 : (double)tp / support;
            double f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
            per[c] = new ClassMetrics(names[c], (int)support, precision, recall, f1, auc.PerClass[c]);
            if (support + predicted > 0) { f1Sum += f1; f1Classes++; }
        }
        PerClass = per;
        MacroF1 = f1Sum / f1Classes; // N > 0, so at least one class occurs
    }

    /// <param name="probabilities">[N, K] row-major class probabilities (softmax scores), K = classNames.Count.</param>
    /// <param name="labels">N true class indices in 0..K-1.</param>
    public static ClassificationReport Compute(double[] probabilities, int[] labels, IReadOnlyList<string> classNames)
    {
        int k = classNames.Count;
        Scores.Check(probabilities.Length, k);
        if (labels.Length == 0) throw new ArgumentException("classification report: no samples");
        if (probabilities.Length / k != labels.Length)
            throw new ArgumentException($"classification report: {probabilities.Length / k} probability rows for {labels.Length} labels");
        // MacroOneVsRest validates the label range and rejects NaN scores
        var auc = RocAuc.MacroOneVsRest(probabilities, labels, k);
        return new ClassificationReport(classNames, probabilities, labels, Scores.Argmax(probabilities, k), auc);
    }

    public int Count { get; }
    public double Accuracy { get; }
    /// <summary>Mean one-vs-rest AUC over the classes whose AUC is defined (see the class summary).</summary>
    public double MacroAuc { get; }
    public double MacroF1 { get; }
    public ConfusionMatrix Confusion { get; }
    public IReadOnlyList<ClassMetrics> PerClass { get; }
    /// <summary>Names of the classes left out of <see cref="MacroAuc"/> (no positives, or no negatives).</summary>
    public IReadOnlyList<string> AucUndefined { get; }
    public int[] Predictions { get; }
    public double[] Probabilities { get; }

    IEnumerable<string> Names => PerClass.Select(c => c.Name);

    public string ToMarkdown(string title)
    {
        var sb = new System.Text.StringBuilder();
        sb.AppendLine($"## {title}").AppendLine();
        sb.Append(Markdown.Table(["metric", "value"], [
            ["samples", Markdown.Integer(Count)],
            ["accuracy", Markdown.Number(Accuracy)],
            ["macro AUC (one-vs-rest)", Markdown.Number(MacroAuc)],
            ["macro F1", Markdown.Number(MacroF1)],
        ]));
        if (AucUndefined.Count > 0)
            sb.AppendLine().AppendLine($"AUC undefined (left out of the macro AUC): {string.Join(", ", AucUndefined)}.");
        sb.AppendLine().AppendLine("### Per class").AppendLine();
        sb.Append(Markdown.Table(["class", "support", "precision", "recall", "F1", "AUC"], PerClass.Select(c => (IReadOnlyList<string>)
            [c.Name, Markdown.Integer(c.Support), Markdown.Number(c.Precision), Markdown.Number(c.Recall), Markdown.Number(c.F1), Markdown.Number(c.Auc)])));
        sb.AppendLine().AppendLine("### Confusion matrix (rows: truth, columns: prediction)").AppendLine();
        int k = Confusion.Classes;
        sb.Append(Markdown.Table(["truth \\ prediction", .. Names], Enumerable.Range(0, k).Select(t => (IReadOnlyList<string>)
            [PerClass[t].Name, .. Enumerable.Range(0, k).Select(p => Markdown.Integer(Confusion.Counts[t, p]))])));
        return sb.ToString();
    }

    /// <summary>Plain values (numbers, strings, lists, dictionaries); undefined metrics are null. Predictions
    /// and probabilities are left out (they belong in a per-sample file, not in the summary).</summary>
    public Dictionary<string, object> ToJson()
    {
        int k = Confusion.Classes;
        return new Dictionary<string, object>
        {
            ["count"] = Count,
            ["accuracy"] = JsonValues.Number(Accuracy),
            ["macro_auc"] = JsonValues.Number(MacroAuc),
            ["macro_f1"] = JsonValues.Number(MacroF1),
            ["auc_undefined"] = AucUndefined.ToArray(),
            ["classes"] = Names.ToArray(),
            ["per_class"] = PerClass.Select(c => new Dictionary<string, object>
            {
                ["name"] = c.Name, ["support"] = c.Support, ["precision"] = c.Precision, ["recall"] = c.Recall,
                ["f1"] = c.F1, ["auc"] = JsonValues.Number(c.Auc),
            }).ToArray(),
            // rows: truth, columns: prediction
            ["confusion"] = Enumerable.Range(0, k).Select(t => Enumerable.Range(0, k).Select(p => Confusion.Counts[t, p]).ToArray()).ToArray(),
        };
    }
}
