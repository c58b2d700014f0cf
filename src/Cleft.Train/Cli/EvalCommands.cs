using System.CommandLine;
using System.Globalization;
using Cleft.Models.Recipe;
using Cleft.Train.Data;
using Cleft.Train.Evaluation;
using Cleft.Train.Runs;
using Spectre.Console;

namespace Cleft.Train.Cli;

/// <summary>`cleft zeroshot`, `probe`, `retrieve` and `classify`: evaluations of a trained run.</summary>
public static class EvalCommands
{
    /// <summary>Options every evaluation shares: the model (--run), where reports go (--out) and the device.</summary>
    sealed class Common
    {
        readonly Option<string?> _run, _out, _name;
        readonly DeviceOptions _device;

        public Common(CommandOptions o, string defaultName)
        {
            _run = o.OptionalString("run", "a stage-1 run folder (its best checkpoint), a checkpoint folder, or a prompt run (its learned prompts)", required: true);
            _out = o.OptionalString("out", "folder for results, plots and metrics (default: the --run folder)");
            _name = o.OptionalString("name", $"name of the results files (default: {defaultName}-<test CSV name>)");
            _device = new DeviceOptions(o);
        }

        public EvaluationModel Model(ParseResult r, out Kernels.IBackend device)
        {
            device = _device.Create(r);
            try { return EvaluationModel.Load(device, r.GetValue(_run)!); }
            catch { device.Dispose(); throw; }
        }

        public RunFolder Output(ParseResult r) => new(r.GetValue(_out) ?? r.GetValue(_run)!);

        public string Name(ParseResult r, string prefix, string csv) => r.GetValue(_name) ?? $"{prefix}-{Path.GetFileNameWithoutExtension(csv)}";
    }

    /// <summary>CLIP's and CoOp's generic prompt: domain-neutral; chest data passes CheXpert's template.</summary>
    public const string DefaultTemplate = "a photo of a {}";

    static Option<string> Template(CommandOptions o) =>
        o.Add("template", DefaultTemplate, "prompt template; {} is replaced by the lower-cased class name (CheXpert's: \"" +
            ZeroShotClassifier.ChexpertTemplate + "\"); ignored for a prompt run",
            v => v.Contains(ZeroShotClassifier.ClassSlot, StringComparison.Ordinal) ? null : "must contain {}");

    public static Command ZeroShot(TextWriter output)
    {
        var cmd = new Command("zeroshot", "zero-shot classification of a labelled CSV: accuracy, macro AUC, macro F1, per-class table, confusion matrix, ROC plots");
        var o = new CommandOptions(cmd);
        var common = new Common(o, "zeroshot");
        var test = o.OptionalString("test", "labelled test manifest CSV", required: true);
        var data = new DataOptions(o, labels: true);
        var template = Template(o);
        cmd.SetAction(r =>
        {
            using var m = common.Model(r, out var device);
            using var _ = device;
            var source = data.Source(r);
            if (m.Prompts is not null && source.Classes is null && source.Format == ManifestFormat.Generic) source = source with { Classes = m.Prompts.Classes };
            var manifest = source.Load(r.GetValue(test)!, needCaptions: false, needLabels: true);
            Evaluations.ZeroShot(m, manifest, r.GetValue(template)!, common.Output(r), common.Name(r, "zeroshot", r.GetValue(test)!), output);
            return 0;
        });
        return cmd;
    }

    public static Command Probe(TextWriter output)
    {
        var cmd = new Command("probe", "linear probe: logistic regression on frozen image features at fractions of the training set (seeded, class-stratified)");
        var o = new CommandOptions(cmd);
        var common = new Common(o, "probe");
        var train = o.OptionalString("train", "labelled training manifest CSV", required: true);
        var test = o.OptionalString("test", "labelled test manifest CSV", required: true);
        var data = new DataOptions(o, labels: true);
        var fractions = o.Add("fractions", "1,10,100", "training-set percentages, comma-separated (the paper: 1, 10, 100)",
            v => ParsePercents(v) is null ? "expected percentages in (0, 100], e.g. 1,10,100" : null);
        var seed = o.Add("seed", 42, "sampling seed for the subsets and the validation split", CommandOptions.NonNegative);
        cmd.SetAction(r =>
        {
            using var m = common.Model(r, out var device);
            using var _ = device;
            var source = data.Source(r);
            var trainM = source.Load(r.GetValue(train)!, needCaptions: false, needLabels: true);
            // Test labels follow the training classes unless --classes fixed them already.
            var testM = (source with { Classes = source.Classes ?? trainM.ClassNames }).Load(r.GetValue(test)!, needCaptions: false, needLabels: true);
            var results = Evaluations.Probe(m, trainM, testM, ParsePercents(r.GetValue(fractions)!)!.Select(p => p / 100).ToList(),
                (ulong)r.GetValue(seed), common.Output(r), common.Name(r, "probe", r.GetValue(test)!), output);
            foreach (var (fraction, report, lambda) in results)
                output.WriteLine(CliApp.Invariant($"probe {fraction * 100:0.##}%: accuracy {report.Accuracy:P1}  macro AUC {report.MacroAuc:F3}  macro F1 {report.MacroF1:F3}  (lambda {lambda:G3})"));
            return 0;
        });
        return cmd;
    }

    public static Command Retrieve(TextWriter output)
    {
        var cmd = new Command("retrieve", "image-to-text and text-to-image recall@1/5/10 on a captioned CSV (identical captions count as the same answer)");
        var o = new CommandOptions(cmd);
        var common = new Common(o, "retrieve");
        var test = o.OptionalString("test", "captioned test manifest CSV", required: true);
        var data = new DataOptions(o, labels: false);
        cmd.SetAction(r =>
        {
            using var m = common.Model(r, out var device);
            using var _ = device;
            var manifest = data.Source(r).Load(r.GetValue(test)!, needCaptions: true, needLabels: false);
            Evaluations.Retrieve(m, manifest, common.Output(r), common.Name(r, "retrieve", r.GetValue(test)!), output);
            return 0;
        });
        return cmd;
    }

    public static Command Classify(TextWriter output)
    {
        var cmd = new Command("classify", "class probabilities for image files, from a template and --classes or from a prompt run's learned prompts");
        var o = new CommandOptions(cmd);
        var runOpt = o.OptionalString("run", "a stage-1 run folder, a checkpoint folder, or a prompt run", required: true);
        var classes = o.OptionalString("classes", "class names 'A,B,C' or a file with one per line (not needed for a prompt run)");
        var template = Template(o);
        var device = new DeviceOptions(o);
        var images = new Argument<string[]>("images") { Description = "image files (PNG, JPEG, DICOM)", Arity = ArgumentArity.OneOrMore };
        cmd.Arguments.Add(images);
        cmd.SetAction(r =>
        {
            using var dev = device.Create(r);
            using var m = EvaluationModel.Load(dev, r.GetValue(runOpt)!);
            var names = m.Prompts?.Classes ?? (r.GetValue(classes) is { } c ? CsvManifest.ParseClasses(c)
                : throw new CliUsageException("--classes is required unless --run is a prompt run"));
            var classEmbeddings = m.ClassEmbeddings(names, r.GetValue(template)!);
            var files = r.GetValue(images)!;
            var manifest = new Manifest("images", files.Select((f, i) => new ManifestEntry(Path.GetFullPath(f), "", -1, i + 1)).ToList(), names);
            var missing = manifest.Entries.Where(e => !File.Exists(e.ImagePath)).Select(e => $"image not found: {e.ImagePath}").ToList();
            if (missing.Count > 0) throw new ManifestException("image arguments", missing);
            var features = Features.Images(m.Embedder, manifest, TextWriter.Null);
            var scores = Metrics.ZeroShotEvaluation.Evaluate(features.Embeddings, classEmbeddings, features.EmbedDim,
                new int[features.Count], m.Embedder.LogitScale);
            PrintTable(output, files, names, scores.Probabilities);
            return 0;
        });
        return cmd;
    }

    static void PrintTable(TextWriter output, string[] files, IReadOnlyList<string> names, double[] p)
    {
        int k = names.Count;
        var table = new Table().AddColumn("image").AddColumn("prediction");
        foreach (var n in names) table.AddColumn(new TableColumn(Markup.Escape(n)).RightAligned());
        for (int i = 0; i < files.Length; i++)
        {
            var row = p.AsSpan(i * k, k);
            int best = 0;
            for (int c = 1; c < k; c++) if (row[c] > row[best]) best = c;
            table.AddRow([Markup.Escape(files[i]), Markup.Escape(names[best]), .. row.ToArray().Select(v => v.ToString("F3", CultureInfo.InvariantCulture))]);
        }
        WidgetWriter.Render(output, table);
    }

    static double[]? ParsePercents(string list)
    {
        var parts = list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var values = new List<double>();
        foreach (var part in parts)
        {
            if (!double.TryParse(part.TrimEnd('%'), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || v is <= 0 or > 100) return null;
            values.Add(v);
        }
        return values.Count == 0 ? null : [.. values];
    }
}

/// <summary>Renders Spectre widgets to any writer (a test's StringWriter or the console).</summary>
static class WidgetWriter
{
    public static void Render(TextWriter output, Spectre.Console.Rendering.IRenderable widget)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = ReferenceEquals(output, System.Console.Out) && !System.Console.IsOutputRedirected ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = ColorSystemSupport.Detect,
        });
        console.Profile.Width = 160;
        console.Write(widget);
    }
}
