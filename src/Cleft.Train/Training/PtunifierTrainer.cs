using Cleft.Autograd;
using Cleft.Autograd.Optim;
using Cleft.Models.PTUnifier;

namespace Cleft.Train.Training;

/// <summary>One PTUnifier step's losses: the weighted total and each objective's (NaN when its weight is 0).</summary>
public readonly record struct PtunifierStepLosses(float Total, float Itc, float Itm, float Mlm);

/// <summary>
/// PTUnifier pretraining on paired images and captions given as host data, on the shared <see cref="CheckpointedTrainer"/>:
/// AdamW over every parameter (decay on matrices only; the settings of <see cref="Stage1Options"/>), warmup + cosine,
/// optional clipping and gradient accumulation, the NaN/Inf step guard, and checkpoints holding all weights plus
/// <see cref="TrainerState"/> — the model's "objectives" random stream (MLM masks, ITM negatives) included, so a resumed
/// run draws the same masks and continues bit for bit on the CPU backend.
/// </summary>
public sealed class PtunifierTrainer : CheckpointedTrainer
{
    public PtunifierTrainer(PtunifierModel model, Stage1Options options)
        : base(CreateOptimizer(model, options), new WarmupCosine(options.LearningRate, options.WarmupSteps, options.TotalSteps, options.MinLearningRate),
            model, PtunifierModel.FrozenFingerprint, options.CheckpointDirectory, options.KeepBest, options.MaxBadSteps)
    {
        Model = model;
        Options = options;
    }

    static AdamW CreateOptimizer(PtunifierModel model, Stage1Options options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        // Off every loss's path, so never given a gradient: the ViT's final LayerNorm (the fusion reads the last block's
        // tokens) and BERT's pooler (the fusion pools its own streams). Left in, clipping would read their empty slots.
        var offPath = model.Vision.FinalNorm.Parameters().Concat(model.Text.NamedParameters().Where(x => x.Name.StartsWith("pooler.", StringComparison.Ordinal)).Select(x => x.Param))
            .ToHashSet(ReferenceEqualityComparer.Instance);
        return new AdamW(ParamGroup.DecayAndNoDecay(model.NamedParameters().Where(x => !offPath.Contains(x.Param)), options.WeightDecay),
            options.LearningRate, options.Beta1, options.Beta2, options.Eps, options.WeightDecay) { MaxGradNorm = options.MaxGradNorm };
    }

    public PtunifierModel Model { get; }
    public Stage1Options Options { get; }

    /// <summary>One optimisation step on pixels [B, 3, S, S] and B captions.</summary>
    public PtunifierStepLosses TrainStep(float[] pixels, IReadOnlyList<string> captions) => TrainStep([(pixels, captions)]);

    /// <summary>
    /// One step over several micro-batches (each loss scaled by 1/K into the same gradients); returns the mean losses.
    /// A non-finite loss or gradient norm skips the step (<see cref="CheckpointedTrainer.LastStepSkipped"/>).
    /// </summary>
    public PtunifierStepLosses TrainStep(IReadOnlyList<(float[] Pixels, IReadOnlyList<string> Captions)> microBatches)
    {
        ArgumentNullException.ThrowIfNull(microBatches);
        if (microBatches.Count == 0) throw new ArgumentException("PtunifierTrainer.TrainStep: no micro-batches");
        float lr = BeginStep();
        float inv = 1f / microBatches.Count;
        var sum = new double[4];
        bool finite = true;
        Optimizer.ZeroGrad();
        foreach (var (pixels, captions) in microBatches)
        {
            using var scope = new TensorScope();
            using var owner = new PtunifierBatch(Model.Device);
            var losses = Model.Forward(Model.Pixels(pixels, captions.Count), captions, owner);
            var values = Read(losses);
            for (int i = 0; i < 4; i++) sum[i] += values[i];
            finite &= float.IsFinite(values[0]);
            if (finite) (microBatches.Count == 1 ? losses.Total : Ops.Scale(losses.Total, inv)).Backward();
        }
        var mean = new PtunifierStepLosses((float)(sum[0] * inv), (float)(sum[1] * inv), (float)(sum[2] * inv), (float)(sum[3] * inv));
        float norm = finite ? Optimizer.StepIfFinite() : float.NaN;
        EndStep(mean.Total, norm, lr);
        return mean;
    }

    static float[] Read(PtunifierLosses l) =>
        [l.Total.Item(), l.Itc?.Item() ?? float.NaN, l.Itm?.Item() ?? float.NaN, l.Mlm?.Item() ?? float.NaN];

    /// <summary>
    /// Mean losses over validation batches, in eval mode without gradients. The masks and negatives are drawn from a
    /// fixed stream (the training stream is put back afterwards), so validation is repeatable and leaves training's draws alone.
    /// </summary>
    public PtunifierStepLosses Validate(IEnumerable<(float[] Pixels, IReadOnlyList<string> Captions)> batches)
    {
        ArgumentNullException.ThrowIfNull(batches);
        bool wasTraining = Model.Training;
        var saved = Model.ObjectiveRng.ExportState();
        Model.ObjectiveRng.ImportState(new Rng(0x7A11DA7E).ExportState());
        Model.Eval();
        try
        {
            using var _ = GradMode.NoGrad();
            var sum = new double[4];
            int n = 0;
            foreach (var (pixels, captions) in batches)
            {
                using var scope = new TensorScope();
                using var owner = new PtunifierBatch(Model.Device);
                var values = Read(Model.Forward(Model.Pixels(pixels, captions.Count), captions, owner));
                for (int i = 0; i < 4; i++) sum[i] += values[i];
                n++;
            }
            if (n == 0) throw new ArgumentException("PtunifierTrainer.Validate: no batches");
            return new PtunifierStepLosses((float)(sum[0] / n), (float)(sum[1] / n), (float)(sum[2] / n), (float)(sum[3] / n));
        }
        finally
        {
            Model.Train(wasTraining);
            Model.ObjectiveRng.ImportState(saved);
        }
    }

    private protected override void SaveWeights(string directory) => Model.SaveWeights(directory);
    private protected override void LoadWeights(string directory) => Model.LoadWeights(directory);
}
