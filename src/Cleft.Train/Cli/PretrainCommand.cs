using System.CommandLine;
using Cleft.Train.Training;

namespace Cleft.Train.Cli;

/// <summary>`cleft pretrain`: CLEFT stage 1 (contrastive pretraining) from CSV manifests into a run folder.</summary>
public static class PretrainCommand
{
    public static Command Create(TextWriter output)
    {
        var cmd = new Command("pretrain", "CLEFT stage 1: contrastive image-caption pretraining (frozen LLM + LoRA, trainable ViT) into a run folder");
        var o = new CommandOptions(cmd);
        var train = o.OptionalString("train", "training manifest CSV (images + captions)", required: true);
        var val = o.OptionalString("val", "validation manifest CSV (validation loss, best checkpoints)");
        var data = new DataOptions(o, labels: false);
        var model = new ModelOptions(o);
        var maxBad = o.Add("max-bad-steps", BadStepGuard.DefaultMaxBadSteps, "steps with a NaN/inf loss or gradient norm are skipped; this many in a row stop the run", CommandOptions.Positive);
        var device = new DeviceOptions(o);
        var dist = new DistOptions(o);
        var lr = o.Add("lr", 4e-5f, "peak learning rate (AdamW)", CommandOptions.Positive);
        var minLr = o.Add("min-lr", 0f, "learning rate at the end of the cosine", CommandOptions.NonNegative);
        var wd = o.Add("weight-decay", 0.1f, "AdamW weight decay (not on 1-D parameters)", CommandOptions.NonNegative);
        var warmup = o.Add("warmup", 4000, "linear warmup steps", CommandOptions.NonNegative);
        var steps = o.Add("steps", 40_000, "optimisation steps", CommandOptions.Positive);
        var epochs = o.Optional<double>("epochs", "train for this many epochs instead of --steps", CommandOptions.Positive);
        var batch = o.Add("batch", 72, "images per micro-batch (the contrastive negatives)", CommandOptions.Positive);
        var accumulate = o.Add("accumulate", 1, "micro-batches per optimisation step (gradient accumulation)", CommandOptions.Positive);
        var clip = o.Optional<float>("clip", "clip the global gradient norm to this value (off by default, as the paper)", CommandOptions.Positive);
        var keep = o.Add("keep-best", 2, "checkpoints kept by validation loss (plus the last)", CommandOptions.NonNegative);
        var logEvery = o.Add("log-every", 10, "steps between logged metrics and progress lines", CommandOptions.Positive);
        var evalEvery = o.Add("eval-every", 1000, "steps between validation + checkpoint (0: at the end only)", CommandOptions.NonNegative);
        var augment = new AugmentOptions(o);
        var skipBad = o.Flag("skip-bad-images", "skip unreadable images (reported at the end) instead of stopping");
        var workers = o.Add("workers", 2, "image decoding threads", CommandOptions.Positive);
        var outDir = o.OptionalString("out", "run folder (config.json, metrics.jsonl, checkpoints/, plots/)", required: true);
        var resume = o.Flag("resume", "continue the run in --out from its last checkpoint (same options; the frozen base must match)");

        cmd.SetAction(r =>
        {
            var options = new PretrainOptions
            {
                TrainCsv = r.GetValue(train)!, ValCsv = r.GetValue(val), Data = data.Source(r), Model = model.Spec(r),
                Stage1 = new Stage1Options
                {
                    LearningRate = r.GetValue(lr), MinLearningRate = r.GetValue(minLr), WeightDecay = r.GetValue(wd),
                    WarmupSteps = r.GetValue(warmup), TotalSteps = r.GetValue(steps), MaxGradNorm = r.GetValue(clip),
                    KeepBest = r.GetValue(keep), LogEvery = r.GetValue(logEvery), MaxBadSteps = r.GetValue(maxBad),
                },
                Epochs = r.GetValue(epochs), Batch = r.GetValue(batch), Accumulate = r.GetValue(accumulate),
                Augmentation = augment.Steps(r), SkipBadImages = r.GetValue(skipBad), Workers = r.GetValue(workers),
                EvalEvery = r.GetValue(evalEvery), Out = r.GetValue(outDir)!, Resume = r.GetValue(resume),
            };
            dist.Run(r, device, (dev, comm) => PretrainRun.Run(dev, options, o.Resolved(r), output, comm));
            return 0;
        });
        return cmd;
    }
}
