namespace Cleft.Benchmarks;

static class Data
{
    /// <summary>Deterministic uniform values in [-1, 1).</summary>
    public static float[] Uniform(long n, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (long i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }
}
