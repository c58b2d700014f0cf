using Cleft.Autograd;

namespace Cleft.Models.Recipe;

/// <summary>
/// Stage 2, the paper's version (docs/RECIPE.md §stage-2): N learnable context vectors shared by all classes,
/// CoOp layout [ctx_1..ctx_N][class name tokens][eos/pad...] fed to the frozen GPT-2 as input embeddings; the
/// text feature is the hidden state at the first pad after the class name, projected as in stage 1. The context
/// starts as the token embeddings of the caller's init phrase (trailing space trimmed, repeated or truncated to
/// N), so at step 0 the prompts equal the hand-written "phrase + class name" whenever N is the phrase's token
/// count (<see cref="ZeroShotClassifier.TemplatePrefix"/> gives the phrase of a template such as
/// <see cref="ZeroShotClassifier.ChexpertTemplate"/>).
/// While the learner lives, every parameter of the model is frozen (old gradients are zeroed) and only
/// <see cref="Context"/> receives gradients; <see cref="Dispose"/> gives back RequiresGrad to exactly the model
/// parameters the constructor froze, so a model used for stage 2 can go on training afterwards.
/// Class names are tokenized with a leading space, as they follow a word of the phrase in the hand-written prompt.
/// </summary>
public sealed class PromptLearner : Module
{
    /// <summary>
    /// Paper: frozen encoders, cross-entropy over the class prompts. ReleasedCode: what CLEFT's released stage-2
    /// script actually runs — the image tower trains too, and the loss is the symmetric InfoNCE between each
    /// image and its own class prompt's embedding (images of one class in a batch are each other's negatives).
    /// </summary>
    public enum Variant { Paper, ReleasedCode }

    readonly IntTensor _tokens, _index, _mask, _gather;
    readonly int _length;
    readonly Parameter[] _frozen; // model parameters that required grad before this learner froze them

    /// <param name="model">The stage-1 model; frozen until this learner is disposed.</param>
    /// <param name="classNames">Class names in label order; lowercased as in the hand-written prompts.</param>
    /// <param name="contextLength">N, the number of learnable context vectors (the released code uses 30).</param>
    /// <param name="initText">The phrase whose token embeddings initialise the context.</param>
    /// <param name="variant">The paper's stage 2 (default) or the released code's.</param>
    public PromptLearner(CleftModel model, IReadOnlyList<string> classNames, int contextLength, string initText, Variant variant = Variant.Paper)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(classNames);
        ArgumentNullException.ThrowIfNull(initText);
        if (classNames.Count < 2) throw new ArgumentException($"PromptLearner: need at least 2 classes, got {classNames.Count}");
        if (contextLength <= 0) throw new ArgumentOutOfRangeException(nameof(contextLength), $"context length must be positive, got {contextLength}");
        Model = model;
        ClassNames = classNames.ToArray();
        var gpt = model.Gpt2Text.Transformer;
        int c = gpt.Config.NEmbd, n = contextLength;

        var classTokens = ClassNames.Select(name => model.Tokenize(" " + name.ToLowerInvariant())).ToArray();
        if (classTokens.Any(t => t.Length == 0)) throw new ArgumentException("PromptLearner: a class name has no tokens");
        _length = n + classTokens.Max(t => t.Length) + 1; // at least one pad: the feature position
        if (_length > gpt.Config.NPositions)
            throw new ArgumentException($"PromptLearner: {n} context + {_length - n - 1} class tokens + eos exceed n_positions {gpt.Config.NPositions}");
        var init = model.Tokenize(initText.TrimEnd());
        if (init.Length == 0) throw new ArgumentException($"PromptLearner: init text '{initText}' has no tokens");

        // The fixed tokens (class names and eos) are gathered from wte into a small table placed after the
        // context rows; each prompt position then indexes either a context row or a table row.
        int eos = model.EosId;
        var distinct = classTokens.SelectMany(t => t).Append(eos).Distinct().ToArray();
        var slot = distinct.Select((id, i) => (id, i)).ToDictionary(x => x.id, x => n + x.i);
        int k = classNames.Count, len = _length;
        var index = new int[k * len];
        var mask = new int[k * len];
        var gather = new int[k];
        for (int j = 0; j < k; j++)
        {
            var row = index.AsSpan(j * len, len);
            for (int p = 0; p < n; p++) row[p] = p;
            for (int p = 0; p < classTokens[j].Length; p++) row[n + p] = slot[classTokens[j][p]];
            int real = n + classTokens[j].Length;
            for (int p = real; p < len; p++) row[p] = slot[eos];
            mask.AsSpan(j * len, real).Fill(1);
            gather[j] = j * len + real;
        }
        var dev = model.Device;
        _tokens = IntTensor.FromArray(dev, distinct, distinct.Length);
        _index = IntTensor.FromArray(dev, index, k * len);
        _mask = IntTensor.FromArray(dev, mask, k, len);
        _gather = IntTensor.FromArray(dev, gather, k);

        var ctxIds = Enumerable.Range(0, n).Select(i => init[i % init.Length]).ToArray();
        float[] ctx;
        using (GradMode.NoGrad())
        using (var scope = new TensorScope())
        using (var ids = IntTensor.FromArray(dev, ctxIds, n))
            ctx = Ops.Embedding(gpt.Wte, ids).ToArray();
        Context = AddParameter("ctx", new Parameter(dev, ctx, n, c));

        // Frozen last: every check above has passed, so a throwing constructor leaves the model untouched.
        _frozen = model.Parameters().Where(p => p.RequiresGrad).ToArray();
        model.RequiresGrad(false);
        model.ZeroGrad(); // stage-1 gradients left in the frozen tensors would look like stage-2 ones
        Mode = variant;
        // The released code unfreezes the vision tower; its final LayerNorm stays out (CLEFT pools before it).
        var offPath = model.Image.Vit.FinalNorm.Parameters().ToHashSet(ReferenceEqualityComparer.Instance);
        var image = variant == Variant.ReleasedCode
            ? model.Image.NamedParameters("image.").Where(x => !offPath.Contains(x.Param)).ToList()
            : [];
        foreach (var (_, p) in image) p.RequiresGrad = true;
        TrainedParameters = [("ctx", Context), .. image];
    }

    public Variant Mode { get; }

    /// <summary>What stage 2 optimises and checkpoints, by name: the context, plus the image tower for <see cref="Variant.ReleasedCode"/>.</summary>
    public IReadOnlyList<(string Name, Parameter Param)> TrainedParameters { get; }

    public CleftModel Model { get; }
    public IReadOnlyList<string> ClassNames { get; }
    /// <summary>The learnable context vectors [N, n_embd].</summary>
    public Parameter Context { get; }
    public int ClassCount => ClassNames.Count;
    /// <summary>Prompt length T = N + longest class name + 1.</summary>
    public int PromptLength => _length;

    /// <summary>Raw (unnormalised) class embeddings [K, EmbedDim] from the current context.</summary>
    public Tensor ClassEmbeddings()
    {
        var gpt = Model.Gpt2Text.Transformer;
        int c = gpt.Config.NEmbd;
        var table = Ops.Concat(0, Context, Ops.Embedding(gpt.Wte, _tokens));          // [N + M, C]
        var embeds = Ops.Reshape(Ops.IndexSelect(table, _index), ClassCount, _length, c); // [K, T, C]
        return Model.Gpt2Text.Projection.Forward(gpt.ForwardEmbeddings(embeds, _mask, _gather));
    }

    /// <summary>
    /// The stage-2 loss of images [B, 3, S, S] with labels in [0, K). Paper: CE over cos(image, class) x
    /// exp(logit_scale), the image tower without a graph (it is frozen). ReleasedCode: see <see cref="Variant"/>.
    /// </summary>
    public Tensor Loss(float[] pixels, IntTensor labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (Mode == Variant.ReleasedCode)
            return Model.Head.Forward(Model.Image.Forward(Model.Pixels(pixels, labels.Shape[0])), Ops.IndexSelect(ClassEmbeddings(), labels));
        Tensor img;
        using (GradMode.NoGrad()) img = Model.EncodeImages(Model.Pixels(pixels, labels.Shape[0]));
        return Ops.ClassificationLoss(img, Ops.L2Normalize(ClassEmbeddings()), labels, Model.LogitScale.Value);
    }

    /// <summary>
    /// A classifier from the learned prompts (host copy of the class embeddings), computed in eval mode (no
    /// dropout) without a graph; the model's previous mode is restored.
    /// </summary>
    public ZeroShotClassifier ToClassifier() => ZeroShotClassifier.WithoutGrad(Model, () =>
    {
        using var scope = new TensorScope();
        return ZeroShotClassifier.FromEmbeddings(Model, ClassEmbeddings().ToArray(), ClassCount);
    });

    /// <summary>Frees the context and index tensors and unfreezes the model parameters the constructor froze.</summary>
    public override void Dispose()
    {
        foreach (var p in _frozen) p.RequiresGrad = true;
        _tokens.Dispose(); _index.Dispose(); _mask.Dispose(); _gather.Dispose();
        base.Dispose();
    }
}
