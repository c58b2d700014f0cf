using System.Text.Json;
using Cleft.Train.Metrics;

namespace Cleft.Tests.Metrics;

public sealed class ClassificationReportTests
{
    [Fact]
    public void PerClassNumbersByHand()
    {
        // truth 0,0,1,1,2 ; predictions 0,1,1,1,0 (class 2 never predicted)
        double[] p = [0.8, 0.1, 0.1, 0.3, 0.6, 0.1, 0.2, 0.7, 0.1, 0.1, 0.5, 0.4, 0.5, 0.2, 0.3];
        var r = ClassificationReport.Compute(p, [0, 0, 1, 1, 2], ["a", "b", "c"]);
        Assert.Equal([0, 1, 1, 1, 0], r.Predictions);
        Assert.Equal(5, r.Count);
        Assert.Equal(0.6, r.Accuracy, 12);
        // a: tp 1, predicted 2, support 2 -> P 0.5 R 0.5 F1 0.5; b: tp 2, predicted 3, support 2 -> P 2/3 R 1 F1 0.8
        // c: never predicted -> P 0 (0/0), R 0, F1 0; macro F1 = (0.5 + 0.8 + 0) / 3
        Assert.Equal(new ClassMetrics("a", 2, 0.5, 0.5, 0.5, r.PerClass[0].Auc), r.PerClass[0]);
        Assert.Equal(2.0 / 3, r.PerClass[1].Precision, 12);
        Assert.Equal(0.8, r.PerClass[1].F1, 12);
        Assert.Equal(new ClassMetrics("c", 1, 0, 0, 0, r.PerClass[2].Auc), r.PerClass[2]);
        Assert.Equal(1.3 / 3, r.MacroF1, 12);
        // class c scores 0.1,0.1,0.1,0.4 for negatives and 0.3 for the positive -> AUC 3/4
        Assert.Equal(0.75, r.PerClass[2].Auc, 12);
        Assert.Equal(1, r.Confusion.Counts[2, 0]);
    }

    [Fact]
    public void AbsentClassIsLeftOutOfMacroAucAndIsNullInJson()
    {
        double[] p = [0.7, 0.2, 0.1, 0.2, 0.7, 0.1, 0.6, 0.3, 0.1, 0.3, 0.6, 0.1];
        var r = ClassificationReport.Compute(p, [0, 1, 0, 1], ["x", "y", "Effusion"]);
        Assert.True(double.IsNaN(r.PerClass[2].Auc));
        Assert.Equal(["Effusion"], r.AucUndefined);
        Assert.Equal(1.0, r.MacroAuc, 12);
        Assert.Equal(1.0, r.MacroF1, 12); // "Effusion" neither occurs nor is predicted: not averaged
        string json = JsonSerializer.Serialize(r.ToJson());
        using var doc = JsonDocument.Parse(json);
        var effusion = doc.RootElement.GetProperty("per_class")[2];
        Assert.Equal(JsonValueKind.Null, effusion.GetProperty("auc").ValueKind);
        Assert.Equal(2, doc.RootElement.GetProperty("confusion")[1][1].GetInt64());
        Assert.Equal(1.0, doc.RootElement.GetProperty("accuracy").GetDouble());
        string md = r.ToMarkdown("Zero-shot, stage 1");
        Assert.Contains("## Zero-shot, stage 1", md);
        Assert.Contains("| macro AUC (one-vs-rest) | 1.0000 |", md);
        Assert.Contains("| Effusion | 0 | 0.0000 | 0.0000 | 0.0000 | n/a |", md);
        Assert.Contains("| x | 2 | 0 | 0 |", md);
        Assert.Contains("AUC undefined (left out of the macro AUC): Effusion.", md);
    }

    [Fact]
    public void RejectsMismatchedInput()
    {
        var e = Assert.Throws<ArgumentException>(() => ClassificationReport.Compute([0.5, 0.5, 0.5, 0.5], [0], ["a", "b"]));
        Assert.Contains("2 probability rows for 1 labels", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ClassificationReport.Compute([0.5, 0.5], [2], ["a", "b"]));
        Assert.Throws<ArgumentException>(() => ClassificationReport.Compute([], [], ["a", "b"]));
    }

    sealed record Case(string name, int classes, int[] labels, double[] probabilities, double accuracy, double macro_f1,
        double[] precision, double[] recall, double[] f1, int[] support, double?[] auc, double macro_auc);
    sealed record Fixture(string sklearn, Case[] cases);

    [Fact]
    public void MatchesScikitLearn()
    {
        var f = JsonSerializer.Deserialize<Fixture>(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "classification_report_sklearn.json")))!;
        Assert.Equal(4, f.cases.Length);
        foreach (var c in f.cases)
        {
            var names = Enumerable.Range(0, c.classes).Select(k => $"c{k}").ToArray();
            var r = ClassificationReport.Compute(c.probabilities, c.labels, names);
            Near(c.accuracy, r.Accuracy, $"{c.name} accuracy");
            Near(c.macro_f1, r.MacroF1, $"{c.name} macro F1");
            Near(c.macro_auc, r.MacroAuc, $"{c.name} macro AUC");
            for (int k = 0; k < c.classes; k++)
            {
                var m = r.PerClass[k];
                Assert.Equal(c.support[k], m.Support);
                Near(c.precision[k], m.Precision, $"{c.name} precision {k}");
                Near(c.recall[k], m.Recall, $"{c.name} recall {k}");
                Near(c.f1[k], m.F1, $"{c.name} F1 {k}");
                if (c.auc[k] is double a) Near(a, m.Auc, $"{c.name} AUC {k}");
                else Assert.True(double.IsNaN(m.Auc), $"{c.name} AUC {k} should be undefined");
            }
        }
    }

    static void Near(double want, double got, string what) =>
        Assert.True(Math.Abs(want - got) < 1e-12, $"{what}: {got} vs scikit-learn {want}");
}
