using Cleft.Autograd;

namespace Cleft.Models.Recipe;

/// <summary>Per image: softmax scores over the classes (row-major [B, K]) and the argmax.</summary>
public sealed record ZeroShotResult(float[] Scores, int[] Predictions, int Classes)
{
    public float Score(int image, int cls) => Scores[image * Classes + cls];
}

/// <summary>
/// Zero-shot classification (docs/RECIPE.md §eval): each class is a text prompt; its normalised embedding is computed
/// once, without gradients, in eval mode; an image's logits are cos(image, class) x exp(logit_scale), and the
/// scores are their softmax (what ACC and macro AUC are computed from). Results come back host-side.
/// </summary>
public sealed class ZeroShotClassifier
{
    /// <summary>Where a prompt template takes the class name.</summary>
    public const string ClassSlot = "{}";

    /// <summary>CLEFT's CheXpert (and RSNA) prompt template; the CheXpert default only, never a general one.</summary>
    public const string ChexpertTemplate = "this is a chest x ray of a patient with {}";

    readonly float[] _classes; // [K, D], L2-normalised

    ZeroShotClassifier(CleftModel model, float[] classes, int count)
    {
        Model = model;
        _classes = classes;
        ClassCount = count;
    }

    public CleftModel Model { get; }
    public int ClassCount { get; }
    public int EmbedDim => Model.Config.EmbedDim;

    /// <summary>Host copy of the normalised class embeddings [K, D].</summary>
    public float[] ClassEmbeddings => (float[])_classes.Clone();

    /// <summary>
    /// One prompt per class: <paramref name="template"/> with every <see cref="ClassSlot"/> replaced by the class
    /// name lowercased, e.g. "a photo of {}" -> "a photo of edema".
    /// </summary>
    public static string[] Prompts(IEnumerable<string> classNames, string template)
    {
        ArgumentNullException.ThrowIfNull(classNames);
        CheckTemplate(template);
        return classNames.Select(c => template.Replace(ClassSlot, c.ToLowerInvariant(), StringComparison.Ordinal)).ToArray();
    }

    /// <summary>The template's text before its class slot, trailing spaces trimmed ("a photo of {}" -> "a photo of"):
    /// the phrase a <see cref="PromptLearner"/> context starts from to reproduce the hand-written prompt.</summary>
    public static string TemplatePrefix(string template)
    {
        CheckTemplate(template);
        return template[..template.IndexOf(ClassSlot, StringComparison.Ordinal)].TrimEnd();
    }

    static void CheckTemplate(string template)
    {
        ArgumentNullException.ThrowIfNull(template);
        if (!template.Contains(ClassSlot, StringComparison.Ordinal))
            throw new ArgumentException($"ZeroShotClassifier: prompt template '{template}' has no class slot '{ClassSlot}'", nameof(template));
    }

    /// <summary>Embeds the class prompts (hand-written, stage 1 zero-shot).</summary>
    public static ZeroShotClassifier FromPrompts(CleftModel model, IReadOnlyList<string> classPrompts)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(classPrompts);
        if (classPrompts.Count < 2) throw new ArgumentException($"ZeroShotClassifier: need at least 2 classes, got {classPrompts.Count}");
        return WithoutGrad(model, () =>
        {
            using var scope = new TensorScope();
            using var texts = model.TextBatch(classPrompts);
            return new ZeroShotClassifier(model, model.EncodeTexts(texts).ToArray(), classPrompts.Count);
        });
    }

    /// <summary>From class embeddings [K, D] computed elsewhere (e.g. a stage-2 <see cref="PromptLearner"/>); they are normalised here.</summary>
    public static ZeroShotClassifier FromEmbeddings(CleftModel model, float[] classEmbeddings, int classCount)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(classEmbeddings);
        if (classCount < 2 || classEmbeddings.Length != classCount * model.Config.EmbedDim)
            throw new ArgumentException($"ZeroShotClassifier: {classEmbeddings.Length} values for {classCount} classes of dim {model.Config.EmbedDim}");
        return WithoutGrad(model, () =>
        {
            using var scope = new TensorScope();
            var t = Tensor.FromArray(model.Device, classEmbeddings, classCount, model.Config.EmbedDim);
            return new ZeroShotClassifier(model, Ops.L2Normalize(t).ToArray(), classCount);
        });
    }

    /// <summary>Scores and predictions for pixels [B, 3, S, S].</summary>
    public ZeroShotResult Classify(float[] pixels, int batch) => WithoutGrad(Model, () =>
    {
        using var scope = new TensorScope();
        var img = Model.EncodeImages(Model.Pixels(pixels, batch));
        var cls = Tensor.FromArray(Model.Device, _classes, ClassCount, EmbedDim);
        float scale = MathF.Exp(Model.LogitScale.Read());
        var scores = Ops.Softmax(Ops.Scale(Ops.MatMul(img, cls, transB: true), scale)).ToArray();
        var predictions = new int[batch];
        for (int b = 0; b < batch; b++)
        {
            var row = scores.AsSpan(b * ClassCount, ClassCount);
            int best = 0;
            for (int k = 1; k < row.Length; k++) if (row[k] > row[best]) best = k;
            predictions[b] = best;
        }
        return new ZeroShotResult(scores, predictions, ClassCount);
    });

    // Evaluation runs in eval mode (no dropout) without a graph, and puts the mode back.
    internal static T WithoutGrad<T>(CleftModel model, Func<T> f)
    {
        bool training = model.Training;
        model.Eval();
        try
        {
            using var _ = GradMode.NoGrad();
            return f();
        }
        finally { model.Train(training); }
    }
}
