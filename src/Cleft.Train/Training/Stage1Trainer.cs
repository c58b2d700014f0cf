using Cleft.Autograd;
using Cleft.Autograd.Distributed;
using Cleft.Autograd.Optim;
using Cleft.Models.Recipe;

namespace Cleft.Train.Training;

/// <summary>
/// Stage 1: contrastive pretraining of a <see cref="CleftModel"/> on paired images and captions given as host
/// data. AdamW over the trainable parameters (decay on matrices only, the logit scale in its own clamped group),
/// warmup + cosine, optional clipping, optional gradient accumulation; one <see cref="TensorScope"/> per
/// micro-batch. Checkpoints (see <see cref="CheckpointStore"/>) hold the model's trainable weights
/// (<see cref="CleftModel.SaveWeights"/>) plus <see cref="TrainerState"/> (optimizer slots, dropout streams,
/// data position, frozen-weights fingerprint); <see cref="Resume"/> restores all of it, so a resumed run
/// continues with bit-identical losses on the CPU backend, dropout included. A step with a non-finite loss or
/// gradient norm is skipped (<see cref="BadStepGuard"/>): <see cref="LastStepSkipped"/> tells the caller.
/// With a <see cref="DataParallel"/> of several ranks, each rank passes its shard of every global batch: the
/// trainable weights start as rank 0's, the loss is taken over the gathered global batch (the same value on every
/// rank), and the gradients are averaged before the step, so every rank makes the same update as one process
/// would on the global batch. Only rank 0 may save checkpoints; every rank resumes from the same one.
/// </summary>
public sealed class Stage1Trainer : CheckpointedTrainer
{
    int _stepsSinceReport;

    public Stage1Trainer(CleftModel model, Stage1Options options, DataParallel? parallel = null)
        : base(CreateOptimizer(model, options), Schedule(options), model, model.FrozenFingerprint,
            options.CheckpointDirectory, options.KeepBest, options.MaxBadSteps)
    {
        Model = model;
        Options = options;
        Parallel = parallel is { Size: > 1 } ? parallel : null;
        Parallel?.BroadcastParameters(model.TrainableNamedParameters().Select(x => x.Param));
    }

    static WarmupCosine Schedule(Stage1Options options) =>
        new WarmupCosine(options.LearningRate, options.WarmupSteps, options.TotalSteps, options.MinLearningRate);

    static AdamW CreateOptimizer(CleftModel model, Stage1Options options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        // The ViT's final LayerNorm is off the embedding's path (CLEFT pools before it), so it never has a
        // gradient; left in, it would make every clipped step read the norm slots back to the host.
        var offPath = model.Image.Vit.FinalNorm.Parameters().ToHashSet(ReferenceEqualityComparer.Instance);
        var rest = model.NamedParameters().Where(x => !ReferenceEquals(x.Param, model.LogitScale.Value) && !offPath.Contains(x.Param));
        ParamGroup[] groups = [.. ParamGroup.DecayAndNoDecay(rest, options.WeightDecay), model.LogitScale.Group()];
        return new AdamW(groups, options.LearningRate, options.Beta1, options.Beta2, options.Eps, options.WeightDecay) { MaxGradNorm = options.MaxGradNorm };
    }

    public CleftModel Model { get; }
    public Stage1Options Options { get; }
    /// <summary>The ranks this trainer steps with (null: one process).</summary>
    public DataParallel? Parallel { get; }

    /// <summary>One optimisation step on pixels [B, 3, S, S] and B captions; returns the loss.</summary>
    public float TrainStep(float[] pixels, IReadOnlyList<string> captions) => TrainStep([(pixels, captions)]);

    /// <summary>
    /// One optimisation step over several micro-batches (gradient accumulation): each micro-batch's loss is
    /// scaled by 1/K and back-propagated into the same gradients, then the optimizer steps once. Negatives are
    /// those of each micro-batch, as in CLEFT's released code. Returns the mean loss. A non-finite loss or gradient
    /// norm skips the step (see <see cref="BadStepGuard"/>; every micro-batch is still forwarded, so the dropout
    /// streams advance as for a taken step) and <see cref="TrainingDivergedException"/> ends a run of
    /// <see cref="Stage1Options.MaxBadSteps"/> skips in a row.
    /// </summary>
    public float TrainStep(IReadOnlyList<(float[] Pixels, IReadOnlyList<string> Captions)> microBatches)
    {
        ArgumentNullException.ThrowIfNull(microBatches);
        if (microBatches.Count == 0) throw new ArgumentException("Stage1Trainer.TrainStep: no micro-batches");
        float lr = BeginStep();
        float inv = 1f / microBatches.Count;
        double sum = 0;
        bool finite = true;
        Optimizer.ZeroGrad();
        GradientMean? mean = null;
        int index = 0;
        foreach (var (pixels, captions) in microBatches)
        {
            ArgumentNullException.ThrowIfNull(captions);
            using var scope = new TensorScope();
            using var texts = Model.TextBatch(captions);
            Tensor l;
            // The patch embedding saved what its backward reads; the uploaded pixels can go before backward.
            using (var images = Model.Pixels(pixels, captions.Count)) l = Model.Forward(images, texts, Parallel?.Communicator);
            float value = l.Item();
            sum += value;
            finite &= float.IsFinite(value);
            if (!finite) continue;
            // The last micro-batch's backward makes the gradients final: their all-reduce overlaps it, bucket by bucket.
            if (++index == microBatches.Count) mean = Parallel?.BeginGradientMean(Optimizer.Groups.SelectMany(g => g.Parameters), $"step {Step + 1}: gradient all-reduce");
            (microBatches.Count == 1 ? l : Ops.Scale(l, inv)).Backward(leafDone: mean is null ? null : mean.LeafDone);
        }
        float loss = (float)(sum * inv);
        // The loss is global, so every rank agrees on whether it was finite and on whether to all-reduce.
        if (finite) mean?.Finish();
        float norm = finite ? Optimizer.StepIfFinite() : float.NaN;
        if (!EndStep(loss, norm, lr)) return loss;
        _stepsSinceReport++;
        if (Progress is { } report && Step % Options.LogEvery == 0)
        {
            double rate = _stepsSinceReport / Math.Max(Clock.Elapsed.TotalSeconds, 1e-9);
            report(new TrainingProgress(Step, loss, lr, rate, Model.LogitScale.Read()));
            _stepsSinceReport = 0;
            Clock.Restart();
        }
        return loss;
    }

    /// <summary>Mean contrastive loss over validation batches, in eval mode without gradients.</summary>
    public float Validate(IEnumerable<(float[] Pixels, IReadOnlyList<string> Captions)> batches)
    {
        ArgumentNullException.ThrowIfNull(batches);
        bool wasTraining = Model.Training;
        Model.Eval();
        try
        {
            using var _ = GradMode.NoGrad();
            double sum = 0;
            int n = 0;
            foreach (var (pixels, captions) in batches)
            {
                using var scope = new TensorScope();
                using var texts = Model.TextBatch(captions);
                sum += Model.Forward(Model.Pixels(pixels, captions.Count), texts, Parallel?.Communicator).Item();
                n++;
            }
            if (n == 0) throw new ArgumentException("Stage1Trainer.Validate: no batches");
            return (float)(sum / n);
        }
        finally { Model.Train(wasTraining); }
    }

    private protected override void SaveWeights(string directory) => Model.SaveWeights(directory, Fingerprint);
    private protected override void LoadWeights(string directory) => Model.LoadWeights(directory);
}
