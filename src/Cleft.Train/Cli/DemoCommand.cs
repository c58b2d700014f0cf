using Cleft.Autograd.IO;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Cleft.Models.Recipe;
using Cleft.Train.Data;
using Cleft.Train.Evaluation;
using Cleft.Train.Metrics;
using Cleft.Train.Reports;
using Cleft.Train.Runs;
using Cleft.Train.Training;
using Spectre.Console;

namespace Cleft.Train.Cli;

/// <summary>
/// `cleft demo`: CLEFT end to end on generated data with the tiny towers — synth, stage 1, zero-shot, stage 2,
/// zero-shot with the learned prompts, linear probe — through the same code paths as the individual commands,
/// ending with one results table and the run folder. Sized to finish in minutes on 2 CPU cores.
/// </summary>
public static class DemoCommand
{
    public static Command Create(TextWriter output)
    {
        var cmd = new Command("demo", "CLEFT end to end on a generated chest set: synth -> pretrain -> zeroshot -> prompt -> zeroshot -> probe (CUDA if present, else CPU)");
        var o = new CommandOptions(cmd);
        var outDir = o.Add("out", "runs/demo", "demo folder: data/, pretrain/ and prompt/ run folders, results.md");
        var count = o.Add("count", 1000, "synthetic images (70% train, 10% val, 20% test)", v => v >= 100 ? null : "must be at least 100");
        var size = o.Add("size", 64, "image side in pixels", v => v is >= 32 and <= 256 && v % 8 == 0 ? null : "a multiple of 8 in [32, 256]");
        var steps = o.Add("steps", 300, "stage-1 steps", CommandOptions.Positive);
        var promptSteps = o.Add("prompt-steps", 200, "stage-2 steps", CommandOptions.Positive);
        var batch = o.Add("batch", 32, "stage-1 batch", v => v >= 2 ? null : "must be at least 2");
        var seed = o.Add("seed", 42, "seed for data, initialisation and training", CommandOptions.NonNegative);
        var device = new DeviceOptions(o);
        cmd.SetAction(r =>
        {
            using var dev = device.Create(r);
            Run(dev, r.GetValue(outDir)!, r.GetValue(count), r.GetValue(size), r.GetValue(steps), r.GetValue(promptSteps), r.GetValue(batch),
                (ulong)r.GetValue(seed), o.Resolved(r), output);
            return 0;
        });
        return cmd;
    }

    public sealed record DemoResult(double ZeroShotStage1, double ZeroShotStage2, IReadOnlyList<(double Fraction, double Accuracy)> Probe, string Folder, double Seconds);

    public static DemoResult Run(Kernels.IBackend device, string outDir, int count, int size, int steps, int promptSteps, int batch, ulong seed,
        IReadOnlyDictionary<string, object?> resolved, TextWriter log)
    {
        var clock = Stopwatch.StartNew();
        string root = Path.GetFullPath(outDir);
        if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
        {
            // The demo always starts from scratch, but only ever deletes a folder an earlier demo made.
            bool earlierDemo = File.Exists(Path.Combine(root, "data", SyntheticChest.ManifestName)) || File.Exists(Path.Combine(root, "results.md"));
            if (!earlierDemo) throw new ArgumentException($"{root} exists and is not a demo folder; choose another --out (nothing was changed)");
            Directory.Delete(root, recursive: true);
        }
        string data = Path.Combine(root, "data");
        log.WriteLine($"demo: CLEFT end to end on {device.Name} ({device.Description}) into {root}");
        log.WriteLine($"demo [1/6] synth: {SyntheticChest.Describe(count, seed, size)}");
        SyntheticChest.Generate(data, count, seed, size, TextWriter.Null);
        string Csv(string split) => Path.Combine(data, split + ".csv");
        var source = new DataSource(LabelColumn: "label", Classes: ChexpertManifest.FiveClasses);
        string template = ZeroShotClassifier.ChexpertTemplate;

        log.WriteLine("demo [2/6] pretrain: stage 1, tiny ViT + tiny GPT-2 with LoRA, contrastive loss");
        var pretrain = PretrainRun.Run(device, new PretrainOptions
        {
            TrainCsv = Csv("train"), ValCsv = Csv("val"), Data = source,
            Model = new CleftModelSpec { Vision = "tiny", Text = "tiny", Seed = seed, ImageSize = size, EmbedDim = 64, MaxTextLength = 24 },
            Stage1 = new Stage1Options { LearningRate = 1e-3f, WarmupSteps = Math.Max(1, steps / 10), TotalSteps = steps, MinLearningRate = 1e-5f, LogEvery = 10 },
            Batch = batch, EvalEvery = Math.Max(1, steps / 3), Out = Path.Combine(root, "pretrain"),
        }, resolved, log);

        var test = source.Load(Csv("test"), needCaptions: false, needLabels: true);
        ClassificationReport zs1, zs2;
        using (var m = EvaluationModel.Load(device, pretrain.RunDirectory))
        {
            log.WriteLine($"demo [3/6] zeroshot: stage-1 model, template \"{template}\"");
            zs1 = Evaluations.ZeroShot(m, test, template, new RunFolder(pretrain.RunDirectory), "zeroshot-test", log);
        }

        log.WriteLine("demo [4/6] prompt: stage 2, learned context tokens, encoders frozen");
        string promptDir = PromptRun.Run(device, new PromptOptions
        {
            Stage1 = pretrain.RunDirectory, TrainCsv = Csv("train"), ValCsv = Csv("val"), Data = source,
            // As many context tokens as the template's phrase has, so stage 2 starts from exactly the stage-1 prompts.
            Context = Models.Text.BundledGpt2Tokenizer.Encode(ZeroShotClassifier.TemplatePrefix(template)).Length, Init = ZeroShotClassifier.TemplatePrefix(template),
            Stage2 = new Stage2Options { LearningRate = 0.02f, WarmupSteps = Math.Max(1, promptSteps / 10), TotalSteps = promptSteps, LogEvery = 10 },
            Batch = batch, EvalEvery = Math.Max(1, promptSteps / 3), Out = Path.Combine(root, "prompt"), Seed = seed,
        }, resolved, log);

        IReadOnlyList<(double Fraction, ClassificationReport Report, double Lambda)> probe;
        using (var m = EvaluationModel.Load(device, promptDir))
        {
            log.WriteLine("demo [5/6] zeroshot: learned prompts");
            zs2 = Evaluations.ZeroShot(m, test, template, new RunFolder(promptDir), "zeroshot-test", log);
        }
        using (var m = EvaluationModel.Load(device, pretrain.RunDirectory))
        {
            log.WriteLine("demo [6/6] probe: logistic regression on frozen image features at 1%, 10%, 100% of the training set");
            var train = source.Load(Csv("train"), needCaptions: false, needLabels: true);
            probe = Evaluations.Probe(m, train, test, [0.01, 0.1, 1.0], seed, new RunFolder(pretrain.RunDirectory), "probe-test", log);
        }

        var table = new Table().Title("CLEFT demo: 5-class synthetic test split").AddColumn("evaluation")
            .AddColumn(new TableColumn("accuracy").RightAligned()).AddColumn(new TableColumn("macro AUC").RightAligned()).AddColumn(new TableColumn("macro F1").RightAligned());
        string[] Row(string name, ClassificationReport r) => [name, F(r.Accuracy, "P1"), F(r.MacroAuc, "F3"), F(r.MacroF1, "F3")];
        List<string[]> rows =
        [
            Row("zero-shot after stage 1 (template)", zs1),
            Row("zero-shot after stage 2 (learned prompts)", zs2),
            .. probe.Select(p => Row($"linear probe, {p.Fraction * 100:0.##}% of train", p.Report)),
        ];
        foreach (var row in rows) table.AddRow(row.Select(Markup.Escape).ToArray());
        WidgetWriter.Render(log, table);
        string md = "# CLEFT demo\n\n" + Markdown.Table(["evaluation", "accuracy", "macro AUC", "macro F1"], rows)
            + $"\nStage 1: {pretrain.RunDirectory}\nStage 2: {promptDir}\n";
        DurableFile.WriteAllText(Path.Combine(root, "results.md"), md);
        log.WriteLine($"demo: done in {clock.Elapsed.TotalSeconds:F0} s; run folders {pretrain.RunDirectory} and {promptDir}; summary {Path.Combine(root, "results.md")}");
        return new DemoResult(zs1.Accuracy, zs2.Accuracy, probe.Select(p => (p.Fraction, p.Report.Accuracy)).ToList(), root, clock.Elapsed.TotalSeconds);
    }

    static string F(double v, string format) => double.IsNaN(v) ? "n/a" : v.ToString(format, CultureInfo.InvariantCulture);
}
