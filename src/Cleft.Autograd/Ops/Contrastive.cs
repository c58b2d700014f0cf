using Cleft.Kernels;

namespace Cleft.Autograd;

public static partial class Ops
{
    /// <summary>
    /// x / max(||x||, eps) along the last axis (torch.nn.functional.normalize). A separate op rather than part
    /// of the loss: zero-shot evaluation and the class-prompt loss need normalised embeddings too, and it is
    /// one cheap pass next to the loss's three GEMMs.
    /// </summary>
    public static Tensor L2Normalize(Tensor x, float eps = 1e-12f) => L2NormalizeFn.Apply(x, eps);

    /// <summary>
    /// CLIP's symmetric InfoNCE: logits = exp(logitScale) img txt^T, loss = CE(logits, arange) and
    /// CE(logits^T, arange), averaged (open_clip, default) or summed (<paramref name="sum"/>, CLEFT's code).
    /// img and txt are [N, D] (normalise them first); logitScale is a one-element tensor used as given:
    /// clamping to [0, ln 100] happens on the parameter after the optimizer step (LogitScale, ParamGroup.Clamp).
    /// Gradients reach img, txt and logitScale.
    /// </summary>
    public static Tensor ContrastiveLoss(Tensor img, Tensor txt, Tensor logitScale, bool sum = false)
    {
        const string op = "ContrastiveLoss";
        Check.Rank(op, img, 2, 2);
        Check.SameShape(op, img, txt);
        Check.That(img.Dim(0) > 0 && img.Dim(1) > 0, op, $"empty batch {img.Describe()}");
        return SimilarityLossFn.Apply(op, img, txt, logitScale, null, SimilarityLoss.Contrastive(img.Dim(0), img.Dim(1), sum));
    }

    /// <summary>
    /// Stage-2 classification loss: mean CE over images of logits = exp(logitScale) img classes^T against
    /// integer labels; img [N, D], classes [K, D] (class-prompt embeddings). Gradients reach img, classes and
    /// logitScale (freeze it by passing a tensor that does not require grad).
    /// </summary>
    public static Tensor ClassificationLoss(Tensor img, Tensor classes, IntTensor labels, Tensor logitScale)
    {
        const string op = "ClassificationLoss";
        Check.Rank(op, img, 2, 2);
        Check.Rank(op, classes, 2, 2);
        Check.That(img.Dim(1) == classes.Dim(1), op, $"embedding widths differ: {img.Describe()} vs {classes.Describe()}");
        ArgumentNullException.ThrowIfNull(labels);
        SameDevice(op, img, labels);
        Check.That(labels.Shape.Length == 1 && labels.Shape[0] == img.Dim(0), op, $"labels {labels.ShapeString} must be [{img.Dim(0)}]");
        Check.That(labels.Min >= 0 && labels.Max < classes.Dim(0), op,
            $"labels span [{labels.Min}, {labels.Max}], outside [0, {classes.Dim(0)}) for classes {classes.Describe()}");
        return SimilarityLossFn.Apply(op, img, classes, logitScale, labels, SimilarityLoss.Classification(img.Dim(0), classes.Dim(0), img.Dim(1)));
    }

    sealed class L2NormalizeFn : Function
    {
        readonly Tensor _y;
        Tensor? _norm;
        readonly float _eps;

        // Backward needs the output y, not x.
        L2NormalizeFn(Tensor x, Tensor y, Tensor norm, float eps) : base("L2Normalize", x) { _y = Save(y); _norm = norm; _eps = eps; }

        public static Tensor Apply(Tensor x, float eps)
        {
            const string op = "L2Normalize";
            Check.Rank(op, x, 1);
            Check.That(eps > 0, op, $"eps must be positive, got {eps}");
            int cols = x.Dim(-1), rows = AsInt(op, x.Length / cols, "rows");
            var dev = x.Device;
            var y = Tensor.Empty(dev, x.Shape);
            var norm = Scratch(dev, rows);
            dev.L2Normalize(x.Buffer, y.Buffer, norm.Buffer, rows, cols, eps);
            if (!Function.NeedsGrad(x)) { norm.Dispose(); return y; }
            return new L2NormalizeFn(x, y, norm, eps).Attach(y);
        }

        protected internal override Tensor?[] Backward(Tensor g)
        {
            int cols = g.Dim(-1), rows = (int)(g.Length / cols);
            var dx = Tensor.Empty(g.Device, g.Shape);
            g.Device.L2NormalizeBackward(_y.Buffer, _norm!.Buffer, g.Buffer, dx.Buffer, rows, cols, _eps);
            return [dx];
        }

        protected override void ReleaseSaved() { _norm?.Dispose(); _norm = null; }
    }

    /// <summary>Both similarity losses: saves the logits and the row/column log-sum-exps, not the softmaxes.</summary>
    sealed class SimilarityLossFn : Function
    {
        readonly Tensor _a, _b, _scale;
        readonly IntTensor? _labels;
        Tensor? _logits, _rowLse, _colLse;
        readonly SimilarityLoss _s;

        SimilarityLossFn(string name, Tensor a, Tensor b, Tensor scale, IntTensor? labels, Tensor logits, Tensor rowLse, Tensor colLse, SimilarityLoss s)
            : base(name, a, b, scale)
        { _a = Save(a); _b = Save(b); _scale = Save(scale); _labels = labels; _logits = logits; _rowLse = rowLse; _colLse = colLse; _s = s; }

        public static Tensor Apply(string op, Tensor a, Tensor b, Tensor scale, IntTensor? labels, SimilarityLoss s)
        {
            Check.SameDevice(op, a, b);
            Check.SameDevice(op, a, scale);
            Check.That(scale.Length == 1, op, $"the logit scale must have one element, got {scale.Describe()}");
            AsInt(op, (long)s.N * s.M, "logits size");
            var dev = a.Device;
            var logits = Scratch(dev, s.N, s.M);
            var rowLse = Scratch(dev, s.N);
            var colLse = Scratch(dev, s.Symmetric ? s.M : 1);
            var loss = Tensor.Empty(dev);
            dev.SimilarityLossForward(a.Buffer, b.Buffer, scale.Buffer, labels?.Buffer, logits.Buffer, rowLse.Buffer, colLse.Buffer, loss.Buffer, s);
            if (!Function.NeedsGrad(a, b, scale)) { logits.Dispose(); rowLse.Dispose(); colLse.Dispose(); return loss; }
            return new SimilarityLossFn(op, a, b, scale, labels, logits, rowLse, colLse, s).Attach(loss);
        }

        protected internal override Tensor?[] Backward(Tensor g)
        {
            var dev = g.Device;
            var da = Tensor.Empty(dev, _a.Shape);
            var db = Tensor.Empty(dev, _b.Shape);
            var ds = Tensor.Empty(dev, _scale.Shape);
            dev.SimilarityLossBackward(_a.Buffer, _b.Buffer, _scale.Buffer, _labels?.Buffer, _logits!.Buffer, _rowLse!.Buffer, _colLse!.Buffer,
                g.Buffer, da.Buffer, db.Buffer, ds.Buffer, _s);
            return [da, db, ds];
        }

        protected override void ReleaseSaved()
        {
            _logits?.Dispose(); _rowLse?.Dispose(); _colLse?.Dispose();
            _logits = _rowLse = _colLse = null;
        }
    }
}
