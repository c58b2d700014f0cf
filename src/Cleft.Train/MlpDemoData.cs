using Cleft.Autograd;

namespace Cleft.Train;

/// <summary>
/// Generated classification data for the demo: interleaved 2-D spirals, one arm per class, lifted into a
/// few extra features (squares and a product). Not linearly separable, so the loss only falls if the MLP,
/// its GELU and the whole backward pass work.
/// </summary>
public sealed class MlpDemoData
{
    public const int Features = 5;

    MlpDemoData(float[] x, int[] y, int classes) { X = x; Y = y; Classes = classes; }

    public float[] X { get; }
    public int[] Y { get; }
    public int Classes { get; }
    public int Count => Y.Length;

    public static MlpDemoData Spirals(int count, int classes, Rng rng)
    {
        var x = new float[count * Features];
        var y = new int[count];
        for (int i = 0; i < count; i++)
        {
            int c = i % classes;
            double r = rng.NextDouble();
            double theta = c * 2 * Math.PI / classes + r * 3.0 + rng.NextNormal() * 0.15;
            float px = (float)(r * Math.Cos(theta)), py = (float)(r * Math.Sin(theta));
            var row = x.AsSpan(i * Features, Features);
            row[0] = px; row[1] = py; row[2] = px * px; row[3] = py * py; row[4] = px * py;
            y[i] = c;
        }
        return new MlpDemoData(x, y, classes);
    }

    /// <summary>Copies rows <paramref name="order"/>[start..start+n) into host batch arrays.</summary>
    public void Batch(ReadOnlySpan<int> order, int start, int n, Span<float> xb, Span<int> yb)
    {
        for (int i = 0; i < n; i++)
        {
            int r = order[(start + i) % order.Length];
            X.AsSpan(r * Features, Features).CopyTo(xb.Slice(i * Features, Features));
            yb[i] = Y[r];
        }
    }
}
