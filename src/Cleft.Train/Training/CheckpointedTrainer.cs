using System.Diagnostics;
using Cleft.Autograd;
using Cleft.Autograd.Optim;

namespace Cleft.Train.Training;

/// <summary>
/// What both stages share: the optimizer and its warmup + cosine schedule, the step count, the NaN/Inf guard
/// (<see cref="BadStepGuard"/>), the frozen-weights fingerprint and the checkpoint store. A checkpoint is the
/// stage's own weights (<see cref="SaveWeights"/>) plus <see cref="TrainerState"/>; <see cref="Resume"/> restores
/// both, so a resumed run continues bit for bit.
/// </summary>
public abstract class CheckpointedTrainer : IDisposable
{
    readonly WarmupCosine _schedule;
    readonly Lazy<string> _fingerprint;
    readonly Module _stateModule;
    float _previousLr;

    /// <param name="stateModule">The module whose random streams a checkpoint keeps.</param>
    /// <param name="fingerprint">Computed once, on first use: the frozen weights' fingerprint.</param>
    private protected CheckpointedTrainer(Optimizer optimizer, WarmupCosine schedule, Module stateModule, Func<string> fingerprint,
        string? checkpointDirectory, int keepBest, int maxBadSteps)
    {
        Optimizer = optimizer;
        _schedule = schedule;
        _stateModule = stateModule;
        _fingerprint = new(fingerprint);
        Checkpoints = checkpointDirectory is { } dir ? new CheckpointStore(dir, keepBest) : null;
        Guard = new BadStepGuard(maxBadSteps);
    }

    private protected Optimizer Optimizer { get; }
    private protected Stopwatch Clock { get; } = new();
    public CheckpointStore? Checkpoints { get; }
    /// <summary>Steps completed so far (the next step's schedule index).</summary>
    public int Step { get; private set; }
    public float LearningRate => Optimizer.LearningRate;
    public Action<TrainingProgress>? Progress { get; set; }
    /// <summary>Fingerprint of the frozen weights (computed once).</summary>
    public string Fingerprint => _fingerprint.Value;
    /// <summary>The NaN/Inf guard: skipped-step counts and the last skip.</summary>
    public BadStepGuard Guard { get; }
    /// <summary>Whether the last step was skipped (its batches consumed, nothing updated, <see cref="Step"/> unchanged).</summary>
    public bool LastStepSkipped => Guard.LastWasSkipped;

    /// <summary>Starts a step: the schedule's learning rate for it (a skipped step puts the previous one back).</summary>
    private protected float BeginStep()
    {
        if (!Clock.IsRunning) Clock.Start();
        _previousLr = Optimizer.LearningRate;
        return _schedule.Apply(Optimizer, Step);
    }

    /// <summary>
    /// Ends a step whose update the optimizer made only if <paramref name="norm"/> was finite: a non-finite loss or
    /// norm counts as skipped (the guard throws after too many in a row); returns whether the step counted.
    /// </summary>
    private protected bool EndStep(float loss, float norm, float lr)
    {
        if (!float.IsFinite(loss) || !float.IsFinite(norm))
        {
            Optimizer.LearningRate = _previousLr;
            Guard.Skip(new SkippedStep(Step + 1, loss, norm), lr, Checkpoints?.Last is { } c ? Checkpoints.PathOf(c) : null);
            return false;
        }
        Guard.Taken();
        Step++;
        return true;
    }

    /// <summary>Writes the stage's trained weights into a checkpoint folder.</summary>
    private protected abstract void SaveWeights(string directory);
    /// <summary>Loads what <see cref="SaveWeights"/> wrote.</summary>
    private protected abstract void LoadWeights(string directory);

    /// <summary>Saves the current state into the store (top-k by <paramref name="valLoss"/> + last); returns its directory.</summary>
    public string SaveCheckpoint(float? valLoss = null, IReadOnlyDictionary<string, double>? metrics = null, DataPosition? data = null)
    {
        var store = Checkpoints ?? throw new InvalidOperationException($"{GetType().Name}: no CheckpointDirectory in the options");
        return store.Save(Step, Optimizer.LearningRate, valLoss, metrics, dir =>
        {
            SaveWeights(dir);
            TrainerState.Write(dir, Optimizer, _stateModule, Fingerprint, data, Guard);
        });
    }

    /// <summary>
    /// Loads a checkpoint folder written by <see cref="SaveCheckpoint"/>: weights, optimizer state, random streams,
    /// guard counts and step (refusing other frozen weights); returns the data position saved with it (null if none).
    /// </summary>
    public DataPosition? Resume(string checkpointDirectory)
    {
        var info = CheckpointStore.ReadInfo(checkpointDirectory);
        var saved = TrainerState.Read(checkpointDirectory, Optimizer, _stateModule, Fingerprint, info.Step, Guard);
        LoadWeights(checkpointDirectory);
        Step = info.Step;
        Optimizer.LearningRate = info.LearningRate;
        return saved.Data;
    }

    /// <summary>Resumes from the store's newest checkpoint; returns its folder and data position, or null when there is none (fresh start).</summary>
    public (string Directory, DataPosition? Data)? ResumeLatest()
    {
        if (Checkpoints?.Last is not { } last) return null;
        string dir = Checkpoints.PathOf(last);
        return (dir, Resume(dir));
    }

    public void Dispose()
    {
        Optimizer.Dispose();
        GC.SuppressFinalize(this);
    }
}
