using Cleft.Autograd;
using Cleft.Autograd.Distributed;
using Cleft.Autograd.IO;
using Cleft.Autograd.Optim;
using Cleft.Models.Recipe;

namespace Cleft.Train.Training;

/// <summary>Stage 2 hyperparameters: the released code's defaults (SGD momentum 0.9, lr 1e-4, wd 1e-3, 100 warmup, 8,000 steps), N = 30.</summary>
public sealed record Stage2Options
{
    public float LearningRate { get; init; } = 1e-4f;
    public float Momentum { get; init; } = 0.9f;
    public float WeightDecay { get; init; } = 1e-3f;
    public int WarmupSteps { get; init; } = 100;
    public int TotalSteps { get; init; } = 8000;
    public float MinLearningRate { get; init; }
    public int LogEvery { get; init; } = 1;
    /// <summary>Where checkpoints go (null: none): top-k by validation loss + last, as stage 1.</summary>
    public string? CheckpointDirectory { get; init; }
    public int KeepBest { get; init; } = 2;
    /// <summary>Non-finite steps in a row (each skipped, see <see cref="BadStepGuard"/>) that stop the run.</summary>
    public int MaxBadSteps { get; init; } = BadStepGuard.DefaultMaxBadSteps;

    public void Validate()
    {
        if (!(LearningRate > 0) || !(MinLearningRate >= 0) || WarmupSteps < 0 || TotalSteps <= 0 || !(WeightDecay >= 0)
            || Momentum is < 0 or >= 1 || LogEvery <= 0 || KeepBest < 0 || MaxBadSteps < 1)
            throw new ArgumentException($"Stage2Options: invalid settings {this}");
    }
}

/// <summary>
/// Optimises a <see cref="PromptLearner"/>'s context with SGD + warmup/cosine on labelled images; the encoders
/// are frozen and kept in eval mode (no dropout), so a step's only state change is the context. Checkpoints
/// hold the context (prompt.safetensors), the optimizer's momentum and <see cref="TrainerState"/>, so a resumed
/// run continues with the same losses, as in stage 1. A step with a non-finite loss or gradient norm is skipped
/// and counted (<see cref="BadStepGuard"/>), as in stage 1.
/// </summary>
public sealed class Stage2Trainer : CheckpointedTrainer
{
    public const string ContextFile = "prompt.safetensors";

    // The whole CLEFT model is frozen while the learner lives (only the released code's variant trains the image
    // tower), so the fingerprint covers the stage-1 weights the context is learned on.
    public Stage2Trainer(PromptLearner prompts, Stage2Options options, DataParallel? parallel = null)
        : base(CreateOptimizer(prompts, options), new WarmupCosine(options.LearningRate, options.WarmupSteps, options.TotalSteps, options.MinLearningRate),
            prompts.Model, prompts.Model.FrozenFingerprint, options.CheckpointDirectory, options.KeepBest, options.MaxBadSteps)
    {
        Prompts = prompts;
        Options = options;
        prompts.Model.Eval();
        Parallel = parallel is { Size: > 1 } ? parallel : null;
        Parallel?.BroadcastParameters(prompts.TrainedParameters.Select(x => x.Param));
    }

    static Sgd CreateOptimizer(PromptLearner prompts, Stage2Options options)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return new Sgd(prompts.TrainedParameters.Select(x => x.Param).ToArray(), options.LearningRate, options.Momentum, options.WeightDecay);
    }

    public PromptLearner Prompts { get; }
    public Stage2Options Options { get; }
    /// <summary>
    /// The ranks this trainer steps with (null: one process). The loss is a mean over images, so with equal shards
    /// the mean of the ranks' losses and gradients is the global batch's; each rank passes its shard.
    /// </summary>
    public DataParallel? Parallel { get; }

    /// <summary>
    /// One step on pixels [B, 3, S, S] and labels [B]; returns the classification loss. A non-finite loss or
    /// gradient norm skips the step; <see cref="Stage2Options.MaxBadSteps"/> in a row throw <see cref="TrainingDivergedException"/>.
    /// </summary>
    public float TrainStep(float[] pixels, int[] labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Any(l => l < 0 || l >= Prompts.ClassCount))
            throw new ArgumentException($"Stage2Trainer: labels must be in [0, {Prompts.ClassCount})");
        float lr = BeginStep();
        float loss, norm = float.NaN;
        using (var scope = new TensorScope())
        using (var y = IntTensor.FromArray(Prompts.Model.Device, labels, labels.Length))
        {
            Optimizer.ZeroGrad();
            var l = Prompts.Loss(pixels, y);
            loss = l.Item();
            // The global mean, so that every rank agrees on a bad step (a NaN on one rank reaches all).
            if (Parallel is not null) loss = Parallel.SumOverRanks(Prompts.Model.Device, loss)[0] / Parallel.Size;
            if (float.IsFinite(loss))
            {
                l.Backward();
                Parallel?.AverageGradients(Optimizer.Groups.SelectMany(g => g.Parameters), $"step {Step + 1}: gradient all-reduce");
                norm = Optimizer.StepIfFinite();
            }
        }
        if (!EndStep(loss, norm, lr)) return loss;
        if (Progress is { } report && Step % Options.LogEvery == 0)
        {
            report(new TrainingProgress(Step, loss, lr, Options.LogEvery / Math.Max(Clock.Elapsed.TotalSeconds, 1e-9), Prompts.Model.LogitScale.Read()));
            Clock.Restart();
        }
        return loss;
    }

    private protected override void SaveWeights(string directory) => SaveContext(directory, Prompts);
    private protected override void LoadWeights(string directory) => LoadContext(directory, Prompts);

    /// <summary>Writes what stage 2 trained (the context "ctx", and "image.*" for the released code's variant).</summary>
    public static void SaveContext(string directory, PromptLearner prompts) =>
        SafetensorsWriter.Write(Path.Combine(directory, ContextFile),
            prompts.TrainedParameters.Select(x => new SafetensorsWriter.Item(x.Name, x.Param.Shape, x.Param.ToArray())));

    /// <summary>Loads what <see cref="SaveContext"/> wrote; names and shapes must match the learner's exactly.</summary>
    public static void LoadContext(string directory, PromptLearner prompts)
    {
        string path = Path.Combine(directory, ContextFile);
        using var file = SafetensorsFile.Open(path);
        var expected = prompts.TrainedParameters.ToDictionary(x => x.Name, x => x.Param);
        var missing = expected.Keys.Where(k => !file.Entries.ContainsKey(k)).ToList();
        var extra = file.Entries.Keys.Where(k => !expected.ContainsKey(k)).ToList();
        if (missing.Count > 0 || extra.Count > 0)
            throw new InvalidDataException($"{path}: missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", extra)}] (another stage-2 variant?)");
        foreach (var (name, p) in expected)
        {
            if (!file.Entries[name].Shape.SequenceEqual(p.Shape))
                throw new InvalidDataException($"{path}: '{name}' is [{string.Join(",", file.Entries[name].Shape)}], the prompt learner's is {p.ShapeString}");
            p.Load(file.ReadFloats(name));
        }
    }

}
