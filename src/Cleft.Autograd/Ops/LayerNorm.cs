namespace Cleft.Autograd;

public static partial class Ops
{
    /// <summary>
    /// Layer normalisation over the last axis: (x - mean) / sqrt(var + eps) * gamma + beta, with the biased
    /// variance. <paramref name="gamma"/> and <paramref name="beta"/> are [C] and each optional (no affine).
    /// </summary>
    public static Tensor LayerNorm(Tensor x, Tensor? gamma = null, Tensor? beta = null, float eps = 1e-5f) =>
        LayerNormFn.Apply(x, gamma, beta, eps);

    sealed class LayerNormFn : Function
    {
        // Saved input and gamma; the parents tell which gradients are wanted.
        readonly Tensor _x;
        readonly Tensor? _gamma;
        readonly bool _hasGamma, _hasBeta;
        // mean/rstd per row from the forward, and the ones that stand in for a missing gamma.
        Tensor? _mean, _rstd, _ones;
        readonly int _rows, _cols;

        LayerNormFn(Tensor[] parents, Tensor x, Tensor? gamma, Tensor? beta, Tensor mean, Tensor rstd, Tensor? ones, int rows, int cols)
            : base("LayerNorm", parents)
        {
            _x = Save(x); _gamma = gamma is null ? null : Save(gamma); _hasGamma = gamma is not null; _hasBeta = beta is not null;
            _mean = mean; _rstd = rstd; _ones = ones; _rows = rows; _cols = cols;
        }

        public static Tensor Apply(Tensor x, Tensor? gamma, Tensor? beta, float eps)
        {
            const string op = "LayerNorm";
            Check.Rank(op, x, 1);
            int cols = x.Dim(-1);
            int rows = AsInt(op, x.Length / cols, "row count");
            foreach (var (p, what) in new[] { (gamma, "gamma"), (beta, "beta") })
            {
                if (p is null) continue;
                Check.SameDevice(op, x, p);
                if (p.Rank != 1 || p.Shape[0] != cols)
                    throw new ArgumentException($"{op}: {what} {p.Describe()} must be [{cols}] to match the last axis of {x.Describe()}");
            }
            Check.That(eps > 0 && float.IsFinite(eps), op, $"eps must be positive and finite, got {eps}");

            var dev = x.Device;
            Tensor? ones = null, zeros = null;
            if (gamma is null) { ones = Scratch(dev, cols); dev.Fill(ones.Buffer, cols, 1f); }
            if (beta is null) { zeros = Scratch(dev, cols); dev.Fill(zeros.Buffer, cols, 0f); }
            var mean = Scratch(dev, rows);
            var rstd = Scratch(dev, rows);
            var y = Tensor.Empty(dev, x.Shape);
            dev.LayerNorm(x.Buffer, (gamma ?? ones)!.Buffer, (beta ?? zeros)!.Buffer, y.Buffer, mean.Buffer, rstd.Buffer, rows, cols, eps);
            zeros?.Dispose();

            Tensor[] parents = [x, .. gamma is null ? Array.Empty<Tensor>() : [gamma], .. beta is null ? Array.Empty<Tensor>() : [beta]];
            if (!Function.NeedsGrad(parents))
            {
                ones?.Dispose(); mean.Dispose(); rstd.Dispose();
                return y;
            }
            return new LayerNormFn(parents, x, gamma, beta, mean, rstd, ones, rows, cols).Attach(y);
        }

        protected internal override Tensor?[] Backward(Tensor g)
        {
            var dev = g.Device;
            var dx = Tensor.Empty(dev, _x.Shape);
            // The backend always writes dgamma and dbeta; without a parameter to receive them they are scratch.
            bool wantX = Parents[0].RequiresGrad;
            bool wantG = _hasGamma && Parents[1].RequiresGrad, wantB = _hasBeta && Parents[^1].RequiresGrad;
            var dgamma = wantG ? Tensor.Empty(dev, _cols) : Tensor.Create(dev, [_cols], scoped: false);
            var dbeta = wantB ? Tensor.Empty(dev, _cols) : Tensor.Create(dev, [_cols], scoped: false);
            dev.LayerNormBackward(_x.Buffer, (_gamma ?? _ones)!.Buffer, _mean!.Buffer, _rstd!.Buffer, g.Buffer,
                dx.Buffer, dgamma.Buffer, dbeta.Buffer, _rows, _cols);
            if (!wantG) dgamma.Dispose();
            if (!wantB) dbeta.Dispose();
            var grads = new List<Tensor?> { wantX ? dx : null };
            if (!wantX) dx.Dispose();
            if (_hasGamma) grads.Add(wantG ? dgamma : null);
            if (_hasBeta) grads.Add(wantB ? dbeta : null);
            return [.. grads];
        }

        protected override void ReleaseSaved()
        {
            _mean?.Dispose(); _rstd?.Dispose(); _ones?.Dispose();
            _mean = _rstd = _ones = null;
        }
    }
}
