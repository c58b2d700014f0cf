using System.Globalization;
using Cleft.Kernels;
using Cleft.Models.PTUnifier;
using Cleft.Models.Recipe;
using Cleft.Train.Data;
using Cleft.Train.Metrics;
using Cleft.Train.Reports;
using Cleft.Train.Runs;
using Cleft.Train.Training;

namespace Cleft.Train.Evaluation;

/// <summary>
/// A trained model ready to evaluate: a stage-1 run / checkpoint, a prompt run with its learned prompts, or a PTUnifier
/// run / checkpoint (recognised by its ptunifier.json). The evaluations read it through <see cref="Embedder"/>.
/// </summary>
public sealed class EvaluationModel : IDisposable
{
    readonly IDisposable _owned;

    EvaluationModel(IEmbeddingModel embedder, IDisposable owned, CleftModel? model, string source, PromptSpec? prompts, ZeroShotClassifier? learned)
    {
        Embedder = embedder; _owned = owned; Model = model; Source = source; Prompts = prompts; Learned = learned;
    }

    public IEmbeddingModel Embedder { get; }
    /// <summary>The CLEFT model (null for a PTUnifier run).</summary>
    public CleftModel? Model { get; }
    /// <summary>The model directory (checkpoint) the weights came from.</summary>
    public string Source { get; }
    /// <summary>Set for a prompt run: its classes are the class order, and <see cref="Learned"/> classifies.</summary>
    public PromptSpec? Prompts { get; }
    public ZeroShotClassifier? Learned { get; }

    public static EvaluationModel Load(IBackend device, string run)
    {
        if (PromptRun.ReadSpec(run) is not null)
        {
            var (model, classifier, spec) = PromptRun.LoadClassifier(device, run);
            return new EvaluationModel(new CleftEmbeddings(model), model, model, spec.Stage1Model, spec, classifier);
        }
        // A PTUnifier run folder and each of its checkpoints hold ptunifier.json.
        if (File.Exists(Path.Combine(run, PtunifierSpec.FileName)))
        {
            var ptunifier = PtunifierModel.Load(device, run);
            return new EvaluationModel(new PtunifierEmbeddings(ptunifier), ptunifier, null, ptunifier.Source!, null, null);
        }
        string dir = RunFolder.ModelDirectory(run);
        var cleft = CleftModel.Load(device, dir);
        return new EvaluationModel(new CleftEmbeddings(cleft), cleft, cleft, dir, null, null);
    }

    /// <summary>Normalised class embeddings [K, D] for <paramref name="classes"/>: the learned prompts, or the template filled with each class name.</summary>
    public float[] ClassEmbeddings(IReadOnlyList<string> classes, string template)
    {
        if (Learned is not null)
        {
            if (!classes.SequenceEqual(Prompts!.Classes, StringComparer.OrdinalIgnoreCase))
                throw new ArgumentException($"the prompt run learned classes [{string.Join(", ", Prompts.Classes)}], the data has [{string.Join(", ", classes)}]");
            return Learned.ClassEmbeddings;
        }
        if (classes.Count < 2) throw new ArgumentException($"zero-shot classification needs at least 2 classes, got {classes.Count}");
        return Features.Texts(Embedder, ZeroShotClassifier.Prompts(classes, template));
    }

    public void Dispose() => _owned.Dispose();
}

/// <summary>
/// The evaluations behind `cleft zeroshot`, `probe` and `retrieve`: features once, metrics, and a report in the
/// output folder (results JSON + Markdown, ROC and confusion plots, a metrics.jsonl record).
/// </summary>
public static class Evaluations
{
    public static ClassificationReport ZeroShot(EvaluationModel m, Manifest test, string template, RunFolder output, string name, TextWriter log)
    {
        var classes = m.Prompts?.Classes ?? test.ClassNames;
        var classEmbeddings = m.ClassEmbeddings(test.ClassNames, template);
        var features = Features.Images(m.Embedder, test, log);
        var labels = features.Kept.Select(i => test.Entries[i].Label).ToArray();
        var scores = ZeroShotEvaluation.Evaluate(features.Embeddings, classEmbeddings, features.EmbedDim, labels, m.Embedder.LogitScale);
        var report = ClassificationReport.Compute(scores.Probabilities, labels, classes);
        string what = m.Learned is not null ? "learned prompts" : $"template '{template}'";
        Publish(output, name, $"Zero-shot on {test.Name} ({what})", report, labels, classes, m.Source, log);
        return report;
    }

    /// <summary>Linear probes on frozen pooled features at each training fraction; one report per fraction.</summary>
    public static IReadOnlyList<(double Fraction, ClassificationReport Report, double Lambda)> Probe(EvaluationModel m, Manifest train, Manifest test,
        IReadOnlyList<double> fractions, ulong seed, RunFolder output, string name, TextWriter log)
    {
        if (!train.ClassNames.SequenceEqual(test.ClassNames))
            throw new ArgumentException($"train classes [{string.Join(", ", train.ClassNames)}] differ from test classes [{string.Join(", ", test.ClassNames)}]: pass --classes");
        int k = train.ClassNames.Count;
        var trainF = Features.Images(m.Embedder, train, log);
        var testF = Features.Images(m.Embedder, test, log);
        var trainLabels = trainF.Kept.Select(i => train.Entries[i].Label).ToArray();
        var testLabels = testF.Kept.Select(i => test.Entries[i].Label).ToArray();
        var results = new List<(double, ClassificationReport, double)>();
        foreach (double fraction in fractions)
        {
            var pick = LinearProbe.StratifiedSubset(trainLabels, k, fraction, seed);
            var x = new float[pick.Length * trainF.PooledDim];
            for (int i = 0; i < pick.Length; i++)
                trainF.Pooled.AsSpan(pick[i] * trainF.PooledDim, trainF.PooledDim).CopyTo(x.AsSpan(i * trainF.PooledDim));
            var fit = LinearProbe.Fit(x, trainF.PooledDim, pick.Select(i => trainLabels[i]).ToArray(), k, new ProbeOptions(Seed: seed));
            var report = ClassificationReport.Compute(fit.Predict(testF.Pooled), testLabels, train.ClassNames);
            string pct = (fraction * 100).ToString("0.##", CultureInfo.InvariantCulture);
            Publish(output, $"{name}-{pct}pct", $"Linear probe on {test.Name}, {pct}% of {train.Name} ({pick.Length} images, lambda {fit.Lambda:G3})",
                report, testLabels, train.ClassNames, m.Source, log);
            results.Add((fraction, report, fit.Lambda));
        }
        return results;
    }

    public static RetrievalReport Retrieve(EvaluationModel m, Manifest test, RunFolder output, string name, TextWriter log)
    {
        var features = Features.Images(m.Embedder, test, log);
        var captions = features.Kept.Select(i => test.Entries[i].Caption).ToList();
        var texts = Features.Texts(m.Embedder, captions);
        // Identical captions are interchangeable answers (many reports share one finding list).
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        var groups = captions.Select(c => ids.TryGetValue(c, out int g) ? g : ids[c] = ids.Count).ToArray();
        var report = Retrieval.Evaluate(features.Embeddings, texts, features.EmbedDim, groups);
        var json = report.ToJson();
        json["model"] = m.Source;
        ResultsWriter.Write(output.Root, name, json, report.ToMarkdown($"Retrieval on {test.Name}"));
        output.Metrics.Append(name, json.ToDictionary(x => x.Key, x => (object?)x.Value));
        log.Write(report.ToMarkdown($"Retrieval on {test.Name}"));
        log.WriteLine($"retrieve: results in {Path.Combine(output.Root, name)}.md");
        return report;
    }

    static void Publish(RunFolder output, string name, string title, ClassificationReport report, int[] labels, IReadOnlyList<string> classes,
        string source, TextWriter log)
    {
        var json = report.ToJson();
        json["model"] = source;
        string markdown = report.ToMarkdown(title);
        ResultsWriter.Write(output.Root, name, json, markdown);
        Plots.Roc(Path.Combine(output.Plots, $"{name}-roc.png"), report.Probabilities, labels, classes);
        Plots.Confusion(Path.Combine(output.Plots, $"{name}-confusion.png"), report.Confusion, classes);
        output.Metrics.Append(name, new Dictionary<string, object?>
        {
            ["accuracy"] = report.Accuracy, ["macro_auc"] = report.MacroAuc, ["macro_f1"] = report.MacroF1, ["count"] = report.Count, ["model"] = source,
        });
        log.Write(markdown);
        log.WriteLine($"results: {Path.Combine(output.Root, name)}.md, plots in {output.Plots}");
    }
}
