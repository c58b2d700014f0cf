using Cleft.Kernels;

namespace Cleft.Tests.Autograd;

/// <summary>
/// Plain double-precision forwards of every op, written as directly as possible from the definitions and
/// sharing no code with the engine (broadcasting is numpy's rule here, not the engine's Broadcast map).
/// </summary>
public static class Reference64
{
    public static long Count(int[] shape) { long n = 1; foreach (int d in shape) n *= d; return n; }

    /// <summary>a op b with b broadcast onto a by numpy rules (b's shape right-aligned, size-1 axes repeat).</summary>
    public static double[] Binary(char op, float[] a, int[] aShape, float[] b, int[] bShape)
    {
        int rank = aShape.Length;
        bShape = bShape.SkipWhile((d, i) => d == 1 && bShape.Length - i > rank).ToArray();
        var bs = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int j = i - (rank - bShape.Length);
            bs[i] = j < 0 ? 1 : bShape[j];
        }
        var y = new double[a.Length];
        var idx = new int[rank];
        for (long i = 0; i < a.Length; i++)
        {
            long r = i;
            for (int d = rank - 1; d >= 0; d--) { idx[d] = (int)(r % aShape[d]); r /= aShape[d]; }
            long bi = 0;
            for (int d = 0; d < rank; d++) bi = bi * bs[d] + (bs[d] == 1 ? 0 : idx[d]);
            double x = a[i], w = b[bi];
            y[i] = op switch { '+' => x + w, '-' => x - w, '*' => x * w, '/' => x / w, _ => throw new ArgumentException(op.ToString()) };
        }
        return y;
    }

    public static double[] Scale(float[] x, double alpha) => x.Select(v => alpha * v).ToArray();

    /// <summary>op(A[b]) op(B[b]) for each batch b; <paramref name="sharedB"/> uses one B for all batches.</summary>
    public static double[] MatMul(float[] a, float[] b, int batch, int m, int n, int k, bool ta, bool tb, bool sharedB)
    {
        var c = new double[(long)batch * m * n];
        for (int bt = 0; bt < batch; bt++)
        {
            long ao = (long)bt * m * k, bo = sharedB ? 0 : (long)bt * k * n, co = (long)bt * m * n;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double s = 0;
                    for (int p = 0; p < k; p++)
                    {
                        double av = ta ? a[ao + (long)p * m + i] : a[ao + (long)i * k + p];
                        double bv = tb ? b[bo + (long)j * k + p] : b[bo + (long)p * n + j];
                        s += av * bv;
                    }
                    c[co + (long)i * n + j] = s;
                }
        }
        return c;
    }

    /// <summary>Sum (or mean) over one axis, or over everything when <paramref name="axis"/> is null.</summary>
    public static double[] Reduce(float[] x, int[] shape, int? axis, bool mean)
    {
        if (axis is null)
        {
            double s = 0;
            foreach (float v in x) s += v;
            return [mean ? s / x.Length : s];
        }
        int a = axis.Value < 0 ? axis.Value + shape.Length : axis.Value;
        long outer = 1, inner = 1;
        for (int i = 0; i < a; i++) outer *= shape[i];
        for (int i = a + 1; i < shape.Length; i++) inner *= shape[i];
        int n = shape[a];
        var y = new double[outer * inner];
        for (long o = 0; o < outer; o++)
            for (long q = 0; q < inner; q++)
            {
                double s = 0;
                for (int j = 0; j < n; j++) s += x[(o * n + j) * inner + q];
                y[o * inner + q] = mean ? s / n : s;
            }
        return y;
    }

    public static double[] Softmax(float[] x, int rows, int cols, bool log)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity;
            for (int j = 0; j < cols; j++) max = Math.Max(max, x[r * cols + j]);
            double s = 0;
            for (int j = 0; j < cols; j++) s += Math.Exp(x[r * cols + j] - max);
            for (int j = 0; j < cols; j++)
            {
                double z = x[r * cols + j] - max;
                y[r * cols + j] = log ? z - Math.Log(s) : Math.Exp(z) / s;
            }
        }
        return y;
    }

    public static double[] LayerNorm(float[] x, float[]? gamma, float[]? beta, int rows, int cols, double eps)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double mu = 0, var = 0;
            for (int j = 0; j < cols; j++) mu += x[r * cols + j];
            mu /= cols;
            for (int j = 0; j < cols; j++) { double d = x[r * cols + j] - mu; var += d * d; }
            var /= cols;
            double rs = 1 / Math.Sqrt(var + eps);
            for (int j = 0; j < cols; j++)
                y[r * cols + j] = (x[r * cols + j] - mu) * rs * (gamma?[j] ?? 1.0) + (beta?[j] ?? 0.0);
        }
        return y;
    }

    public static double[] Gelu(float[] x) => x.Select(v =>
    {
        double t = Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v));
        return 0.5 * v * (1 + t);
    }).ToArray();

    /// <summary>d/dx of the tanh GELU: 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2), t the tanh above.</summary>
    public static double GeluTanhDerivative(double x)
    {
        double c = Math.Sqrt(2 / Math.PI), t = Math.Tanh(c * (x + 0.044715 * x * x * x));
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
    }

    /// <summary>d/dx of the exact GELU x Phi(x): Phi(x) + x phi(x).</summary>
    public static double GeluErfDerivative(double x) =>
        0.5 * (1 + Erf(x / Math.Sqrt(2))) + x * Math.Exp(-0.5 * x * x) / Math.Sqrt(2 * Math.PI);

    /// <summary>
    /// erf in float64: Maclaurin series below 2.5 (terms peak near e^6, so ~1e-14 absolute), the continued
    /// fraction of erfc above (converges fast there). .NET has no Math.Erf.
    /// </summary>
    public static double Erf(double z)
    {
        double a = Math.Abs(z), r;
        if (a < 2.5)
        {
            double term = a, sum = a;
            for (int n = 1; n < 200 && Math.Abs(term) > 1e-18; n++)
            {
                term *= -a * a / n;
                sum += term / (2 * n + 1);
            }
            r = 2 / Math.Sqrt(Math.PI) * sum;
        }
        else
        {
            double f = a;                       // erfc(a) = exp(-a^2)/sqrt(pi) / (a + (1/2)/(a + 1/(a + (3/2)/(a + ...))))
            for (int k = 80; k >= 1; k--) f = a + k / 2.0 / f;
            r = 1 - Math.Exp(-a * a) / Math.Sqrt(Math.PI) / f;
        }
        return z < 0 ? -r : r;
    }


    /// <summary>Rows of a [R, dim] table at each id (embedding and index-select are the same gather).</summary>
    public static double[] Gather(float[] table, int dim, int[] ids)
    {
        var y = new double[(long)ids.Length * dim];
        for (int t = 0; t < ids.Length; t++)
            for (int j = 0; j < dim; j++) y[(long)t * dim + j] = table[(long)ids[t] * dim + j];
        return y;
    }

    public static double CrossEntropy(float[] logits, int[] targets, int classes, int ignoreIndex)
    {
        double total = 0; int counted = 0;
        var logp = Softmax(logits, targets.Length, classes, log: true);
        for (int r = 0; r < targets.Length; r++)
        {
            if (targets[r] == ignoreIndex) continue;
            total -= logp[r * classes + targets[r]];
            counted++;
        }
        return counted == 0 ? 0 : total / counted;
    }

    /// <summary>Output axis k is input axis perm[k].</summary>
    public static double[] Permute(float[] x, int[] shape, int[] perm)
    {
        int rank = shape.Length;
        var outShape = perm.Select(p => shape[p]).ToArray();
        var inStride = new long[rank];
        long s = 1;
        for (int i = rank - 1; i >= 0; i--) { inStride[i] = s; s *= shape[i]; }
        var y = new double[x.Length];
        var idx = new int[rank];
        for (long i = 0; i < x.Length; i++)
        {
            long r = i;
            for (int d = rank - 1; d >= 0; d--) { idx[d] = (int)(r % outShape[d]); r /= outShape[d]; }
            long src = 0;
            for (int d = 0; d < rank; d++) src += idx[d] * inStride[perm[d]];
            y[i] = x[src];
        }
        return y;
    }

    public static double[] Slice(float[] x, int[] shape, int axis, int start, int length)
    {
        long outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= shape[i];
        for (int i = axis + 1; i < shape.Length; i++) inner *= shape[i];
        var y = new List<double>();
        for (long o = 0; o < outer; o++)
            for (int j = start; j < start + length; j++)
                for (long q = 0; q < inner; q++) y.Add(x[(o * shape[axis] + j) * inner + q]);
        return [.. y];
    }

    public static double[] Concat(int axis, params (float[] Data, int[] Shape)[] parts)
    {
        var shape = parts[0].Shape;
        long outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= shape[i];
        for (int i = axis + 1; i < shape.Length; i++) inner *= shape[i];
        var y = new List<double>();
        for (long o = 0; o < outer; o++)
            foreach (var (data, s) in parts)
                for (long q = 0; q < s[axis] * inner; q++) y.Add(data[o * s[axis] * inner + q]);
        return [.. y];
    }

    public static double[] Repeat(float[] x, int times)
    {
        var y = new double[(long)x.Length * times];
        for (int t = 0; t < times; t++)
            for (int i = 0; i < x.Length; i++) y[(long)t * x.Length + i] = x[i];
        return y;
    }

    /// <summary>Inverted dropout from its definition: element i is dropped when its counter-based uniform is below p.</summary>
    public static double[] Dropout(float[] x, double p, ulong seed)
    {
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++) y[i] = CounterRng.Uniform(seed, i) < p ? 0 : x[i] / (1 - p);
        return y;
    }
}
