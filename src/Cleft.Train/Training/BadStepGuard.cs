using System.Globalization;

namespace Cleft.Train.Training;

/// <summary>A step the guard skipped: its 1-based number, the loss and the gradient norm (NaN when the loss was already bad, so no backward ran).</summary>
public sealed record SkippedStep(int Step, float Loss, float GradNorm)
{
    /// <summary>What was not finite, e.g. "loss NaN" or "gradient norm Infinity".</summary>
    public string Reason => float.IsFinite(Loss)
        ? string.Create(CultureInfo.InvariantCulture, $"gradient norm {GradNorm}")
        : string.Create(CultureInfo.InvariantCulture, $"loss {Loss}");
}

/// <summary>
/// The NaN/Inf guard both trainers share. A step whose loss (any micro-batch's) or global gradient norm is not
/// finite is skipped: the optimizer does not step, so parameters, moments, the optimizer's step count and the
/// trainer's step (hence the learning-rate schedule) stay exactly as they were. The step still consumes what a
/// taken step consumes — its batches (the caller's data position moves past them, so a poisoned batch is not
/// retried forever) and the dropout draws of every micro-batch's forward pass (forwards run even after a bad
/// micro-batch) — so the random streams advance by the same amount whether a step is taken or skipped, and a
/// resumed run replays skips exactly. <see cref="MaxInARow"/> skips in a row stop the run with
/// <see cref="TrainingDivergedException"/>; nothing is saved during a streak, so the last checkpoint is the last good one.
/// </summary>
public sealed class BadStepGuard
{
    public const int DefaultMaxBadSteps = 10;

    public BadStepGuard(int maxInARow)
    {
        if (maxInARow < 1) throw new ArgumentOutOfRangeException(nameof(maxInARow), $"max bad steps must be >= 1, got {maxInARow}");
        MaxInARow = maxInARow;
    }

    public int MaxInARow { get; }
    /// <summary>Steps skipped since the run began (kept in checkpoints).</summary>
    public int Skipped { get; private set; }
    /// <summary>Steps skipped since the last taken one.</summary>
    public int InARow { get; private set; }
    /// <summary>The most recent skip (null if none this session).</summary>
    public SkippedStep? Last { get; private set; }
    /// <summary>Whether the most recent step was skipped.</summary>
    public bool LastWasSkipped { get; private set; }

    /// <summary>A step was taken: the streak ends.</summary>
    public void Taken()
    {
        InARow = 0;
        LastWasSkipped = false;
    }

    /// <summary>A step was skipped; throws once <see cref="MaxInARow"/> have been skipped in a row.</summary>
    public void Skip(SkippedStep step, float learningRate, string? lastCheckpoint)
    {
        ArgumentNullException.ThrowIfNull(step);
        Skipped++;
        InARow++;
        Last = step;
        LastWasSkipped = true;
        if (InARow >= MaxInARow) throw new TrainingDivergedException(step, InARow, learningRate, lastCheckpoint);
    }

    /// <summary>The counts saved in a checkpoint (<see cref="TrainerState"/>).</summary>
    public void Restore(int skipped, int inARow)
    {
        if (skipped < 0 || inARow < 0 || inARow > skipped) throw new InvalidDataException($"bad-step counts {skipped} skipped, {inARow} in a row are inconsistent");
        Skipped = skipped;
        InARow = inARow;
        LastWasSkipped = false;
    }
}

/// <summary>
/// <see cref="BadStepGuard.MaxInARow"/> steps in a row had a NaN or infinite loss or gradient norm. None of them
/// changed the parameters or the optimizer state and no checkpoint was written during them;
/// <see cref="LastCheckpoint"/> names the newest one on disk, the last good state.
/// </summary>
public sealed class TrainingDivergedException(SkippedStep last, int inARow, float learningRate, string? lastCheckpoint)
    : Exception($"training diverged: {inARow} steps in a row were skipped for a non-finite loss or gradient norm, the last at step " +
        $"{last.Step} ({last.Reason}, lr {learningRate.ToString("G4", CultureInfo.InvariantCulture)}); they did not change the parameters " +
        $"or the optimizer state; last good checkpoint: {lastCheckpoint ?? "none (no checkpoint was saved yet)"}")
{
    public int Step { get; } = last.Step;
    public float Loss { get; } = last.Loss;
    public float GradNorm { get; } = last.GradNorm;
    public int BadSteps { get; } = inARow;
    public string? LastCheckpoint { get; } = lastCheckpoint;
}
