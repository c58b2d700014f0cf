using System.Diagnostics;
using Cleft.Autograd;
using Cleft.Autograd.IO;
using Cleft.Autograd.Optim;
using Cleft.Models.Peft;
using Cleft.Models.Recipe;

namespace Cleft.Train.Training;

/// <summary>
/// Stage 1: contrastive pretraining of a <see cref="CleftModel"/> on paired images and captions given as host
/// data. AdamW over the trainable parameters (decay on matrices only, the logit scale in its own clamped group),
/// warmup + cosine, optional clipping; one <see cref="TensorScope"/> per step. Checkpoints (see
/// <see cref="CheckpointStore"/>) hold model.safetensors (trainable non-LoRA parameters by name),
/// adapter/ (the LoRA weights in PEFT's format), optimizer.safetensors and state.json; <see cref="Resume"/>
/// restores all of it, so a resumed run continues with the same losses. Not restored: dropout random streams
/// (resume is bit-identical only with dropout off).
/// </summary>
public sealed class Stage1Trainer : IDisposable
{
    const string ModelFile = "model.safetensors", OptimizerFile = "optimizer.safetensors", AdapterDir = "adapter";

    readonly AdamW _optimizer;
    readonly WarmupCosine _schedule;
    readonly Stopwatch _clock = new();
    int _stepsSinceReport;

    public Stage1Trainer(CleftModel model, Stage1Options options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Model = model;
        Options = options;
        _schedule = new WarmupCosine(options.LearningRate, options.WarmupSteps, options.TotalSteps, options.MinLearningRate);
        // The ViT's final LayerNorm is off the embedding's path (CLEFT pools before it), so it never has a
        // gradient; left in, it would make every clipped step read the norm slots back to the host.
        var offPath = model.Image.Vit.FinalNorm.Parameters().ToHashSet(ReferenceEqualityComparer.Instance);
        var rest = model.NamedParameters().Where(x => !ReferenceEquals(x.Param, model.LogitScale.Value) && !offPath.Contains(x.Param));
        ParamGroup[] groups = [.. ParamGroup.DecayAndNoDecay(rest, options.WeightDecay), model.LogitScale.Group()];
        _optimizer = new AdamW(groups, options.LearningRate,
            options.Beta1, options.Beta2, options.Eps, options.WeightDecay) { MaxGradNorm = options.MaxGradNorm };
        Checkpoints = options.CheckpointDirectory is { } dir ? new CheckpointStore(dir, options.KeepBest) : null;
    }

    public CleftModel Model { get; }
    public Stage1Options Options { get; }
    public CheckpointStore? Checkpoints { get; }
    /// <summary>Steps completed so far (the next step's schedule index).</summary>
    public int Step { get; private set; }
    public float LearningRate => _optimizer.LearningRate;
    public Action<TrainingProgress>? Progress { get; set; }

    /// <summary>One optimisation step on pixels [B, 3, S, S] and B captions; returns the loss.</summary>
    public float TrainStep(float[] pixels, IReadOnlyList<string> captions)
    {
        ArgumentNullException.ThrowIfNull(captions);
        if (!_clock.IsRunning) _clock.Start();
        float lr = _schedule.Apply(_optimizer, Step);
        float loss;
        using (var scope = new TensorScope())
        using (var texts = Model.TextBatch(captions))
        {
            _optimizer.ZeroGrad();
            var l = Model.Forward(Model.Pixels(pixels, captions.Count), texts);
            loss = l.Item();
            if (!float.IsFinite(loss))
                throw new TrainingDivergedException(Step + 1, loss, lr, Checkpoints?.Last is { } c ? Checkpoints.PathOf(c) : null);
            l.Backward();
            _optimizer.Step();
        }
        Step++;
        _stepsSinceReport++;
        if (Progress is { } report && Step % Options.LogEvery == 0)
        {
            double rate = _stepsSinceReport / Math.Max(_clock.Elapsed.TotalSeconds, 1e-9);
            report(new TrainingProgress(Step, loss, lr, rate, Model.LogitScale.Read()));
            _stepsSinceReport = 0;
            _clock.Restart();
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
                sum += Model.Forward(Model.Pixels(pixels, captions.Count), texts).Item();
                n++;
            }
            if (n == 0) throw new ArgumentException("Stage1Trainer.Validate: no batches");
            return (float)(sum / n);
        }
        finally { Model.Train(wasTraining); }
    }

    /// <summary>Saves the current state into the store (top-k by <paramref name="valLoss"/> + last); returns its directory.</summary>
    public string SaveCheckpoint(float? valLoss = null, IReadOnlyDictionary<string, double>? metrics = null)
    {
        var store = Checkpoints ?? throw new InvalidOperationException("Stage1Trainer: no CheckpointDirectory in the options");
        return store.Save(Step, _optimizer.LearningRate, valLoss, metrics, Write);
    }

    void Write(string dir)
    {
        var lora = PeftAdapter.LoraParameters(Model).Select(x => x.Param).ToHashSet(ReferenceEqualityComparer.Instance);
        SafetensorsWriter.Write(Path.Combine(dir, ModelFile), Model.TrainableNamedParameters()
            .Where(x => !lora.Contains(x.Param))
            .Select(x => new SafetensorsWriter.Item(x.Name, x.Param.Shape, x.Param.ToArray())));
        if (Model.Config.TextOptions.Lora is { } lc && lora.Count > 0)
            PeftAdapter.Save(Path.Combine(dir, AdapterDir), Model.Text.Transformer, lc);
        SafetensorsWriter.Write(Path.Combine(dir, OptimizerFile), _optimizer.ExportState()
            .Select(x => new SafetensorsWriter.Item(x.Key, [x.Value.Length], x.Value)));
    }

    /// <summary>Loads a checkpoint directory written by <see cref="SaveCheckpoint"/>: weights, adapter, optimizer state and step.</summary>
    public void Resume(string checkpointDirectory)
    {
        var info = CheckpointStore.ReadInfo(checkpointDirectory);
        var named = Model.TrainableNamedParameters().ToDictionary(x => x.Name, x => x.Param);
        string modelPath = Path.Combine(checkpointDirectory, ModelFile);
        using (var file = SafetensorsFile.Open(modelPath))
        {
            var lora = PeftAdapter.LoraParameters(Model).Select(x => x.Name).ToHashSet();
            var expected = named.Keys.Where(k => !lora.Contains(k)).ToHashSet();
            var missing = expected.Where(k => !file.Entries.ContainsKey(k)).ToList();
            var extra = file.Entries.Keys.Where(k => !expected.Contains(k)).ToList();
            if (missing.Count > 0 || extra.Count > 0)
                throw new InvalidDataException($"{modelPath}: missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", extra)}]");
            foreach (var name in expected)
            {
                var e = file.Entries[name];
                if (!e.Shape.SequenceEqual(named[name].Shape))
                    throw new InvalidDataException($"{modelPath}: '{name}' is [{string.Join(",", e.Shape)}], the model's parameter is {named[name].ShapeString}");
                named[name].Load(file.ReadFloats(name));
            }
        }
        string adapter = Path.Combine(checkpointDirectory, AdapterDir);
        if (Directory.Exists(adapter)) PeftAdapter.Load(adapter, Model.Text.Transformer);
        using (var opt = SafetensorsFile.Open(Path.Combine(checkpointDirectory, OptimizerFile)))
            _optimizer.ImportState(opt.Entries.Keys.ToDictionary(k => k, opt.ReadFloats), info.Step);
        Step = info.Step;
        _optimizer.LearningRate = info.LearningRate;
    }

    /// <summary>Resumes from the store's newest checkpoint; returns its directory, or null when there is none (fresh start).</summary>
    public string? ResumeLatest()
    {
        if (Checkpoints?.Last is not { } last) return null;
        string dir = Checkpoints.PathOf(last);
        Resume(dir);
        return dir;
    }

    public void Dispose() => _optimizer.Dispose();
}
