namespace Cleft.Autograd.Optim;

/// <summary>
/// Linear warmup then cosine decay to a floor (open_clip's cosine_lr with a minimum): for step s (0-based),
/// lr = base (s + 1) / warmup while s &lt; warmup; then with e = s - warmup over E = total - warmup,
/// lr = min + 0.5 (1 + cos(pi e / E)) (base - min); after total steps it stays at min.
/// </summary>
public sealed class WarmupCosine
{
    public WarmupCosine(float baseLr, int warmupSteps, int totalSteps, float minLr = 0f)
    {
        if (!(baseLr > 0) || warmupSteps < 0 || totalSteps <= warmupSteps || !(minLr >= 0 && minLr <= baseLr))
            throw new ArgumentException($"WarmupCosine: invalid base lr {baseLr}, warmup {warmupSteps}, total {totalSteps}, min lr {minLr}");
        BaseLr = baseLr; WarmupSteps = warmupSteps; TotalSteps = totalSteps; MinLr = minLr;
    }

    public float BaseLr { get; }
    public int WarmupSteps { get; }
    public int TotalSteps { get; }
    public float MinLr { get; }

    public float At(int step)
    {
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), step, "steps count from 0");
        if (step < WarmupSteps) return (float)((double)BaseLr * (step + 1) / WarmupSteps);
        if (step >= TotalSteps) return MinLr;
        double e = step - WarmupSteps, span = TotalSteps - WarmupSteps;
        return (float)(MinLr + 0.5 * (1 + Math.Cos(Math.PI * e / span)) * (BaseLr - MinLr));
    }

    /// <summary>Sets the optimizer's learning rate for <paramref name="step"/>; returns it.</summary>
    public float Apply(Optimizer optimizer, int step) => optimizer.LearningRate = At(step);
}
