using System.Numerics.Tensors;

namespace Cleft.Train.Metrics;

/// <summary>
/// Multinomial logistic regression objective on rows of a standardised [N, dim] matrix:
/// f(W, b) = mean_i [logsumexp(z_i) - z_i[y_i]] + lambda/2 ||W||², z_i = W x_i + b; the bias is not penalised
/// (as scikit-learn's lbfgs solver). Parameters are packed [W (K x dim, row-major), b (K)].
/// Rows are summed in fixed blocks, each into its own buffer, then the blocks in order, so the result does not
/// depend on the thread count.
/// </summary>
sealed class SoftmaxRegression(double[] x, int dim, int[] labels, int classes)
{
    const int Block = 256;

    public int ParameterCount => classes * (dim + 1);

    /// <summary>Loss at theta over <paramref name="rows"/>; the gradient goes into <paramref name="grad"/>.</summary>
    public double Evaluate(double[] theta, double[] grad, int[] rows, double lambda)
    {
        int blocks = (rows.Length + Block - 1) / Block;
        var partial = new double[blocks][];
        var loss = new double[blocks];
        Parallel.For(0, blocks, bi =>
        {
            var g = partial[bi] = new double[ParameterCount];
            var z = new double[classes];
            double l = 0;
            for (int r = bi * Block; r < Math.Min(rows.Length, (bi + 1) * Block); r++)
            {
                int i = rows[r];
                var xi = x.AsSpan(i * dim, dim);
                l += Probabilities(theta, xi, z, labels[i]);
                z[labels[i]] -= 1; // z now holds p - onehot(y): dLoss/dlogits
                for (int k = 0; k < classes; k++)
                {
                    var gk = g.AsSpan(k * dim, dim);
                    TensorPrimitives.MultiplyAdd(xi, z[k], gk, gk);
                    g[classes * dim + k] += z[k];
                }
            }
            loss[bi] = l;
        });
        Array.Clear(grad);
        double total = 0;
        for (int bi = 0; bi < blocks; bi++)
        {
            total += loss[bi];
            TensorPrimitives.Add(grad, partial[bi], grad);
        }
        double inv = 1.0 / rows.Length;
        TensorPrimitives.Multiply(grad, inv, grad);
        var w = theta.AsSpan(0, classes * dim);
        TensorPrimitives.MultiplyAdd(w, lambda, grad.AsSpan(0, classes * dim), grad.AsSpan(0, classes * dim));
        return total * inv + 0.5 * lambda * TensorPrimitives.Dot(w, w);
    }

    /// <summary>Writes softmax(W x + b) into <paramref name="p"/> and returns the cross-entropy -log p[label]
    /// (0 when label is -1), computed from the shifted logits so it stays finite when p[label] underflows.</summary>
    internal static double Probabilities(ReadOnlySpan<double> theta, ReadOnlySpan<double> xi, Span<double> p, int label = -1)
    {
        int dim = xi.Length, classes = p.Length;
        double max = double.NegativeInfinity;
        for (int k = 0; k < classes; k++)
        {
            p[k] = TensorPrimitives.Dot(theta.Slice(k * dim, dim), xi) + theta[classes * dim + k];
            max = Math.Max(max, p[k]);
        }
        double sum = 0, shiftedLabel = 0;
        for (int k = 0; k < classes; k++)
        {
            double e = p[k] - max;
            if (k == label) shiftedLabel = e;
            sum += p[k] = Math.Exp(e);
        }
        for (int k = 0; k < classes; k++) p[k] /= sum;
        return label < 0 ? 0 : Math.Log(sum) - shiftedLabel;
    }
}
