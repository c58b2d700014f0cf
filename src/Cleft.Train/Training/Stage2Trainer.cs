using System.Diagnostics;
using Cleft.Autograd;
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
}

/// <summary>
/// Optimises a <see cref="PromptLearner"/>'s context with SGD + warmup/cosine on labelled images; the encoders
/// are frozen and kept in eval mode (no dropout), so a step's only state change is the context.
/// </summary>
public sealed class Stage2Trainer : IDisposable
{
    readonly Sgd _optimizer;
    readonly WarmupCosine _schedule;
    readonly Stopwatch _clock = new();

    public Stage2Trainer(PromptLearner prompts, Stage2Options options)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(options);
        Prompts = prompts;
        Options = options;
        _schedule = new WarmupCosine(options.LearningRate, options.WarmupSteps, options.TotalSteps, options.MinLearningRate);
        _optimizer = new Sgd([prompts.Context], options.LearningRate, options.Momentum, options.WeightDecay);
        prompts.Model.Eval();
    }

    public PromptLearner Prompts { get; }
    public Stage2Options Options { get; }
    public int Step { get; private set; }
    public Action<TrainingProgress>? Progress { get; set; }

    /// <summary>One step on pixels [B, 3, S, S] and labels [B]; returns the classification loss.</summary>
    public float TrainStep(float[] pixels, int[] labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Any(l => l < 0 || l >= Prompts.ClassCount))
            throw new ArgumentException($"Stage2Trainer: labels must be in [0, {Prompts.ClassCount})");
        if (!_clock.IsRunning) _clock.Start();
        float lr = _schedule.Apply(_optimizer, Step);
        float loss;
        using (var scope = new TensorScope())
        using (var y = IntTensor.FromArray(Prompts.Model.Device, labels, labels.Length))
        {
            _optimizer.ZeroGrad();
            var l = Prompts.Loss(pixels, y);
            loss = l.Item();
            if (!float.IsFinite(loss)) throw new TrainingDivergedException(Step + 1, loss, lr, null);
            l.Backward();
            _optimizer.Step();
        }
        Step++;
        if (Progress is { } report && Step % Options.LogEvery == 0)
        {
            report(new TrainingProgress(Step, loss, lr, Options.LogEvery / Math.Max(_clock.Elapsed.TotalSeconds, 1e-9), Prompts.Model.LogitScale.Read()));
            _clock.Restart();
        }
        return loss;
    }

    public void Dispose() => _optimizer.Dispose();
}
