using Cleft.Autograd.Distributed;
using Cleft.Autograd.IO;
using System.Globalization;
using System.Text.Json;
using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Kernels.Distributed;
using Cleft.Models.Recipe;
using Cleft.Train.Cli;
using Cleft.Train.Data;
using Cleft.Train.Runs;

namespace Cleft.Train.Training;

/// <summary>What `cleft prompt` runs: stage 2 on a stage-1 model.</summary>
public sealed record PromptOptions
{
    /// <summary>A stage-1 run folder (its best checkpoint is used) or a checkpoint folder.</summary>
    public required string Stage1 { get; init; }
    public required string TrainCsv { get; init; }
    public string? ValCsv { get; init; }
    public DataSource Data { get; init; } = new();
    /// <summary>Learnable context tokens N (the released code: 30).</summary>
    public int Context { get; init; } = 30;
    /// <summary>The phrase whose token embeddings start the context (repeated or cut to N).</summary>
    public required string Init { get; init; }
    public Stage2Options Stage2 { get; init; } = new();
    public int Batch { get; init; } = 32;
    /// <summary>The train augmentation's steps (null: none, the eval transform).</summary>
    public PreprocessOptions? Augmentation { get; init; } = new();
    public int Workers { get; init; } = 2;
    public int EvalEvery { get; init; } = 500;
    public required string Out { get; init; }
    public bool Resume { get; init; }
    public ulong Seed { get; init; } = 42;
    public PromptLearner.Variant Variant { get; init; } = PromptLearner.Variant.Paper;
}

/// <summary>prompt.json: which stage-1 model the context belongs to and how the prompts are laid out.</summary>
public sealed record PromptSpec(string Stage1Model, string[] Classes, int Context, string Init, PromptLearner.Variant Variant = PromptLearner.Variant.Paper)
{
    public const string FileName = "prompt.json";
}

/// <summary>
/// Stage 2 from a labelled CSV into a run folder: the stage-1 model frozen in eval mode, <see cref="PromptLearner"/>'s
/// N context vectors trained with the zero-shot cross-entropy by SGD (or the released code's variant), the
/// validation loss and accuracy every <see cref="PromptOptions.EvalEvery"/> steps, checkpoints and exact resume
/// as in stage 1. <see cref="LoadClassifier"/> turns the run folder back into a zero-shot classifier.
/// With a <paramref name="group"/> of several ranks (the paper's variant; docs/DISTRIBUTED.md) each rank trains on
/// its shard of every batch with gradients averaged, validation is split over the ranks and summed, and rank 0
/// alone writes the run folder.
/// </summary>
public static class PromptRun
{
    public static string Run(IBackend device, PromptOptions o, IReadOnlyDictionary<string, object?> resolved, TextWriter log, ICommunicator? group = null)
    {
        var parallel = group is { Size: > 1 } ? new DataParallel(group) : null;
        int shards = parallel?.Size ?? 1;
        bool writer = parallel?.IsRoot ?? true;
        if (!writer) log = TextWriter.Null;
        if (parallel is not null && o.Variant != PromptLearner.Variant.Paper)
            throw new ArgumentException($"--variant code with {shards} ranks: its InfoNCE would see only each rank's negatives; use one process or the paper's variant");
        var train = o.Data.Load(o.TrainCsv, needCaptions: false, needLabels: true);
        var val = o.ValCsv is null ? null : o.Data.Load(o.ValCsv, needCaptions: false, needLabels: true);
        if (train.ClassNames.Count < 2) throw new ArgumentException($"{o.TrainCsv}: need at least 2 classes, got [{string.Join(", ", train.ClassNames)}]");
        string root = Path.GetFullPath(o.Out);
        var run = writer ? new RunFolder(root) : null;
        string store = Path.Combine(root, RunFolder.CheckpointFolder);
        if (!o.Resume && File.Exists(Path.Combine(store, CheckpointStore.IndexFile)))
            throw new ArgumentException($"{root} already holds a run with checkpoints: pass --resume to continue it, or choose another --out");

        string modelDir = Path.GetFullPath(RunFolder.ModelDirectory(o.Stage1));
        using var model = CleftModel.Load(device, modelDir);
        using var prompts = new PromptLearner(model, train.ClassNames, o.Context, o.Init, o.Variant);
        int batch = Math.Min(o.Batch, train.Count);
        if (batch % shards != 0)
            throw new ArgumentException($"a batch of {batch} (--batch {o.Batch}, {train.Count} images) does not split evenly over {shards} ranks; use a multiple of {shards}");
        var loader = new DataLoader(new ImageDataset(train, PretrainRun.ImageSizes(model.Config.ImageSize, o.Augmentation)),
            new LoaderOptions(batch, Shuffle: true, Seed: o.Seed, Augment: o.Augmentation is not null, DropLast: true, Workers: o.Workers,
                ShardIndex: parallel?.Rank ?? 0, ShardCount: shards));
        using var trainer = new Stage2Trainer(prompts, o.Stage2 with { WarmupSteps = Math.Min(o.Stage2.WarmupSteps, o.Stage2.TotalSteps - 1), CheckpointDirectory = store },
            parallel);
        var position = new DataPosition(0, 0);
        if (o.Resume && trainer.ResumeLatest() is { } resumed)
        {
            position = resumed.Data ?? throw new InvalidDataException($"{resumed.Directory}: the checkpoint has no data position");
            run?.Metrics.TruncateAfter(trainer.Step);
            log.WriteLine($"prompt: resumed from {resumed.Directory} at step {trainer.Step}");
        }
        if (run is not null)
        {
            run.WriteConfig("prompt", resolved, $"{device.Name} ({device.Description})" + (parallel is null ? "" : $" x {shards} ranks ({group!.Kind})"));
            DurableFile.WriteAllText(run.PathOf(PromptSpec.FileName),
                JsonSerializer.Serialize(new PromptSpec(modelDir, [.. train.ClassNames], o.Context, o.Init, o.Variant), new JsonSerializerOptions { WriteIndented = true }));
        }
        int total = o.Stage2.TotalSteps;
        log.WriteLine($"prompt: {o.Context} context tokens for {train.ClassNames.Count} classes ({string.Join(", ", train.ClassNames)}), " +
            $"{train.Count} training images; {total} steps on {device.Name}" +
            (parallel is null ? "" : $" x {shards} ranks ({group!.Kind})") + $"; stage-1 model {modelDir}; run folder {root}");

        string checkpoint = "";
        using (var batches = PretrainRun.Stream(loader, position).GetEnumerator())
            ProgressDisplay.Run(log, "prompt", total, trainer.Step, o.Stage2.LogEvery, ticker =>
            {
                while (trainer.Step < total)
                {
                    batches.MoveNext();
                    var (batch, next) = batches.Current;
                    position = next;
                    float loss = PretrainRun.GuardedStep(() => trainer.TrainStep(batch.Pixels, batch.Labels), trainer.Guard, run, ticker, "prompt");
                    if (trainer.LastStepSkipped) continue;
                    int step = trainer.Step;
                    if (step % o.Stage2.LogEvery == 0 || step == total)
                    {
                        run?.Metrics.Append("train", new Dictionary<string, object?>
                        {
                            ["step"] = step, ["loss"] = loss, ["lr"] = trainer.LearningRate, ["skipped_steps"] = trainer.Guard.Skipped,
                        });
                        ticker.Update(step, string.Create(CultureInfo.InvariantCulture, $"loss {loss:F4}  lr {trainer.LearningRate:0.00e+00}"));
                    }
                    if ((o.EvalEvery > 0 && step % o.EvalEvery == 0) || step == total)
                    {
                        float? valLoss = null;
                        if (val is not null)
                        {
                            var (vl, acc) = Validate(prompts, val, o, parallel);
                            valLoss = vl;
                            run?.Metrics.Append("val", new Dictionary<string, object?> { ["step"] = step, ["val_loss"] = vl, ["val_accuracy"] = acc });
                            ticker.Note(string.Create(CultureInfo.InvariantCulture, $"prompt: step {step}  validation loss {vl:F4}  accuracy {acc:P1}"));
                        }
                        if (writer) checkpoint = trainer.SaveCheckpoint(valLoss, null, position);
                    }
                }
            });
        if (run is not null) PretrainRun.DrawPlots(run);
        log.WriteLine($"prompt: done, {trainer.Step} steps; checkpoint {checkpoint}");
        return root;
    }

    /// <summary>Mean classification loss and accuracy on a labelled manifest (eval transform); with several ranks each takes its share of every batch and the sums are combined.</summary>
    static (float Loss, double Accuracy) Validate(PromptLearner prompts, Manifest val, PromptOptions o, DataParallel? parallel)
    {
        int shards = parallel?.Size ?? 1;
        var loader = new DataLoader(new ImageDataset(val, PretrainRun.ImageSizes(prompts.Model.Config.ImageSize)),
            new LoaderOptions(Math.Max(shards, Math.Min(o.Batch, val.Count) / shards * shards), Shuffle: false, Augment: false, Workers: o.Workers,
                ShardIndex: parallel?.Rank ?? 0, ShardCount: shards));
        var zs = prompts.ToClassifier();
        using var _ = GradMode.NoGrad();
        double sum = 0;
        int n = 0, hit = 0;
        foreach (var b in loader.Epoch(0)) // each image decoded once, for both the loss and the prediction
        {
            using (var scope = new TensorScope())
            using (var y = IntTensor.FromArray(prompts.Model.Device, b.Labels, b.Count))
                sum += prompts.Loss(b.Pixels, y).Item() * b.Count;
            var r = zs.Classify(b.Pixels, b.Count);
            for (int i = 0; i < b.Count; i++) if (r.Predictions[i] == b.Labels[i]) hit++;
            n += b.Count;
        }
        if (parallel is not null)
        {
            var total = parallel.SumOverRanks(prompts.Model.Device, (float)sum, n, hit);
            (sum, n, hit) = (total[0], (int)total[1], (int)total[2]);
        }
        return ((float)(sum / n), (double)hit / n);
    }

    /// <summary>A prompt run folder's spec, or null when <paramref name="runDir"/> is not one.</summary>
    public static PromptSpec? ReadSpec(string runDir)
    {
        string path = Path.Combine(runDir, PromptSpec.FileName);
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize<PromptSpec>(File.ReadAllText(path)) ?? throw new InvalidDataException($"{path}: empty"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a valid prompt spec: {e.Message}", e); }
    }

    /// <summary>
    /// The learned prompts of a prompt run as a zero-shot classifier: the stage-1 model it was trained on (its
    /// fingerprint checked against the run's), the context of the best checkpoint (else the last).
    /// </summary>
    public static (CleftModel Model, ZeroShotClassifier Classifier, PromptSpec Spec) LoadClassifier(IBackend device, string runDir)
    {
        var spec = ReadSpec(runDir) ?? throw new ArgumentException($"{runDir}: not a prompt run (no {PromptSpec.FileName})");
        // Read the index without opening a CheckpointStore: opening one sweeps temporaries, which would delete a
        // checkpoint that a prompt run still training is writing.
        string dir = CleftModel.ResolveDirectory(runDir);
        var model = CleftModel.Load(device, spec.Stage1Model);
        try
        {
            using var prompts = new PromptLearner(model, spec.Classes, spec.Context, spec.Init, spec.Variant);
            TrainerState.ReadChecked(dir, model.FrozenFingerprint());
            Stage2Trainer.LoadContext(dir, prompts);
            return (model, prompts.ToClassifier(), spec);
        }
        catch { model.Dispose(); throw; }
    }
}
