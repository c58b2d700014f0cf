using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Kernels.Cpu;

namespace Cleft.Tests.Autograd;

/// <summary>Random test data and closeness assertions shared by the op tests.</summary>
public static class TestData
{
    /// <summary>Magnitudes in [0.5, 1.5) with random signs: never zero, so divisions and relative errors stay tame.</summary>
    public static float[] NonZero(Rng rng, long n)
    {
        var v = new float[n];
        for (long i = 0; i < n; i++)
        {
            float m = 0.5f + (float)rng.NextDouble();
            v[i] = rng.NextDouble() < 0.5 ? -m : m;
        }
        return v;
    }

    public static float[] Normal(Rng rng, long n, float std = 1f)
    {
        var v = new float[n];
        rng.FillNormal(v, 0f, std);
        return v;
    }

    /// <summary>|actual - expected| &lt;= atol + rtol |expected| everywhere; the message names the worst element.</summary>
    public static void AssertClose(double[] expected, float[] actual, double atol, double rtol, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {actual.Length} values, expected {expected.Length}");
        int worst = -1; double worstExcess = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]), allowed = atol + rtol * Math.Abs(expected[i]);
            if (!(err <= allowed) && (worst < 0 || err - allowed > worstExcess)) { worst = i; worstExcess = err - allowed; }
        }
        if (worst >= 0)
            Assert.Fail($"{what}: element {worst} is {actual[worst]:R}, expected {expected[worst]:R} (atol {atol}, rtol {rtol})");
    }

    public static void AssertClose(double[] expected, Tensor actual, double atol, double rtol, string what) =>
        AssertClose(expected, actual.ToArray(), atol, rtol, what);
}

/// <summary>
/// Central-difference gradient check. The scalar loss is sum(output * w) with fixed random w, accumulated in
/// float64 on the host, so the only float32 rounding is in the op itself. Analytic gradients come from
/// Backward(w); numerical ones from (L(x + h) - L(x - h)) / (x+h - x-h), using the step actually taken
/// after rounding x +- h to float32.
/// </summary>
public static class GradCheck
{
    /// <summary>
    /// Central differences of the scalar <paramref name="loss"/> against the analytic gradients already in the
    /// parameters' Grad, for up to <paramref name="perTensor"/> evenly spread elements (offset per tensor) of every
    /// parameter <paramref name="which"/> picks. Returns the elements and tensors checked.
    /// </summary>
    public static (int Elements, int Tensors) Parameters(Module model, Func<double> loss, Func<string, bool> which,
        int perTensor, double step, double atol, double rtol)
    {
        int count = 0, tensors = 0;
        foreach (var (name, p) in model.NamedParameters().Where(x => which(x.Name)))
        {
            Assert.True(p.Grad is not null, $"{name} received no gradient");
            var analytic = p.Grad!.ToArray();
            var data = p.ToArray();
            int stride = Math.Max(1, data.Length / perTensor);
            var picked = Enumerable.Range(0, data.Length).Where(j => j % stride == tensors % stride).Take(perTensor).ToArray();
            var numeric = new double[picked.Length];
            for (int k = 0; k < picked.Length; k++)
            {
                int j = picked[k];
                float x0 = data[j], xp = (float)(x0 + step), xm = (float)(x0 - step);
                data[j] = xp; p.Load(data); double lp = loss();
                data[j] = xm; p.Load(data); double lm = loss();
                data[j] = x0; p.Load(data);
                numeric[k] = (lp - lm) / ((double)xp - xm);
            }
            TestData.AssertClose(numeric, picked.Select(j => analytic[j]).ToArray(), atol, rtol, $"gradient of {name} {p.ShapeString} at [{string.Join(",", picked)}]");
            count += picked.Length;
            tensors++;
        }
        return (count, tensors);
    }

    public sealed record Input(float[] Data, int[] Shape, bool RequiresGrad = true);

    public static Input In(float[] data, params int[] shape) => new(data, shape);
    public static Input Const(float[] data, params int[] shape) => new(data, shape, RequiresGrad: false);

    /// <summary>Checks d(sum(f(inputs) * w))/d(input) for every input that requires a gradient.</summary>
    public static void Run(Func<Tensor[], Tensor> f, Input[] inputs, double step, double atol, double rtol, ulong seed = 7)
    {
        using var dev = new CpuBackend();
        Run(dev, f, inputs, step, atol, rtol, seed);
    }

    /// <summary>As above on a given device (for ops that also take IntTensors made on it).</summary>
    public static void Run(IBackend dev, Func<Tensor[], Tensor> f, Input[] inputs, double step, double atol, double rtol, ulong seed = 7)
    {
        var analytic = Analytic(dev, f, inputs, seed, out var weights);
        for (int i = 0; i < inputs.Length; i++)
        {
            if (!inputs[i].RequiresGrad) continue;
            var data = (float[])inputs[i].Data.Clone();
            var numeric = new double[data.Length];
            for (int j = 0; j < data.Length; j++)
            {
                float x0 = data[j];
                float xp = (float)(x0 + step), xm = (float)(x0 - step);
                data[j] = xp;
                double lp = Loss(dev, f, inputs, i, data, weights);
                data[j] = xm;
                double lm = Loss(dev, f, inputs, i, data, weights);
                data[j] = x0;
                numeric[j] = (lp - lm) / ((double)xp - xm);
            }
            TestData.AssertClose(numeric, analytic[i]!, atol, rtol, $"gradient of input {i} {Fmt(inputs[i].Shape)} (step {step})");
        }
    }

    static string Fmt(int[] s) => "[" + string.Join(",", s) + "]";

    static float[]?[] Analytic(IBackend dev, Func<Tensor[], Tensor> f, Input[] inputs, ulong seed, out double[] weights)
    {
        using var scope = new TensorScope();
        var leaves = inputs.Select(x => { var t = Tensor.FromArray(dev, x.Data, x.Shape); t.RequiresGrad = x.RequiresGrad; return t; }).ToArray();
        var y = f(leaves);
        var w = TestData.Normal(new Rng(seed), y.Length);
        weights = w.Select(v => (double)v).ToArray();
        Assert.True(y.RequiresGrad, "the output does not require grad");
        y.Backward(Tensor.FromArray(dev, w, y.Shape));
        var grads = new float[]?[inputs.Length];
        for (int i = 0; i < inputs.Length; i++)
        {
            if (!inputs[i].RequiresGrad) continue;
            Assert.True(leaves[i].Grad is not null, $"input {i} {Fmt(inputs[i].Shape)} received no gradient");
            grads[i] = leaves[i].Grad!.ToArray();
        }
        foreach (var l in leaves) l.Dispose();
        return grads;
    }

    static double Loss(IBackend dev, Func<Tensor[], Tensor> f, Input[] inputs, int replaced, float[] data, double[] w)
    {
        using var scope = new TensorScope();
        using var _ = GradMode.NoGrad();
        var leaves = inputs.Select((x, k) => Tensor.FromArray(dev, k == replaced ? data : x.Data, x.Shape)).ToArray();
        var y = f(leaves).ToArray();
        double s = 0;
        for (int k = 0; k < y.Length; k++) s += y[k] * w[k];
        return s;
    }
}
