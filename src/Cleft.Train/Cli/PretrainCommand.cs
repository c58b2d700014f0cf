using System.CommandLine;
using Cleft.Models.Recipe;
using Cleft.Train.Training;

namespace Cleft.Train.Cli;

/// <summary>`cleft pretrain`: CLEFT stage 1 (contrastive pretraining) from CSV manifests into a run folder.</summary>
public static class PretrainCommand
{
    public static Command Create(TextWriter output)
    {
        var cmd = new Command("pretrain", "CLEFT stage 1: contrastive image-caption pretraining (frozen LLM + LoRA, trainable ViT) into a run folder");
        var o = new CommandOptions(cmd);
        var settings = new PretrainSettings<ModelOptions>(o, beforeDevice: () => new ModelOptions(o));
        var dist = new DistOptions(o);
        cmd.SetAction(r =>
        {
            var options = settings.Options(r, settings.Model.Spec(r));
            dist.Run(r, settings.Device, (dev, comm) => PretrainRun.Run(dev, options, o.Resolved(r), output, comm));
            return 0;
        });
        return cmd;
    }
}

/// <summary>
/// The options every pretraining command shares (`cleft pretrain`, `cleft ptunifier pretrain`): manifests, data, the
/// schedule, batch and accumulation, augmentation, checkpoints and the run folder. The model's own options are declared
/// by <c>beforeDevice</c>, between the data and the device options, so --help lists them in the same place for both.
/// </summary>
public sealed class PretrainSettings<TModel>
{
    readonly Option<string?> _train, _val, _out;
    readonly DataOptions _data;
    readonly Option<int> _maxBad, _warmup, _steps, _batch, _accumulate, _keep, _logEvery, _evalEvery, _workers;
    readonly Option<float> _lr, _minLr, _wd;
    readonly Option<double?> _epochs;
    readonly Option<float?> _clip;
    readonly AugmentOptions _augment;
    readonly Option<bool> _skipBad, _resume;

    public PretrainSettings(CommandOptions o, Func<TModel> beforeDevice)
    {
        _train = o.OptionalString("train", "training manifest CSV (images + captions)", required: true);
        _val = o.OptionalString("val", "validation manifest CSV (validation loss, best checkpoints)");
        _data = new DataOptions(o, labels: false);
        Model = beforeDevice();
        _maxBad = o.Add("max-bad-steps", BadStepGuard.DefaultMaxBadSteps, "steps with a NaN/inf loss or gradient norm are skipped; this many in a row stop the run", CommandOptions.Positive);
        Device = new DeviceOptions(o);
        _lr = o.Add("lr", 4e-5f, "peak learning rate (AdamW)", CommandOptions.Positive);
        _minLr = o.Add("min-lr", 0f, "learning rate at the end of the cosine", CommandOptions.NonNegative);
        _wd = o.Add("weight-decay", 0.1f, "AdamW weight decay (not on 1-D parameters)", CommandOptions.NonNegative);
        _warmup = o.Add("warmup", 4000, "linear warmup steps", CommandOptions.NonNegative);
        _steps = o.Add("steps", 40_000, "optimisation steps", CommandOptions.Positive);
        _epochs = o.Optional<double>("epochs", "train for this many epochs instead of --steps", CommandOptions.Positive);
        _batch = o.Add("batch", 72, "images per micro-batch (the contrastive negatives)", CommandOptions.Positive);
        _accumulate = o.Add("accumulate", 1, "micro-batches per optimisation step (gradient accumulation)", CommandOptions.Positive);
        _clip = o.Optional<float>("clip", "clip the global gradient norm to this value (off by default, as the paper)", CommandOptions.Positive);
        _keep = o.Add("keep-best", 2, "checkpoints kept by validation loss (plus the last)", CommandOptions.NonNegative);
        _logEvery = o.Add("log-every", 10, "steps between logged metrics and progress lines", CommandOptions.Positive);
        _evalEvery = o.Add("eval-every", 1000, "steps between validation + checkpoint (0: at the end only)", CommandOptions.NonNegative);
        _augment = new AugmentOptions(o);
        _skipBad = o.Flag("skip-bad-images", "skip unreadable images (reported at the end) instead of stopping");
        _workers = o.Add("workers", 2, "image decoding threads", CommandOptions.Positive);
        _out = o.OptionalString("out", "run folder (config.json, metrics.jsonl, checkpoints/, plots/)", required: true);
        _resume = o.Flag("resume", "continue the run in --out from its last checkpoint (same options; the frozen base must match)");
    }

    /// <summary>What <c>beforeDevice</c> declared (the command's model options).</summary>
    public TModel Model { get; }
    public DeviceOptions Device { get; }

    public PretrainOptions Options(ParseResult r, CleftModelSpec model) => new()
    {
        TrainCsv = r.GetValue(_train)!, ValCsv = r.GetValue(_val), Data = _data.Source(r), Model = model,
        Stage1 = new Stage1Options
        {
            LearningRate = r.GetValue(_lr), MinLearningRate = r.GetValue(_minLr), WeightDecay = r.GetValue(_wd),
            WarmupSteps = r.GetValue(_warmup), TotalSteps = r.GetValue(_steps), MaxGradNorm = r.GetValue(_clip),
            KeepBest = r.GetValue(_keep), LogEvery = r.GetValue(_logEvery), MaxBadSteps = r.GetValue(_maxBad),
        },
        Epochs = r.GetValue(_epochs), Batch = r.GetValue(_batch), Accumulate = r.GetValue(_accumulate),
        Augmentation = _augment.Steps(r), SkipBadImages = r.GetValue(_skipBad), Workers = r.GetValue(_workers),
        EvalEvery = r.GetValue(_evalEvery), Out = r.GetValue(_out)!, Resume = r.GetValue(_resume),
    };
}
