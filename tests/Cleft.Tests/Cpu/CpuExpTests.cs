using Cleft.Kernels.Cpu;

namespace Cleft.Tests.Cpu;

/// <summary>
/// <see cref="CpuExp"/>, the single-precision e^x behind the managed GELU and attention softmax: within 1 ulp of the
/// correctly rounded value wherever the result is a normal float, the stated edges, and the same bits whether a value
/// goes through the vector body or the scalar tail.
/// </summary>
public class CpuExpTests
{
    static float[] Exp(float[] x)
    {
        var y = new float[x.Length];
        CpuExp.Exp(x, y);
        return y;
    }

    /// <summary>Distance in units in the last place between two positive finite floats.</summary>
    static long Ulps(float a, float b) => Math.Abs((long)BitConverter.SingleToInt32Bits(a) - BitConverter.SingleToInt32Bits(b));

    [Fact]
    public void WithinOneUlpOfTheCorrectlyRoundedValue()
    {
        var rng = new Random(7);
        // The whole normal range, dense near 0 where attention's and GELU's arguments live, and the ends.
        var x = Enumerable.Range(0, 200_000).Select(i => (i % 4) switch
        {
            0 => (float)(rng.NextDouble() * (88.72 + 87.33) - 87.33),
            1 => (float)(rng.NextDouble() * 20 - 20),
            2 => (float)(rng.NextDouble() * 2 - 1),
            _ => (float)(88.72 - 0.8 * rng.NextDouble()),
        }).Concat([0f, 1f, -1f, 0.5f * MathF.Log(2), -0.5f * MathF.Log(2), 88.7228f, -87.3365f]).ToArray();
        var y = Exp(x);
        long worst = 0; int at = 0;
        for (int i = 0; i < x.Length; i++)
        {
            long u = Ulps(y[i], (float)Math.Exp(x[i]));
            if (u > worst) { worst = u; at = i; }
        }
        Assert.True(worst <= 1, $"e^{x[at]:R} = {y[at]:R}, correctly rounded {(float)Math.Exp(x[at]):R}: {worst} ulp apart");
        Assert.Equal(1f, Exp([0f])[0]);
    }

    [Fact]
    public void EdgesOverflowFlushAndNaN()
    {
        float[] edges = [89f, 1000f, float.PositiveInfinity, -87.5f, -1000f, float.NegativeInfinity, float.NaN];
        float[] want = [float.PositiveInfinity, float.PositiveInfinity, float.PositiveInfinity, 0f, 0f, 0f, float.NaN];
        // 5 x 7 values: the first 32 (or 24) go through vectors, the rest through the scalar tail.
        var x = Enumerable.Range(0, 35).Select(i => edges[i % 7]).ToArray();
        var y = Exp(x);
        for (int i = 0; i < x.Length; i++)
            Assert.True(want[i % 7].Equals(y[i]), $"element {i}: e^{x[i]} = {y[i]}, want {want[i % 7]}");
    }

    [Fact]
    public void VectorBodyAndScalarTailGiveTheSameBits()
    {
        var rng = new Random(3);
        // The bulk, and both ends of the range, where the scaling by 2^n reaches n = 128 and subnormal products (the
        // vector body scales with vscalefps on AVX-512, the tail in the exponent field).
        var x = Enumerable.Range(0, 201).Select(i => (float)((i % 3) switch
        {
            0 => rng.NextDouble() * 60 - 40,
            1 => 88.72 - 0.5 * rng.NextDouble(),
            _ => -87.33 + 0.5 * rng.NextDouble(),
        })).ToArray();
        var body = Exp(x); // all but the last few elements in vectors
        for (int i = 0; i < x.Length; i++)
        {
            var one = Exp([x[i]]); // a single element always takes the scalar tail
            Assert.True(BitConverter.SingleToInt32Bits(one[0]) == BitConverter.SingleToInt32Bits(body[i]),
                $"e^{x[i]:R}: vector {body[i]:R}, scalar {one[0]:R}");
        }
    }
}
