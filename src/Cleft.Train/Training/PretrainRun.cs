using Cleft.Autograd.Distributed;
using Cleft.Autograd.IO;
using System.Diagnostics;
using System.Globalization;
using Cleft.Kernels;
using Cleft.Kernels.Distributed;
using Cleft.Models.Recipe;
using Cleft.Train.Cli;
using Cleft.Train.Data;
using Cleft.Train.Reports;
using Cleft.Train.Runs;

namespace Cleft.Train.Training;

/// <summary>What `cleft pretrain` runs: the data, the model spec, the stage-1 schedule and the run's bookkeeping.</summary>
public sealed record PretrainOptions
{
    public required string TrainCsv { get; init; }
    public string? ValCsv { get; init; }
    public DataSource Data { get; init; } = new();
    public CleftModelSpec Model { get; init; } = new();
    public Stage1Options Stage1 { get; init; } = new();
    /// <summary>Training length in epochs instead of <see cref="Stage1Options.TotalSteps"/> (null: steps).</summary>
    public double? Epochs { get; init; }
    public int Batch { get; init; } = 72;
    public int Accumulate { get; init; } = 1;
    /// <summary>The train augmentation's steps (null: none, the eval transform).</summary>
    public PreprocessOptions? Augmentation { get; init; } = new();
    public bool SkipBadImages { get; init; }
    public int Workers { get; init; } = 2;
    /// <summary>Validation loss and a checkpoint every this many steps (0: at the end only).</summary>
    public int EvalEvery { get; init; } = 1000;
    public required string Out { get; init; }
    public bool Resume { get; init; }
}

public sealed record PretrainResult(string RunDirectory, string Checkpoint, int Steps, float LastLoss, float? ValLoss, double Seconds);

/// <summary>
/// Stage 1 from CSV manifests into a run folder: manifests checked up front, the ordered prefetching loader
/// (seeded shuffle and per-sample augmentation), <see cref="Stage1Trainer"/> with gradient accumulation,
/// validation loss and checkpoints every <see cref="PretrainOptions.EvalEvery"/> steps, metrics.jsonl, plots.
/// With <see cref="PretrainOptions.Resume"/> it continues from the run's last checkpoint at the saved data
/// position, so the losses equal an uninterrupted run's bit for bit on the CPU backend.
/// With a <paramref name="group"/> of several ranks (docs/DISTRIBUTED.md) --batch is the global batch: each rank
/// loads its equal shard of every batch and the trainer steps as one process would on the whole batch; rank 0 alone
/// writes the run folder and logs. The data position is the global batch's, so a run resumes at any rank count
/// that divides the batch.
/// </summary>
public static class PretrainRun
{
    public static PretrainResult Run(IBackend device, PretrainOptions o, IReadOnlyDictionary<string, object?> resolvedOptions, TextWriter log,
        ICommunicator? group = null)
    {
        var clock = Stopwatch.StartNew();
        var parallel = group is { Size: > 1 } ? new DataParallel(group) : null;
        int shards = parallel?.Size ?? 1;
        bool writer = parallel?.IsRoot ?? true;
        if (!writer) log = TextWriter.Null; // the other ranks train in step with rank 0, silently
        var train = o.Data.Load(o.TrainCsv, needCaptions: true, needLabels: false);
        var val = o.ValCsv is null ? null : o.Data.Load(o.ValCsv, needCaptions: true, needLabels: false);
        if (val is { Count: < 2 })
            throw new ArgumentException($"{o.ValCsv}: a validation loss needs at least 2 pairs (the contrastive negatives), got {val.Count}");
        if (train.Count < o.Batch)
            throw new ArgumentException($"{o.TrainCsv}: {train.Count} rows, fewer than one batch of {o.Batch}; lower --batch");

        if (parallel is not null) CheckShardable(o, shards, val?.Count);
        string root = Path.GetFullPath(o.Out);
        var run = writer ? new RunFolder(root) : null;
        var store = Path.Combine(root, RunFolder.CheckpointFolder);
        if (!o.Resume && File.Exists(Path.Combine(store, CheckpointStore.IndexFile)))
            throw new ArgumentException($"{root} already holds a run with checkpoints: pass --resume to continue it, or choose another --out");

        var preprocess = ImageSizes(o.Model.ImageSize, o.Augmentation);
        var loader = new DataLoader(new ImageDataset(train, preprocess, o.SkipBadImages),
            new LoaderOptions(o.Batch, Shuffle: true, Seed: o.Model.Seed, Augment: o.Augmentation is not null, DropLast: true, Workers: o.Workers,
                ShardIndex: parallel?.Rank ?? 0, ShardCount: shards));
        int totalSteps = o.Epochs is { } epochs
            ? Math.Max(1, (int)Math.Ceiling(epochs * loader.BatchesPerEpoch / o.Accumulate))
            : o.Stage1.TotalSteps;
        // A short run keeps the paper's warmup only as far as it goes: warmup longer than the run would never reach the peak lr.
        var stage1 = o.Stage1 with { TotalSteps = totalSteps, WarmupSteps = Math.Min(o.Stage1.WarmupSteps, totalSteps - 1), CheckpointDirectory = store };

        using var model = CleftModel.Build(device, o.Model);
        using var trainer = new Stage1Trainer(model, stage1, parallel);
        var position = new DataPosition(0, 0);
        if (o.Resume && trainer.ResumeLatest() is { } resumed)
        {
            position = resumed.Data ?? throw new InvalidDataException($"{resumed.Directory}: the checkpoint has no data position");
            run?.Metrics.TruncateAfter(trainer.Step);
            log.WriteLine($"pretrain: resumed from {resumed.Directory} at step {trainer.Step} (epoch {position.Epoch}, batch {position.Batch})");
        }
        else if (o.Resume) log.WriteLine($"pretrain: --resume given but {store} has no checkpoint yet; starting fresh");
        if (run is not null)
        {
            run.WriteConfig("pretrain", resolvedOptions, $"{device.Name} ({device.Description})" + (parallel is null ? "" : $" x {shards} ranks ({group!.Kind})"));
            DurableFile.WriteAllText(run.PathOf(CleftModelSpec.FileName), o.Model.ToJson(trainer.Fingerprint));
        }

        log.WriteLine($"pretrain: {train.Count} training pairs ({loader.BatchesPerEpoch} batches of {o.Batch} per epoch)" +
            (val is null ? "" : $", {val.Count} validation pairs") + $"; {model.ParameterCount(trainableOnly: true):N0} trainable of " +
            $"{model.ParameterCount() + model.Text.HalfParameterCount:N0} parameters; {totalSteps} steps on {device.Name}" +
            (parallel is null ? "" : $" x {shards} ranks ({group!.Kind}, {o.Batch / shards} pairs each per batch)") + $"; run folder {root}");

        float lastLoss = float.NaN;
        float? valLoss = null;
        string checkpoint = trainer.Checkpoints!.Last is { } l ? trainer.Checkpoints.PathOf(l) : "";
        var rate = Stopwatch.StartNew();
        int rateFrom = trainer.Step;
        using (var batches = Stream(loader, position).GetEnumerator())
        {
            ProgressDisplay.Run(log, "pretrain", totalSteps, trainer.Step, stage1.LogEvery, ticker =>
            {
                while (trainer.Step < totalSteps)
                {
                    var micro = PretrainRun.NextMicroBatches(batches, o.Accumulate, ref position);
                    float stepLoss = GuardedStep(() => trainer.TrainStep(micro), trainer.Guard, run, ticker, "pretrain");
                    if (trainer.LastStepSkipped) continue;
                    lastLoss = stepLoss;
                    int step = trainer.Step;
                    if (step % stage1.LogEvery == 0 || step == totalSteps)
                    {
                        double seconds = Math.Max(rate.Elapsed.TotalSeconds, 1e-9), stepsPerSecond = (step - rateFrom) / seconds;
                        run?.Metrics.Append("train", new Dictionary<string, object?>
                        {
                            ["step"] = step, ["loss"] = lastLoss, ["lr"] = trainer.LearningRate, ["logit_scale"] = model.LogitScale.Read(),
                            ["epoch"] = position.Epoch, ["steps_per_s"] = stepsPerSecond, ["images_per_s"] = stepsPerSecond * o.Batch * o.Accumulate,
                            ["skipped_steps"] = trainer.Guard.Skipped,
                        });
                        ticker.Update(step, string.Create(CultureInfo.InvariantCulture,
                            $"loss {lastLoss:F4}  lr {trainer.LearningRate:0.00e+00}  {stepsPerSecond:F2} steps/s  {stepsPerSecond * o.Batch * o.Accumulate:F1} img/s"));
                        rate.Restart();
                        rateFrom = step;
                    }
                    if ((o.EvalEvery > 0 && step % o.EvalEvery == 0) || step == totalSteps)
                    {
                        valLoss = val is null ? null : Validate(trainer, val, preprocess, o, parallel);
                        if (valLoss is { } v)
                        {
                            run?.Metrics.Append("val", new Dictionary<string, object?> { ["step"] = step, ["val_loss"] = v });
                            ticker.Note(string.Create(CultureInfo.InvariantCulture, $"pretrain: step {step}  validation loss {v:F4}"));
                        }
                        if (writer) checkpoint = trainer.SaveCheckpoint(valLoss, null, position);
                    }
                }
            });
        }
        if (loader.Dataset.SkipReport() is { Length: > 0 } skipped) log.Write(skipped);
        if (run is not null) DrawPlots(run);
        log.WriteLine($"pretrain: done, {trainer.Step} steps, last loss {lastLoss:F4}" + (valLoss is { } vl ? $", validation loss {vl:F4}" : "") +
                      $", {clock.Elapsed.TotalSeconds:F0} s; checkpoint {checkpoint}");
        return new PretrainResult(root, checkpoint, trainer.Step, lastLoss, valLoss, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Runs one trainer step; when the guard skipped it (the step that stops the run included), appends
    /// {"kind":"skipped","step":N,"loss":..,"grad_norm":..,"reason":..,"skipped_steps":total,"in_a_row":k} to
    /// metrics.jsonl (a non-finite number is written as null, so "reason" spells it out) and notes it on the
    /// console. Its step is the one attempted, so a resume truncating after its checkpoint drops it with the
    /// steps it replays.
    /// </summary>
    internal static float GuardedStep(Func<float> step, BadStepGuard guard, RunFolder? run, IProgressTicker ticker, string command)
    {
        float loss;
        try { loss = step(); }
        catch (TrainingDivergedException)
        {
            LogSkip(run, guard, ticker, command);
            throw;
        }
        if (guard.LastWasSkipped) LogSkip(run, guard, ticker, command);
        return loss;
    }

    static void LogSkip(RunFolder? run, BadStepGuard guard, IProgressTicker ticker, string command)
    {
        var skip = guard.Last ?? throw new InvalidOperationException("LogSkip: no step was skipped");
        run?.Metrics.Append("skipped", new Dictionary<string, object?>
        {
            ["step"] = skip.Step, ["loss"] = skip.Loss, ["grad_norm"] = skip.GradNorm, ["reason"] = skip.Reason,
            ["skipped_steps"] = guard.Skipped, ["in_a_row"] = guard.InARow,
        });
        ticker.Note($"{command}: step {skip.Step} skipped ({skip.Reason}); {guard.InARow} in a row of at most {guard.MaxInARow}, {guard.Skipped} in all");
    }

    /// <summary>The loader geometry for a model input of <paramref name="size"/> px: CLEFT's 256 -> 224 ratio.</summary>
    public static PreprocessOptions ImageSizes(int size, PreprocessOptions? steps = null) =>
        (steps ?? new PreprocessOptions()) with { LoadSize = (int)Math.Round(size * 256.0 / 224.0), CropSize = size };

    /// <summary>Batches from <paramref name="from"/> on, across epochs, each with the position after it.</summary>
    /// <summary>The next optimisation step's micro-batches from <see cref="Stream"/>; <paramref name="position"/> moves past them.</summary>
    internal static List<(float[], IReadOnlyList<string>)> NextMicroBatches(IEnumerator<(ImageBatch Batch, DataPosition Next)> batches,
        int accumulate, ref DataPosition position)
    {
        var micro = new List<(float[], IReadOnlyList<string>)>(accumulate);
        for (int k = 0; k < accumulate; k++)
        {
            batches.MoveNext();
            var (batch, next) = batches.Current;
            micro.Add((batch.Pixels, batch.Captions));
            position = next;
        }
        return micro;
    }

    internal static IEnumerable<(ImageBatch Batch, DataPosition Next)> Stream(DataLoader loader, DataPosition from)
    {
        for (int e = from.Epoch; ; e++)
        {
            int yielded = 0;
            foreach (var batch in loader.Epoch(e, e == from.Epoch ? from.Batch : 0))
            {
                yielded++;
                int b = batch.Batch + 1; // by index, not by count: batches whose images were all skipped are not yielded
                yield return (batch, b == loader.BatchesPerEpoch ? new DataPosition(e + 1, 0) : new DataPosition(e, b));
            }
            if (yielded == 0 && (e != from.Epoch || from.Batch == 0))
                throw new InvalidDataException($"{loader.Dataset.Manifest.Name}: epoch {e} yielded no batch (every image was skipped as unreadable)");
        }
    }

    /// <summary>Validation loss over full batches; with several ranks, sharded like training (batches rounded down to a multiple of the rank count).</summary>
    static float Validate(Stage1Trainer trainer, Manifest val, PreprocessOptions preprocess, PretrainOptions o, DataParallel? parallel)
    {
        int shards = parallel?.Size ?? 1;
        int batch = Math.Min(o.Batch, val.Count) / shards * shards;
        var loader = new DataLoader(new ImageDataset(val, preprocess, o.SkipBadImages),
            new LoaderOptions(batch, Shuffle: false, Augment: false, DropLast: val.Count >= batch, Workers: o.Workers,
                ShardIndex: parallel?.Rank ?? 0, ShardCount: shards));
        return trainer.Validate(loader.Epoch(0).Where(b => b.Count * shards > 1).Select(b => (b.Pixels, (IReadOnlyList<string>)b.Captions)));
    }

    /// <summary>What data parallel needs of the options, checked before anything is loaded or written.</summary>
    static void CheckShardable(PretrainOptions o, int ranks, int? valCount)
    {
        if (o.Batch % ranks != 0)
            throw new ArgumentException($"--batch {o.Batch} is the global batch and must split evenly over {ranks} ranks; use a multiple of {ranks}");
        if (o.SkipBadImages)
            throw new ArgumentException($"--skip-bad-images cannot be used with {ranks} ranks: a skipped image would leave the ranks' shards of a batch unequal");
        if (valCount is { } n && n < ranks)
            throw new ArgumentException($"{o.ValCsv}: {n} validation pairs, fewer than one per rank ({ranks})");
    }

    /// <summary>plots/training.png (loss and learning rate) and plots/val_loss.png from metrics.jsonl.</summary>
    public static void DrawPlots(RunFolder run)
    {
        var train = run.Metrics.Read("train").ToList();
        if (train.Count > 0)
            Plots.Training(Path.Combine(run.Plots, "training.png"), train.Select(r => (int)r["step"]!).ToList(),
                train.Select(r => (double)r["loss"]!).ToList(), train.Select(r => (double)r["lr"]!).ToList());
        var val = run.Metrics.Read("val").ToList();
        if (val.Count > 0)
            Plots.Metric(Path.Combine(run.Plots, "val_loss.png"), "validation loss", val.Select(r => (int)r["step"]!).ToList(),
                val.Select(r => (double)r["val_loss"]!).ToList());
    }
}

