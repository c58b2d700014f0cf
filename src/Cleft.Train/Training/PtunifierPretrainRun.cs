using System.Diagnostics;
using System.Globalization;
using Cleft.Autograd.IO;
using Cleft.Kernels;
using Cleft.Models.PTUnifier;
using Cleft.Train.Cli;
using Cleft.Train.Data;
using Cleft.Train.Runs;

namespace Cleft.Train.Training;

/// <summary>
/// What `cleft ptunifier pretrain` runs: CLEFT's pretrain settings (<see cref="Run"/>: manifests, data, schedule,
/// batch, augmentation, run folder, resume — its CLEFT model spec is not read) and the PTUnifier model spec.
/// </summary>
public sealed record PtunifierPretrainOptions
{
    public required PretrainOptions Run { get; init; }
    public PtunifierSpec Model { get; init; } = new();
}

/// <summary>
/// PTUnifier pretraining from CSV manifests into a run folder, with the pieces `cleft pretrain` uses: manifests checked
/// up front, the seeded prefetching loader and its resumable stream, the step guard's skip records, validation and
/// checkpoints every EvalEvery steps (kept by validation loss), metrics.jsonl with each objective's loss, the plots,
/// and exact resume from the last checkpoint at its data position.
/// </summary>
public static class PtunifierPretrainRun
{
    public static PretrainResult Run(IBackend device, PtunifierPretrainOptions options, IReadOnlyDictionary<string, object?> resolvedOptions, TextWriter log)
    {
        var o = options.Run;
        var clock = Stopwatch.StartNew();
        var train = o.Data.Load(o.TrainCsv, needCaptions: true, needLabels: false);
        var val = o.ValCsv is null ? null : o.Data.Load(o.ValCsv, needCaptions: true, needLabels: false);
        if (val is { Count: < 2 })
            throw new ArgumentException($"{o.ValCsv}: a validation loss needs at least 2 pairs (ITC and ITM negatives), got {val.Count}");
        if (o.Batch < 2) throw new ArgumentException($"--batch {o.Batch}: ITC and ITM need at least 2 pairs per batch");
        if (train.Count < o.Batch)
            throw new ArgumentException($"{o.TrainCsv}: {train.Count} rows, fewer than one batch of {o.Batch}; lower --batch");

        var run = new RunFolder(o.Out);
        var store = run.Checkpoints;
        if (!o.Resume && File.Exists(Path.Combine(store, CheckpointStore.IndexFile)))
            throw new ArgumentException($"{run.Root} already holds a run with checkpoints: pass --resume to continue it, or choose another --out");

        var spec = options.Model;
        var preprocess = PretrainRun.ImageSizes(spec.ImageSize, o.Augmentation);
        var loader = new DataLoader(new ImageDataset(train, preprocess, o.SkipBadImages),
            new LoaderOptions(o.Batch, Shuffle: true, Seed: spec.Seed, Augment: o.Augmentation is not null, DropLast: true, Workers: o.Workers));
        int totalSteps = o.Epochs is { } epochs ? Math.Max(1, (int)Math.Ceiling(epochs * loader.BatchesPerEpoch / o.Accumulate)) : o.Stage1.TotalSteps;
        var stage1 = o.Stage1 with { TotalSteps = totalSteps, WarmupSteps = Math.Min(o.Stage1.WarmupSteps, totalSteps - 1), CheckpointDirectory = store };

        using var model = PtunifierModel.Build(device, spec);
        using var trainer = new PtunifierTrainer(model, stage1);
        var position = new DataPosition(0, 0);
        if (o.Resume && trainer.ResumeLatest() is { } resumed)
        {
            position = resumed.Data ?? throw new InvalidDataException($"{resumed.Directory}: the checkpoint has no data position");
            run.Metrics.TruncateAfter(trainer.Step);
            log.WriteLine($"ptunifier pretrain: resumed from {resumed.Directory} at step {trainer.Step} (epoch {position.Epoch}, batch {position.Batch})");
        }
        else if (o.Resume) log.WriteLine($"ptunifier pretrain: --resume given but {store} has no checkpoint yet; starting fresh");
        run.WriteConfig("ptunifier pretrain", resolvedOptions, $"{device.Name} ({device.Description})");
        DurableFile.WriteAllText(run.PathOf(PtunifierSpec.FileName), spec.ToJson());
        log.WriteLine($"ptunifier pretrain: {train.Count} training pairs ({loader.BatchesPerEpoch} batches of {o.Batch} per epoch)" +
            (val is null ? "" : $", {val.Count} validation pairs") + $"; {model.ParameterCount(trainableOnly: true):N0} trainable parameters; " +
            $"objectives mlm {spec.Weights.Mlm} itm {spec.Weights.Itm} itc {spec.Weights.Itc}; {totalSteps} steps on {device.Name}; run folder {run.Root}");

        var last = new PtunifierStepLosses(float.NaN, float.NaN, float.NaN, float.NaN);
        PtunifierStepLosses? valLosses = null;
        string checkpoint = trainer.Checkpoints!.Last is { } l ? trainer.Checkpoints.PathOf(l) : "";
        var rate = Stopwatch.StartNew();
        int rateFrom = trainer.Step;
        using (var batches = PretrainRun.Stream(loader, position).GetEnumerator())
        {
            ProgressDisplay.Run(log, "ptunifier pretrain", totalSteps, trainer.Step, stage1.LogEvery, ticker =>
            {
                while (trainer.Step < totalSteps)
                {
                    var micro = PretrainRun.NextMicroBatches(batches, o.Accumulate, ref position);
                    PtunifierStepLosses losses = default;
                    PretrainRun.GuardedStep(() => (losses = trainer.TrainStep(micro)).Total, trainer.Guard, run, ticker, "ptunifier pretrain");
                    if (trainer.LastStepSkipped) continue;
                    last = losses;
                    int step = trainer.Step;
                    if (step % stage1.LogEvery == 0 || step == totalSteps)
                    {
                        double stepsPerSecond = (step - rateFrom) / Math.Max(rate.Elapsed.TotalSeconds, 1e-9);
                        run.Metrics.Append("train", new Dictionary<string, object?>
                        {
                            ["step"] = step, ["loss"] = last.Total, ["itc"] = last.Itc, ["itm"] = last.Itm, ["mlm"] = last.Mlm,
                            ["lr"] = trainer.LearningRate, ["epoch"] = position.Epoch, ["steps_per_s"] = stepsPerSecond,
                            ["images_per_s"] = stepsPerSecond * o.Batch * o.Accumulate, ["skipped_steps"] = trainer.Guard.Skipped,
                        });
                        ticker.Update(step, string.Create(CultureInfo.InvariantCulture,
                            $"loss {last.Total:F4} (itc {last.Itc:F3} itm {last.Itm:F3} mlm {last.Mlm:F3})  lr {trainer.LearningRate:0.00e+00}  {stepsPerSecond:F2} steps/s"));
                        rate.Restart();
                        rateFrom = step;
                    }
                    if ((o.EvalEvery > 0 && step % o.EvalEvery == 0) || step == totalSteps)
                    {
                        valLosses = val is null ? null : Validate(trainer, val, preprocess, o);
                        if (valLosses is { } v)
                        {
                            run.Metrics.Append("val", new Dictionary<string, object?>
                            {
                                ["step"] = step, ["val_loss"] = v.Total, ["val_itc"] = v.Itc, ["val_itm"] = v.Itm, ["val_mlm"] = v.Mlm,
                            });
                            ticker.Note(string.Create(CultureInfo.InvariantCulture, $"ptunifier pretrain: step {step}  validation loss {v.Total:F4}"));
                        }
                        checkpoint = trainer.SaveCheckpoint(valLosses?.Total, null, position);
                    }
                }
            });
        }
        if (loader.Dataset.SkipReport() is { Length: > 0 } skipped) log.Write(skipped);
        PretrainRun.DrawPlots(run);
        log.WriteLine($"ptunifier pretrain: done, {trainer.Step} steps, last loss {last.Total:F4}" +
            (valLosses is { } vl ? $", validation loss {vl.Total:F4}" : "") + $", {clock.Elapsed.TotalSeconds:F0} s; checkpoint {checkpoint}");
        return new PretrainResult(run.Root, checkpoint, trainer.Step, last.Total, valLosses?.Total, clock.Elapsed.TotalSeconds);
    }

    static PtunifierStepLosses Validate(PtunifierTrainer trainer, Manifest val, PreprocessOptions preprocess, PretrainOptions o)
    {
        int batch = Math.Min(o.Batch, val.Count);
        var loader = new DataLoader(new ImageDataset(val, preprocess, o.SkipBadImages),
            new LoaderOptions(batch, Shuffle: false, Augment: false, DropLast: val.Count >= batch, Workers: o.Workers));
        return trainer.Validate(loader.Epoch(0).Where(b => b.Count > 1).Select(b => (b.Pixels, (IReadOnlyList<string>)b.Captions)));
    }
}
