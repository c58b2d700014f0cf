namespace Cleft.Kernels;

/// <summary>
/// Stateless random numbers keyed by (seed, index): the same function runs inside ILGPU kernels and the
/// managed backend, so dropout masks agree bit for bit across devices and a backward pass can regenerate a
/// mask instead of storing it.
/// </summary>
public static class CounterRng
{
    /// <summary>SplitMix64 finaliser of seed + golden-ratio * (index + 1).</summary>
    public static ulong Hash(ulong seed, long index)
    {
        ulong z = seed + 0x9E3779B97F4A7C15UL * (ulong)(index + 1);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 24 random bits (exactly representable, identical on every device).</summary>
    public static float Uniform(ulong seed, long index) => (Hash(seed, index) >> 40) * (1.0f / 16777216.0f);

    /// <summary>The dropout rule shared by both backends.</summary>
    public static float DropoutValue(float x, float p, ulong seed, long index)
        => Uniform(seed, index) < p ? 0f : x / (1f - p);
}
