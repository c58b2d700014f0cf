using System.CommandLine;
using Cleft.Models.Recipe;
using Cleft.Train.Training;

namespace Cleft.Train.Cli;

/// <summary>`cleft prompt`: CLEFT stage 2 (prompt context learning) on a stage-1 run.</summary>
public static class PromptCommand
{
    public static Command Create(TextWriter output)
    {
        var cmd = new Command("prompt", "CLEFT stage 2 (the paper's version): learn N shared context tokens for the class prompts with both encoders frozen");
        var o = new CommandOptions(cmd);
        var run = o.OptionalString("run", "the stage-1 run folder (its best checkpoint) or a checkpoint folder", required: true);
        var train = o.OptionalString("train", "labelled training manifest CSV", required: true);
        var val = o.OptionalString("val", "labelled validation manifest CSV (loss and accuracy, best checkpoints)");
        var data = new DataOptions(o, labels: true);
        var context = o.Add("context", 30, "learnable context tokens N (the released code: 30)", CommandOptions.Positive);
        var init = o.OptionalString("init", "phrase whose token embeddings start the context (default: the --template's text before {})");
        var template = o.Add("template", EvalCommands.DefaultTemplate, $"the hand-written prompt the context replaces ({{}} = class name; CheXpert's: \"{ZeroShotClassifier.ChexpertTemplate}\"); its text before {{}} is the default --init",
            v => v.Contains(ZeroShotClassifier.ClassSlot, StringComparison.Ordinal) ? null : "must contain {}");
        var lr = o.Add("lr", 1e-4f, "SGD learning rate (the released code: 1e-4)", CommandOptions.Positive);
        var momentum = o.Add("momentum", 0.9f, "SGD momentum", CommandOptions.Probability);
        var wd = o.Add("weight-decay", 1e-3f, "SGD weight decay", CommandOptions.NonNegative);
        var warmup = o.Add("warmup", 100, "linear warmup steps", CommandOptions.NonNegative);
        var steps = o.Add("steps", 8000, "optimisation steps (the released code: 8,000)", CommandOptions.Positive);
        var batch = o.Add("batch", 32, "images per step", CommandOptions.Positive);
        var logEvery = o.Add("log-every", 10, "steps between logged metrics", CommandOptions.Positive);
        var evalEvery = o.Add("eval-every", 500, "steps between validation + checkpoint (0: at the end only)", CommandOptions.NonNegative);
        var augment = new AugmentOptions(o);
        var workers = o.Add("workers", 2, "image decoding threads", CommandOptions.Positive);
        var seed = o.Add("seed", 42, "shuffling and augmentation seed", CommandOptions.NonNegative);
        var variant = o.Add("variant", "paper", "paper: frozen encoders, cross-entropy over the class prompts; code: the released script's run (image tower trained too, InfoNCE against each image's class prompt)",
            v => v is "paper" or "code" ? null : "paper or code");
        var maxBad = o.Add("max-bad-steps", BadStepGuard.DefaultMaxBadSteps, "steps with a NaN/inf loss or gradient norm are skipped; this many in a row stop the run", CommandOptions.Positive);
        var device = new DeviceOptions(o);
        var dist = new DistOptions(o);
        var outDir = o.OptionalString("out", "run folder for the prompts (config.json, metrics.jsonl, checkpoints/, plots/)", required: true);
        var resume = o.Flag("resume", "continue the prompt run in --out from its last checkpoint");
        cmd.SetAction(r =>
        {
            var options = new PromptOptions
            {
                Stage1 = r.GetValue(run)!, TrainCsv = r.GetValue(train)!, ValCsv = r.GetValue(val), Data = data.Source(r),
                Context = r.GetValue(context), Init = r.GetValue(init) ?? ZeroShotClassifier.TemplatePrefix(r.GetValue(template)!),
                Stage2 = new Stage2Options
                {
                    LearningRate = r.GetValue(lr), Momentum = r.GetValue(momentum), WeightDecay = r.GetValue(wd),
                    WarmupSteps = r.GetValue(warmup), TotalSteps = r.GetValue(steps), LogEvery = r.GetValue(logEvery), MaxBadSteps = r.GetValue(maxBad),
                },
                Batch = r.GetValue(batch), Augmentation = augment.Steps(r), Workers = r.GetValue(workers), EvalEvery = r.GetValue(evalEvery),
                Out = r.GetValue(outDir)!, Resume = r.GetValue(resume), Seed = (ulong)r.GetValue(seed),
                Variant = r.GetValue(variant) == "code" ? PromptLearner.Variant.ReleasedCode : PromptLearner.Variant.Paper,
            };
            if (options.Init.Length == 0) throw new CliUsageException("the template has no text before {}: give the context's starting phrase with --init");
            dist.Run(r, device, (dev, comm) => PromptRun.Run(dev, options, o.Resolved(r), output, comm));
            return 0;
        });
        return cmd;
    }
}
