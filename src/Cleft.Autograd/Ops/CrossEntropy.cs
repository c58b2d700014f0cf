namespace Cleft.Autograd;

public static partial class Ops
{
    /// <summary>
    /// Mean cross-entropy of logits [N, C] against class targets [N], over the rows whose target is not
    /// <paramref name="ignoreIndex"/> (0 when every row is ignored). Returns a rank-0 tensor; only the
    /// logits receive a gradient.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, IntTensor targets, int ignoreIndex = -100) =>
        CrossEntropyFn.Apply(logits, targets, ignoreIndex);

    sealed class CrossEntropyFn : Function
    {
        readonly Tensor _logits;
        readonly IntTensor _targets;
        Tensor? _rowLse, _count;
        readonly int _ignore;

        CrossEntropyFn(Tensor logits, IntTensor targets, Tensor rowLse, Tensor count, int ignore) : base("CrossEntropy", logits)
        { _logits = Save(logits); _targets = targets; _rowLse = rowLse; _count = count; _ignore = ignore; }

        public static Tensor Apply(Tensor logits, IntTensor targets, int ignore)
        {
            const string op = "CrossEntropy";
            ArgumentNullException.ThrowIfNull(targets);
            Check.Rank(op, logits, 2, 2);
            SameDevice(op, logits, targets);
            int rows = logits.Shape[0], classes = logits.Shape[1];
            if (targets.Shape.Length != 1 || targets.Shape[0] != rows)
                throw new ArgumentException($"{op}: targets {targets.ShapeString} must be [{rows}] for logits {logits.Describe()}");
            CheckTargets(op, logits, targets, classes, ignore);

            var dev = logits.Device;
            var rowLse = Scratch(dev, rows);
            var count = Scratch(dev, 1);
            var loss = Tensor.Empty(dev);
            dev.CrossEntropy(logits.Buffer, targets.Buffer, rowLse.Buffer, loss.Buffer, count.Buffer, rows, classes, ignore);
            if (!Function.NeedsGrad(logits)) { rowLse.Dispose(); count.Dispose(); return loss; }
            return new CrossEntropyFn(logits, targets, rowLse, count, ignore).Attach(loss);
        }

        static void CheckTargets(string op, Tensor logits, IntTensor targets, int classes, int ignore)
        {
            bool Valid(int t) => (t >= 0 && t < classes) || t == ignore;
            if (targets.Min >= 0 && targets.Max < classes) return;
            // Min and max cannot tell an ignored row from a stray value between them: look at the values.
            // This costs a device read only for batches that use ignored rows (or are about to fail).
            if (Valid(targets.Min) && Valid(targets.Max))
            {
                int[] values = targets.ToArray();
                int bad = Array.FindIndex(values, t => !Valid(t));
                if (bad < 0) return;
                throw new ArgumentException($"{op}: target {values[bad]} at row {bad} is outside [0, {classes}) and is not the ignore index {ignore} (logits {logits.Describe()})");
            }
            int culprit = Valid(targets.Min) ? targets.Max : targets.Min;
            throw new ArgumentException($"{op}: target {culprit} is outside [0, {classes}) and is not the ignore index {ignore} (logits {logits.Describe()}, targets {targets.ShapeString})");
        }

        protected internal override Tensor?[] Backward(Tensor g)
        {
            var dev = g.Device;
            var dl = Tensor.Empty(dev, _logits.Shape);
            dev.CrossEntropyBackward(_logits.Buffer, _targets.Buffer, _rowLse!.Buffer, g.Buffer, _count!.Buffer, dl.Buffer,
                _logits.Shape[0], _logits.Shape[1], _ignore);
            return [dl];
        }

        protected override void ReleaseSaved()
        {
            _rowLse?.Dispose(); _count?.Dispose();
            _rowLse = _count = null;
        }
    }
}
