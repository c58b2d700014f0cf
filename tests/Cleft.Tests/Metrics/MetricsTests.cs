using System.Text.Json;
using Cleft.Train.Metrics;

namespace Cleft.Tests.Metrics;

public sealed class MetricsTests
{
    [Fact]
    public void BinaryAucByHand()
    {
        // positives 0.9, 0.4; negatives 0.8, 0.1: pairs (0.9>0.8, 0.9>0.1, 0.4<0.8, 0.4>0.1) -> 3/4
        Assert.Equal(0.75, RocAuc.Binary([0.9, 0.8, 0.4, 0.1], [true, false, true, false]), 12);
        // a tie between a positive and a negative counts one half: pairs (0.5=0.5 -> 0.5, 0.5>0.2 -> 1) -> 0.75
        Assert.Equal(0.75, RocAuc.Binary([0.5, 0.5, 0.2], [true, false, false]), 12);
        Assert.Equal(0.5, RocAuc.Binary([0.3, 0.3, 0.3, 0.3], [true, false, true, false]), 12);
        Assert.Equal(1.0, RocAuc.Binary([0.1, 0.2, 0.9], [false, false, true]), 12);
        Assert.True(double.IsNaN(RocAuc.Binary([0.1, 0.2], [true, true])));
    }

    [Fact]
    public void MacroAucReportsAbsentClasses()
    {
        // 3 classes, class 2 never appears in the labels
        double[] p = [0.7, 0.2, 0.1, 0.2, 0.7, 0.1, 0.6, 0.3, 0.1, 0.3, 0.6, 0.1];
        var r = RocAuc.MacroOneVsRest(p, [0, 1, 0, 1], 3);
        Assert.Equal([2], r.Undefined);
        Assert.Equal(1.0, r.PerClass[0], 12);
        Assert.Equal(1.0, r.PerClass[1], 12);
        Assert.True(double.IsNaN(r.PerClass[2]));
        Assert.Equal(1.0, r.Macro, 12);
        Assert.Contains("undefined for Effusion", r.Describe(["A", "B", "Effusion"]));
    }

    [Fact]
    public void AccuracyConfusionAndSoftmaxByHand()
    {
        Assert.Equal(0.5, Classification.Accuracy([0, 1, 2, 2], [0, 2, 2, 1]));
        var cm = new ConfusionMatrix([0, 1, 2, 2], [0, 2, 2, 1], 3);
        Assert.Equal(1, cm.Counts[0, 0]); Assert.Equal(1, cm.Counts[1, 2]); Assert.Equal(1, cm.Counts[2, 2]); Assert.Equal(1, cm.Counts[2, 1]);
        Assert.Equal(4, cm.Total); Assert.Equal(0.5, cm.Accuracy); Assert.Equal(0.5, cm.Recall(2));
        Assert.Contains("true\\pred", cm.Format(["a", "b", "c"]));
        var sm = Scores.Softmax([0f, MathF.Log(3f), 1000f, 1000f], 2);
        Assert.Equal(0.25, sm[0], 7); Assert.Equal(0.75, sm[1], 7); Assert.Equal(0.5, sm[2], 12);
        Assert.Equal([1, 0], Scores.Argmax(sm, 2)); // a tie picks the first index
        Assert.Throws<ArgumentOutOfRangeException>(() => new ConfusionMatrix([3], [0], 3));
    }

    sealed record Case(string name, int classes, int[] labels, float[] logits, double accuracy, long[] confusion, double macro_auc, double[] per_class_auc);
    sealed record Binary(int[] labels, double[] scores, double auc);
    sealed record Fixture(string sklearn, Case[] cases, Binary binary_ties);

    static Fixture Load() => JsonSerializer.Deserialize<Fixture>(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "metrics_sklearn.json")))!;

    [Fact]
    public void MatchesScikitLearn()
    {
        var f = Load();
        Assert.Equal(5, f.cases.Length);
        foreach (var c in f.cases)
        {
            var probs = Scores.Softmax(c.logits, c.classes);
            var pred = Scores.Argmax(probs, c.classes);
            Assert.Equal(c.accuracy, Classification.Accuracy(c.labels, pred), 12);
            var cm = new ConfusionMatrix(c.labels, pred, c.classes);
            Assert.Equal(c.confusion, cm.Counts.Cast<long>().ToArray());
            var auc = RocAuc.MacroOneVsRest(probs, c.labels, c.classes);
            Assert.Empty(auc.Undefined);
            for (int k = 0; k < c.classes; k++) Assert.True(Math.Abs(c.per_class_auc[k] - auc.PerClass[k]) < 1e-12, $"{c.name} class {k}: {auc.PerClass[k]} vs sklearn {c.per_class_auc[k]}");
            // binary sklearn AUC uses the positive column only; for 2 classes OvR macro equals it
            Assert.True(Math.Abs(c.macro_auc - auc.Macro) < 1e-12, $"{c.name}: macro {auc.Macro} vs sklearn {c.macro_auc}");
        }
        var b = f.binary_ties;
        Assert.Equal(b.auc, RocAuc.Binary(b.scores, b.labels.Select(l => l == 1).ToArray()), 12);
    }
}

public sealed class ZeroShotEvaluationTests
{
    [Fact]
    public void CosineArgmaxAndAuc()
    {
        // classes along x and y; images scaled arbitrarily (normalised inside)
        float[] classes = [1, 0, 0, 2];
        float[] images = [5, 1, 0.1f, 3, 2, 2.5f, 1, 0];
        var r = ZeroShotEvaluation.Evaluate(images, classes, 2, [0, 1, 0, 0], logitScale: MathF.Log(100));
        Assert.Equal([0, 1, 1, 0], r.Predictions);
        Assert.Equal(0.75, r.Accuracy);
        Assert.Equal(1, r.Confusion.Counts[0, 1]);
        // image 0: cos to x = 5/sqrt(26), to y = 1/sqrt(26); softmax with scale 100
        double d = 100 * (5 - 1) / Math.Sqrt(26);
        Assert.Equal(1 / (1 + Math.Exp(-d)), r.Probabilities[0], 9);
        // class-1 scores: [~0, high, >0.5, ~0] with the single positive at index 1 ranked top -> AUC 1
        Assert.Equal(1.0, r.Auc.PerClass[1], 12);
        Assert.Throws<ArgumentException>(() => ZeroShotEvaluation.Evaluate(images, classes, 3, [0], 0));
        var again = ZeroShotEvaluation.FromProbabilities(r.Probabilities.Select(v => (float)v).ToArray(), 2, [0, 1, 0, 0]);
        Assert.Equal(r.Predictions, again.Predictions);
        Assert.Equal(r.Auc.Macro, again.Auc.Macro, 6);
    }
}
