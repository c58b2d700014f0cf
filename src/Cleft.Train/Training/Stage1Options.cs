using Cleft.Models.Recipe;

namespace Cleft.Train.Training;

/// <summary>
/// Stage 1 hyperparameters; defaults are the paper's (docs/RECIPE.md §stage-1): AdamW lr 4e-5, betas (0.9, 0.999), weight
/// decay 0.1 (none on 1-D parameters and biases), 4,000 warmup steps then cosine over 40,000, top-2 + last kept.
/// </summary>
public sealed record Stage1Options
{
    public float LearningRate { get; init; } = 4e-5f;
    public float MinLearningRate { get; init; }
    public int WarmupSteps { get; init; } = 4000;
    public int TotalSteps { get; init; } = 40_000;
    public float WeightDecay { get; init; } = 0.1f;
    public float Beta1 { get; init; } = 0.9f;
    public float Beta2 { get; init; } = 0.999f;
    public float Eps { get; init; } = 1e-8f;
    /// <summary>Clip by global gradient norm when set (off in CLEFT's code).</summary>
    public float? MaxGradNorm { get; init; }
    /// <summary>Where checkpoints go (null: none).</summary>
    public string? CheckpointDirectory { get; init; }
    public int KeepBest { get; init; } = 2;
    /// <summary>Progress is reported every this many steps.</summary>
    public int LogEvery { get; init; } = 1;
    /// <summary>Non-finite steps in a row (each skipped, see <see cref="BadStepGuard"/>) that stop the run.</summary>
    public int MaxBadSteps { get; init; } = BadStepGuard.DefaultMaxBadSteps;

    public void Validate()
    {
        if (!(LearningRate > 0) || !(MinLearningRate >= 0) || WarmupSteps < 0 || TotalSteps <= 0 || !(WeightDecay >= 0)
            || MaxGradNorm is <= 0 || LogEvery <= 0 || KeepBest < 0 || MaxBadSteps < 1)
            throw new ArgumentException($"Stage1Options: invalid settings {this}");
    }
}

/// <summary>One progress report: the step just finished (1-based), its loss, the lr it used, throughput and s.</summary>
public readonly record struct TrainingProgress(int Step, float Loss, float LearningRate, double StepsPerSecond, float LogitScale)
{
    /// <summary>One log line, e.g. "step 120  loss 1.2345  lr 3.00e-04  2.41 steps/s  scale 2.659".</summary>
    public override string ToString() => string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"step {Step}  loss {Loss:F4}  lr {LearningRate:0.00e+00}  {StepsPerSecond:F2} steps/s  scale {LogitScale:F3}");
}
