using Cleft.Autograd.IO;
using Cleft.Train.Metrics;
using ScottPlot;

namespace Cleft.Train.Reports;

/// <summary>PNG plots for a run folder (ScottPlot 5, 800 x 600). Each method writes one file, replacing it.</summary>
public static class Plots
{
    const int Width = 800, Height = 600;

    /// <summary>Training loss (left axis) and learning rate (right axis) against the step.</summary>
    public static void Training(string path, IReadOnlyList<int> steps, IReadOnlyList<double> loss, IReadOnlyList<double> learningRate)
    {
        CheckSeries("loss", steps, loss);
        CheckSeries("learning rate", steps, learningRate);
        var plot = new Plot();
        double[] x = steps.Select(s => (double)s).ToArray();
        var l = plot.Add.ScatterLine(x, loss.ToArray());
        l.LegendText = "loss";
        l.LineWidth = 2;
        var lr = plot.Add.ScatterLine(x, learningRate.ToArray());
        lr.LegendText = "learning rate";
        lr.Axes.YAxis = plot.Axes.Right;
        lr.LinePattern = LinePattern.Dashed;
        lr.LineWidth = 2;
        plot.Title("Training");
        plot.XLabel("step");
        plot.YLabel("loss");
        plot.Axes.Right.Label.Text = "learning rate";
        plot.ShowLegend(Alignment.UpperRight);
        Save(plot, path);
    }

    /// <summary>One metric (e.g. validation AUC) against the step.</summary>
    public static void Metric(string path, string name, IReadOnlyList<int> steps, IReadOnlyList<double> values)
    {
        CheckSeries(name, steps, values);
        var plot = new Plot();
        var s = plot.Add.Scatter(steps.Select(v => (double)v).ToArray(), values.ToArray());
        s.LegendText = name;
        plot.Title(name);
        plot.XLabel("step");
        plot.YLabel(name);
        Save(plot, path);
    }

    /// <summary>One-vs-rest ROC curve per class (AUC in the legend) and the chance diagonal. A class absent from
    /// the labels has no curve; its legend entry says so.</summary>
    public static void Roc(string path, double[] probabilities, int[] labels, IReadOnlyList<string> classNames)
    {
        int k = classNames.Count;
        var auc = RocAuc.MacroOneVsRest(probabilities, labels, k); // validates shapes and labels
        var plot = new Plot();
        var diagonal = plot.Add.Line(0, 0, 1, 1);
        diagonal.LinePattern = LinePattern.Dotted;
        diagonal.Color = Colors.Gray;
        var palette = new ScottPlot.Palettes.Category10();
        for (int c = 0; c < k; c++)
        {
            if (double.IsNaN(auc.PerClass[c]))
            {
                plot.Legend.ManualItems.Add(new LegendItem { LabelText = $"{classNames[c]} (AUC undefined)", LineColor = Colors.Transparent });
                continue;
            }
            var (col, isPos) = RocAuc.OneVsRest(probabilities, labels, k, c);
            var curve = RocAuc.Curve(col, isPos);
            var line = plot.Add.ScatterLine(curve.FalsePositiveRate, curve.TruePositiveRate, palette.GetColor(c));
            line.LineWidth = 2;
            line.LegendText = $"{classNames[c]} (AUC {Markdown.Number(auc.PerClass[c])})";
        }
        plot.Title($"ROC, one vs rest (macro AUC {Markdown.Number(auc.Macro)})");
        plot.XLabel("false positive rate");
        plot.YLabel("true positive rate");
        plot.Axes.SetLimits(-0.02, 1.02, -0.02, 1.02);
        plot.ShowLegend(Alignment.LowerRight);
        Save(plot, path);
    }

    /// <summary>Confusion matrix heat map, truth on rows (top to bottom in class order), prediction on columns,
    /// with the count written in each cell.</summary>
    public static void Confusion(string path, ConfusionMatrix matrix, IReadOnlyList<string> classNames)
    {
        int k = matrix.Classes;
        if (classNames.Count != k) throw new ArgumentException($"confusion plot: {classNames.Count} class names for a {k}-class matrix");
        var values = new double[k, k];
        long max = 0;
        for (int t = 0; t < k; t++) for (int p = 0; p < k; p++) { values[t, p] = matrix.Counts[t, p]; max = Math.Max(max, matrix.Counts[t, p]); }
        var plot = new Plot();
        // heat map row 0 is drawn at the top; cell (t, p) is centred at x = p, y = k - 1 - t
        var map = plot.Add.Heatmap(values);
        map.Colormap = new ScottPlot.Colormaps.Viridis();
        plot.Add.ColorBar(map);
        for (int t = 0; t < k; t++)
            for (int p = 0; p < k; p++)
            {
                var text = plot.Add.Text(Markdown.Integer(matrix.Counts[t, p]), p, k - 1 - t);
                text.LabelAlignment = Alignment.MiddleCenter;
                text.LabelFontSize = k > 10 ? 10 : 14;
                // dark text on the bright end of viridis, light text on the dark end
                text.LabelFontColor = matrix.Counts[t, p] > 0.6 * max ? Colors.Black : Colors.White;
            }
        double[] ticks = Enumerable.Range(0, k).Select(i => (double)i).ToArray();
        plot.Axes.Bottom.SetTicks(ticks, classNames.ToArray());
        plot.Axes.Left.SetTicks(ticks, classNames.Reverse().ToArray());
        if (k > 5) plot.Axes.Bottom.TickLabelStyle.Rotation = 45;
        if (k > 5) plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        plot.Title("Confusion matrix");
        plot.XLabel("prediction");
        plot.YLabel("truth");
        plot.Axes.SetLimits(-0.5, k - 0.5, -0.5, k - 0.5);
        Save(plot, path);
    }

    static void CheckSeries(string name, IReadOnlyList<int> steps, IReadOnlyList<double> values)
    {
        if (steps.Count != values.Count) throw new ArgumentException($"plot: {steps.Count} steps for {values.Count} {name} values");
        if (steps.Count == 0) throw new ArgumentException($"plot: no {name} values to draw");
    }

    /// <summary>Renders beside the target and renames, so a reader never sees half a PNG.</summary>
    static void Save(Plot plot, string path)
    {
        using var image = plot.GetImage(Width, Height);
        byte[] png = image.GetImageBytes(ImageFormat.Png);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        DurableFile.Write(path, s => s.Write(png));
    }
}
