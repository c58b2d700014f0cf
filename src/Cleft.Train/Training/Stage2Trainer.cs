using System.Diagnostics;
using Cleft.Autograd;
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
public sealed class Stage2Trainer : IDisposable
{
    readonly Sgd _optimizer;
    readonly WarmupCosine _schedule;
    readonly Stopwatch _clock = new();
    readonly Lazy<string> _fingerprint;
    public const string ContextFile = "prompt.safetensors";

    public Stage2Trainer(PromptLearner prompts, Stage2Options options)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Prompts = prompts;
        Options = options;
        _schedule = new WarmupCosine(options.LearningRate, options.WarmupSteps, options.TotalSteps, options.MinLearningRate);
        _optimizer = new Sgd(prompts.TrainedParameters.Select(x => x.Param).ToArray(), options.LearningRate, options.Momentum, options.WeightDecay);
        prompts.Model.Eval();
        Checkpoints = options.CheckpointDirectory is { } dir ? new CheckpointStore(dir, options.KeepBest) : null;
        // The whole CLEFT model is frozen here, so its fingerprint covers the stage-1 weights the context was learned on.
        _fingerprint = new(prompts.Model.FrozenFingerprint);
        Guard = new BadStepGuard(options.MaxBadSteps);
    }

    public CheckpointStore? Checkpoints { get; }
    public string Fingerprint => _fingerprint.Value;
    public float LearningRate => _optimizer.LearningRate;

    public PromptLearner Prompts { get; }
    public Stage2Options Options { get; }
    public int Step { get; private set; }
    public Action<TrainingProgress>? Progress { get; set; }
    /// <summary>The NaN/Inf guard: skipped-step counts and the last skip.</summary>
    public BadStepGuard Guard { get; }
    /// <summary>Whether the last <see cref="TrainStep"/> was skipped (batch consumed, nothing updated, <see cref="Step"/> unchanged).</summary>
    public bool LastStepSkipped => Guard.LastWasSkipped;

    /// <summary>
    /// One step on pixels [B, 3, S, S] and labels [B]; returns the classification loss. A non-finite loss or
    /// gradient norm skips the step; <see cref="Stage2Options.MaxBadSteps"/> in a row throw <see cref="TrainingDivergedException"/>.
    /// </summary>
    public float TrainStep(float[] pixels, int[] labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Any(l => l < 0 || l >= Prompts.ClassCount))
            throw new ArgumentException($"Stage2Trainer: labels must be in [0, {Prompts.ClassCount})");
        if (!_clock.IsRunning) _clock.Start();
        float previousLr = _optimizer.LearningRate; // put back by a skip, which changes nothing
        float lr = _schedule.Apply(_optimizer, Step);
        float loss, norm = float.NaN;
        using (var scope = new TensorScope())
        using (var y = IntTensor.FromArray(Prompts.Model.Device, labels, labels.Length))
        {
            _optimizer.ZeroGrad();
            var l = Prompts.Loss(pixels, y);
            loss = l.Item();
            if (float.IsFinite(loss))
            {
                l.Backward();
                norm = _optimizer.StepIfFinite();
            }
        }
        if (!float.IsFinite(loss) || !float.IsFinite(norm))
        {
            _optimizer.LearningRate = previousLr;
            Guard.Skip(new SkippedStep(Step + 1, loss, norm), lr, Checkpoints?.Last is { } c ? Checkpoints.PathOf(c) : null);
            return loss;
        }
        Guard.Taken();
        Step++;
        if (Progress is { } report && Step % Options.LogEvery == 0)
        {
            report(new TrainingProgress(Step, loss, lr, Options.LogEvery / Math.Max(_clock.Elapsed.TotalSeconds, 1e-9), Prompts.Model.LogitScale.Read()));
            _clock.Restart();
        }
        return loss;
    }

    /// <summary>Saves the context and the optimizer/trainer state (top-k by <paramref name="valLoss"/> + last); returns the directory.</summary>
    public string SaveCheckpoint(float? valLoss = null, IReadOnlyDictionary<string, double>? metrics = null, DataPosition? data = null)
    {
        var store = Checkpoints ?? throw new InvalidOperationException("Stage2Trainer: no CheckpointDirectory in the options");
        return store.Save(Step, _optimizer.LearningRate, valLoss, metrics, dir =>
        {
            SaveContext(dir, Prompts);
            TrainerState.Write(dir, _optimizer, Prompts.Model, Fingerprint, data, Guard);
        });
    }

    /// <summary>Loads a checkpoint written by <see cref="SaveCheckpoint"/>; returns its data position.</summary>
    public DataPosition? Resume(string checkpointDirectory)
    {
        var info = CheckpointStore.ReadInfo(checkpointDirectory);
        var saved = TrainerState.Read(checkpointDirectory, _optimizer, Prompts.Model, Fingerprint, info.Step, Guard);
        LoadContext(checkpointDirectory, Prompts);
        Step = info.Step;
        _optimizer.LearningRate = info.LearningRate;
        return saved.Data;
    }

    public (string Directory, DataPosition? Data)? ResumeLatest()
    {
        if (Checkpoints?.Last is not { } last) return null;
        string dir = Checkpoints.PathOf(last);
        return (dir, Resume(dir));
    }

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

    public void Dispose() => _optimizer.Dispose();
}
