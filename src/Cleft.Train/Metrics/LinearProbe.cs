using Cleft.Train.Data;

namespace Cleft.Train.Metrics;

/// <param name="ValidationFraction">share of each class held out to choose lambda, in [0, 1).</param>
/// <param name="Lambdas">L2 penalties to try (default <see cref="LinearProbe.DefaultLambdas"/>), all &gt; 0.</param>
/// <param name="MaxIterations">L-BFGS iteration cap per fit.</param>
/// <param name="Seed">seed of the validation split.</param>
/// <param name="Tolerance">a fit stops when no gradient component exceeds this.</param>
public sealed record ProbeOptions(double ValidationFraction = 0.2, double[]? Lambdas = null, int MaxIterations = 500, ulong Seed = 42,
    double Tolerance = 1e-5);

/// <summary>Validation accuracy reached with one lambda of the grid.</summary>
public sealed record LambdaScore(double Lambda, double ValidationAccuracy);

/// <summary>A fitted probe: the standardisation of the training features and the softmax-regression weights.</summary>
public sealed class ProbeResult
{
    readonly double[] _mean, _invStd, _theta;
    readonly int[] _fitted;

    internal ProbeResult(int dim, int classes, int[] fitted, double[] mean, double[] invStd, double[] theta, double lambda, double validationAccuracy,
        IReadOnlyList<LambdaScore> grid, int iterations, bool converged)
    {
        Dim = dim; Classes = classes; _fitted = fitted; _mean = mean; _invStd = invStd; _theta = theta;
        Lambda = lambda; ValidationAccuracy = validationAccuracy; Grid = grid; Iterations = iterations; Converged = converged;
    }

    public int Dim { get; }
    public int Classes { get; }
    /// <summary>The chosen L2 penalty (objective: mean cross-entropy + lambda/2 ||W||²).</summary>
    public double Lambda { get; }
    /// <summary>Accuracy of the chosen lambda on the validation split; NaN when the split was empty.</summary>
    public double ValidationAccuracy { get; }
    /// <summary>Every lambda tried, in the order tried (largest first); empty when there was no validation split.</summary>
    public IReadOnlyList<LambdaScore> Grid { get; }
    /// <summary>L-BFGS iterations of the final fit on the whole training subset, and whether it met the tolerance.</summary>
    public int Iterations { get; }
    public bool Converged { get; }

    /// <summary>The classes the model was fitted on: those present in the training labels.</summary>
    public IReadOnlyList<int> FittedClasses => _fitted;

    /// <summary>[N, K] class probabilities of raw (unstandardised) [N, dim] features; a class absent from the
    /// training labels gets probability 0.</summary>
    public double[] Predict(float[] features)
    {
        if (features.Length % Dim != 0) throw new ArgumentException($"linear probe: {features.Length} feature values are not a multiple of dim {Dim}");
        int n = features.Length / Dim;
        var x = LinearProbe.Standardise(features, Dim, _mean, _invStd);
        var p = new double[n * Classes];
        int kf = _fitted.Length;
        Parallel.For(0, n, () => new double[kf], (i, _, row) =>
        {
            SoftmaxRegression.Probabilities(_theta, x.AsSpan(i * Dim, Dim), row);
            for (int c = 0; c < kf; c++) p[i * Classes + _fitted[c]] = row[c];
            return row;
        }, _ => { });
        return p;
    }
}

/// <summary>
/// Linear probe on frozen features: multinomial logistic regression (L-BFGS, double) on standardised features,
/// the L2 penalty chosen on a seeded class-stratified validation split, then refit on all the training rows.
/// In scikit-learn terms the objective mean CE + lambda/2 ||W||² (bias unpenalised) is
/// LogisticRegression(multi_class="multinomial", C = 1 / (lambda N)) on StandardScaler'd features.
/// </summary>
public static class LinearProbe
{
    /// <summary>1e-4 .. 1e1, half a decade apart.</summary>
    public static readonly double[] DefaultLambdas = Enumerable.Range(0, 11).Select(i => Math.Pow(10, -4 + 0.5 * i)).ToArray();

    /// <param name="features">[N, dim] frozen features of the training subset, row-major.</param>
    /// <param name="labels">N class indices in 0..classes-1.</param>
    public static ProbeResult Fit(float[] features, int dim, int[] labels, int classes, ProbeOptions? options = null)
    {
        options ??= new ProbeOptions();
        if (dim <= 0 || features.Length != labels.Length * dim || labels.Length == 0)
            throw new ArgumentException($"linear probe: {features.Length} feature values for {labels.Length} labels of dim {dim}");
        if (classes < 2) throw new ArgumentOutOfRangeException(nameof(classes), classes, "linear probe: need at least two classes");
        CheckLabels(labels, classes);
        if (options.ValidationFraction is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(options), options.ValidationFraction, "linear probe: ValidationFraction must be in [0, 1)");
        if (options.MaxIterations < 1) throw new ArgumentOutOfRangeException(nameof(options), options.MaxIterations, "linear probe: MaxIterations must be >= 1");
        var lambdas = (options.Lambdas ?? DefaultLambdas).OrderDescending().ToArray();
        if (lambdas.Length == 0 || lambdas.Any(l => !(l > 0) || double.IsInfinity(l)))
            throw new ArgumentException($"linear probe: lambdas must be finite and > 0, got [{string.Join(", ", lambdas)}]");

        // A class with no rows has no finite optimum (its unpenalised bias would run to -inf), so the model covers
        // the classes present, relabelled 0..kf-1, and Predict gives the others probability 0.
        var seen = new bool[classes];
        foreach (int l in labels) seen[l] = true;
        int[] fitted = Enumerable.Range(0, classes).Where(c => seen[c]).ToArray();
        if (fitted.Length < 2) throw new ArgumentException($"linear probe: only class {fitted[0]} occurs in the {labels.Length} labels; need two");
        var compact = new int[classes];
        for (int c = 0; c < fitted.Length; c++) compact[fitted[c]] = c;
        var y = labels.Select(l => compact[l]).ToArray();
        int kf = fitted.Length, n = labels.Length;

        var (mean, invStd) = Moments(features, dim);
        var x = Standardise(features, dim, mean, invStd);
        var model = new SoftmaxRegression(x, dim, y, kf);
        var (train, val) = ValidationSplit(y, kf, options.ValidationFraction, options.Seed);

        double chosen = lambdas[0], bestAccuracy = double.NaN;
        var grid = new List<LambdaScore>();
        if (val.Length > 0)
        {
            // largest lambda first, each fit warm-started from the previous one (a smooth path, fewer iterations);
            // a strictly better accuracy is needed to move to a smaller lambda, so ties keep the larger one
            var theta = new double[model.ParameterCount];
            foreach (double lambda in lambdas)
            {
                Minimise(model, theta, train, lambda, options);
                double acc = Accuracy(theta, x, dim, y, kf, val);
                grid.Add(new LambdaScore(lambda, acc));
                if (double.IsNaN(bestAccuracy) || acc > bestAccuracy) { bestAccuracy = acc; chosen = lambda; }
            }
        }
        // the final fit starts from zero, so it does not depend on the path through the grid
        var final = new double[model.ParameterCount];
        var (iterations, converged) = Minimise(model, final, Enumerable.Range(0, n).ToArray(), chosen, options);
        return new ProbeResult(dim, classes, fitted, mean, invStd, final, chosen, bestAccuracy, grid, iterations, converged);
    }

    static (int, bool) Minimise(SoftmaxRegression model, double[] theta, int[] rows, double lambda, ProbeOptions o) =>
        Lbfgs.Minimize((t, g) => model.Evaluate(t, g, rows, lambda), theta, o.MaxIterations, o.Tolerance);

    static double Accuracy(double[] theta, double[] x, int dim, int[] labels, int classes, int[] rows)
    {
        var p = new double[classes];
        int hit = 0;
        foreach (int i in rows)
        {
            SoftmaxRegression.Probabilities(theta, x.AsSpan(i * dim, dim), p);
            if (Scores.Argmax(p, classes)[0] == labels[i]) hit++;
        }
        return (double)hit / rows.Length;
    }

    /// <summary>
    /// A seeded, class-stratified <paramref name="fraction"/> of the rows (sorted indices): from each class present,
    /// the first ceil(n_c * fraction) (at least 1) of that class's seeded permutation. Every fraction is a prefix of
    /// the same per-class permutations, so for one seed the 1% subset lies inside the 10% subset inside 100%.
    /// Rounding up per class, with one sample per present class, can exceed fraction * N by up to one per class.
    /// </summary>
    public static int[] StratifiedSubset(int[] labels, int classes, double fraction, ulong seed)
    {
        if (fraction is <= 0 or > 1) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "must be in (0, 1]");
        CheckLabels(labels, classes);
        var pick = new List<int>();
        foreach (var order in ClassOrders(labels, classes, seed))
            if (order.Length > 0) pick.AddRange(order[..Math.Clamp((int)Math.Ceiling(order.Length * fraction - 1e-9), 1, order.Length)]);
        var result = pick.ToArray();
        Array.Sort(result);
        return result;
    }

    /// <summary>Holds out round(n_c * fraction) of each class, at least one from a class with two or more samples
    /// (when fraction &gt; 0) and never a class's last training sample. Both index lists are sorted.</summary>
    internal static (int[] Train, int[] Val) ValidationSplit(int[] labels, int classes, double fraction, ulong seed)
    {
        var train = new List<int>();
        var val = new List<int>();
        // a seed stream apart from StratifiedSubset's, so the held-out rows are not the subset's first picks
        foreach (var order in ClassOrders(labels, classes, seed ^ 0x6A09E667F3BCC908UL))
        {
            int nVal = fraction == 0 || order.Length < 2 ? 0 : Math.Clamp((int)Math.Round(order.Length * fraction), 1, order.Length - 1);
            val.AddRange(order[..nVal]);
            train.AddRange(order[nVal..]);
        }
        var t = train.ToArray(); var v = val.ToArray();
        Array.Sort(t); Array.Sort(v);
        return (t, v);
    }

    /// <summary>Each class's row indices in a seeded order (class c shuffled with its own seed stream).</summary>
    static int[][] ClassOrders(int[] labels, int classes, ulong seed)
    {
        var members = Enumerable.Range(0, classes).Select(_ => new List<int>()).ToArray();
        for (int i = 0; i < labels.Length; i++) members[labels[i]].Add(i);
        return members.Select((m, c) =>
        {
            var perm = Splits.Permutation(m.Count, seed + (ulong)(c + 1) * 0x9E3779B97F4A7C15UL);
            return perm.Select(j => m[j]).ToArray();
        }).ToArray();
    }

    static void CheckLabels(int[] labels, int classes)
    {
        for (int i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)classes) throw new ArgumentOutOfRangeException(nameof(labels), $"sample {i}: label {labels[i]} outside 0..{classes - 1}");
    }

    /// <summary>Per-feature mean and 1/std (population std, as StandardScaler); a constant feature gets 1/std = 1.</summary>
    static (double[] Mean, double[] InvStd) Moments(float[] f, int dim)
    {
        int n = f.Length / dim;
        var mean = new double[dim];
        var inv = new double[dim];
        for (int i = 0; i < n; i++) for (int j = 0; j < dim; j++) mean[j] += f[i * dim + j];
        for (int j = 0; j < dim; j++) mean[j] /= n;
        for (int i = 0; i < n; i++) for (int j = 0; j < dim; j++) { double d = f[i * dim + j] - mean[j]; inv[j] += d * d; }
        for (int j = 0; j < dim; j++)
        {
            double std = Math.Sqrt(inv[j] / n);
            if (!double.IsFinite(std)) throw new ArgumentException($"linear probe: feature {j} has non-finite values");
            inv[j] = std > 1e-12 * Math.Max(1, Math.Abs(mean[j])) ? 1 / std : 1;
        }
        return (mean, inv);
    }

    internal static double[] Standardise(float[] f, int dim, double[] mean, double[] invStd)
    {
        var x = new double[f.Length];
        for (int i = 0; i < f.Length; i++) x[i] = (f[i] - mean[i % dim]) * invStd[i % dim];
        return x;
    }
}
