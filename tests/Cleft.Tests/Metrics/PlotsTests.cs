using Cleft.Autograd;
using Cleft.Train.Metrics;
using Cleft.Train.Reports;

namespace Cleft.Tests.Metrics;

public sealed class RocCurveTests
{
    [Fact]
    public void CurveByHandWithATie()
    {
        // scores 0.9+ 0.5+ 0.5- 0.1-: thresholds 0.9 -> (0, 1/2), 0.5 -> (1/2, 1) (a tie: diagonal), 0.1 -> (1, 1)
        var c = RocAuc.Curve([0.9, 0.5, 0.5, 0.1], [true, true, false, false]);
        Assert.Equal([0, 0, 0.5, 1], c.FalsePositiveRate);
        Assert.Equal([0, 0.5, 1, 1], c.TruePositiveRate);
        Assert.Equal([double.PositiveInfinity, 0.9, 0.5, 0.1], c.Thresholds);
        Assert.Equal(0.875, c.Area(), 12);
        Assert.Throws<ArgumentException>(() => RocAuc.Curve([0.1, 0.2], [true, true]));
    }

    [Fact]
    public void TrapezoidAreaEqualsRankAuc()
    {
        var rng = new Rng(8);
        for (int trial = 0; trial < 20; trial++)
        {
            int n = 10 + trial * 13;
            var pos = Enumerable.Range(0, n).Select(i => i < 2 ? i == 0 : rng.NextDouble() < 0.3).ToArray();
            // every other trial rounds to a few levels, so many scores tie across classes
            var s = pos.Select(p => rng.NextDouble() + (p ? 0.3 : 0)).Select(v => trial % 2 == 0 ? Math.Round(v, 1) : v).ToArray();
            Assert.Equal(RocAuc.Binary(s, pos), RocAuc.Curve(s, pos).Area(), 12);
        }
    }
}

public sealed class PlotsTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("cleft-plots-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static readonly string[] Names = ["Atelectasis", "Cardiomegaly", "Edema", "Pleural Effusion"];

    static void AssertPng(string path)
    {
        var bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 5000, $"{path}: only {bytes.Length} bytes");
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        // IHDR width and height (big-endian) at bytes 16..23
        Assert.Equal(800, (bytes[16] << 24) | (bytes[17] << 16) | (bytes[18] << 8) | bytes[19]);
        Assert.Equal(600, (bytes[20] << 24) | (bytes[21] << 16) | (bytes[22] << 8) | bytes[23]);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, "*.tmp*")); // the temporary was renamed
    }

    /// <summary>Four classes, 120 samples, scores mildly informative (so the curves and the matrix are not trivial).</summary>
    static (double[] P, int[] Y) Sample()
    {
        var rng = new Rng(12);
        var y = Enumerable.Range(0, 120).Select(i => i % 4).ToArray();
        var logits = new float[120 * 4];
        for (int i = 0; i < 120; i++)
            for (int k = 0; k < 4; k++) logits[i * 4 + k] = (float)(rng.NextNormal() + (k == y[i] ? 1.2 + 0.3 * k : 0));
        return (Scores.Softmax(logits, 4), y);
    }

    [Fact]
    public void TrainingAndMetricCurves()
    {
        var steps = Enumerable.Range(0, 50).Select(i => i * 10).ToArray();
        var loss = steps.Select(s => 4.0 * Math.Exp(-s / 200.0) + 0.3).ToArray();
        var lr = steps.Select(s => s < 50 ? 1e-4 * s / 50 : 1e-4 * 0.5 * (1 + Math.Cos(Math.PI * (s - 50) / 440))).ToArray();
        string training = Path.Combine(_dir, "sub", "training.png");
        Plots.Training(training, steps, loss, lr);
        AssertPng(training);
        string metric = Path.Combine(_dir, "val_auc.png");
        Plots.Metric(metric, "validation AUC", steps, steps.Select(s => 0.5 + 0.4 * (1 - Math.Exp(-s / 150.0))).ToArray());
        AssertPng(metric);
        Assert.Throws<ArgumentException>(() => Plots.Metric(metric, "x", [1, 2], [0.5]));
    }

    [Fact]
    public void RocAndConfusion()
    {
        var (p, y) = Sample();
        string roc = Path.Combine(_dir, "roc.png");
        Plots.Roc(roc, p, y, Names);
        AssertPng(roc);
        string confusion = Path.Combine(_dir, "confusion.png");
        var report = ClassificationReport.Compute(p, y, Names);
        Plots.Confusion(confusion, report.Confusion, Names);
        AssertPng(confusion);
        Assert.Throws<ArgumentException>(() => Plots.Confusion(confusion, report.Confusion, Names[..3]));
        // a class absent from the labels gets a legend entry instead of a curve
        Plots.Roc(roc, p, y.Select(v => v == 3 ? 0 : v).ToArray(), Names);
        AssertPng(roc);
        // CLEFT_PLOT_DIR keeps the images for a look (the test itself only checks the files)
        if (Environment.GetEnvironmentVariable("CLEFT_PLOT_DIR") is { Length: > 0 } keep)
        {
            Directory.CreateDirectory(keep);
            Plots.Roc(Path.Combine(keep, "roc.png"), p, y, Names);
            Plots.Confusion(Path.Combine(keep, "confusion.png"), report.Confusion, Names);
            var steps = Enumerable.Range(0, 50).Select(i => i * 10).ToArray();
            Plots.Training(Path.Combine(keep, "training.png"), steps, steps.Select(s => 4.0 * Math.Exp(-s / 200.0) + 0.3).ToArray(),
                steps.Select(s => s < 50 ? 1e-4 * s / 50 : 1e-4 * 0.5 * (1 + Math.Cos(Math.PI * (s - 50) / 440))).ToArray());
        }
    }
}
