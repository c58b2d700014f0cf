namespace Cleft.Autograd;

/// <summary>
/// Seeded host random numbers (xoshiro256**, seeded by SplitMix64). All initialisation, shuffling and
/// dropout seeds come from here, so a run is a pure function of its seed.
/// </summary>
public sealed class Rng
{
    ulong _s0, _s1, _s2, _s3;
    double? _spareNormal;

    public Rng(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
    }

    /// <summary>
    /// The generator's whole state: the four xoshiro words, a flag (1 when a second Box-Muller value is cached)
    /// and that value's bits. A checkpoint stores it so a resumed run draws what an uninterrupted one would.
    /// </summary>
    public ulong[] ExportState() =>
        [_s0, _s1, _s2, _s3, _spareNormal.HasValue ? 1UL : 0UL, _spareNormal is { } v ? BitConverter.DoubleToUInt64Bits(v) : 0UL];

    public void ImportState(ReadOnlySpan<ulong> state)
    {
        if (state.Length != 6) throw new ArgumentException($"Rng state has {state.Length} words, expected 6");
        if ((state[0] | state[1] | state[2] | state[3]) == 0) throw new ArgumentException("Rng state is all zero (not a xoshiro state)");
        if (state[4] > 1) throw new ArgumentException($"Rng state: spare flag {state[4]} must be 0 or 1");
        (_s0, _s1, _s2, _s3) = (state[0], state[1], state[2], state[3]);
        _spareNormal = state[4] == 1 ? BitConverter.UInt64BitsToDouble(state[5]) : null;
    }

    static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n));
        return (int)(NextDouble() * n);
    }

    /// <summary>Standard normal (Box-Muller, both values used).</summary>
    public double NextNormal()
    {
        if (_spareNormal is { } s) { _spareNormal = null; return s; }
        double u1 = 1.0 - NextDouble(), u2 = NextDouble();
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        _spareNormal = r * Math.Sin(2 * Math.PI * u2);
        return r * Math.Cos(2 * Math.PI * u2);
    }

    public void FillNormal(Span<float> data, float mean, float std)
    {
        for (int i = 0; i < data.Length; i++) data[i] = (float)(mean + std * NextNormal());
    }

    public void FillUniform(Span<float> data, float low, float high)
    {
        for (int i = 0; i < data.Length; i++) data[i] = (float)(low + (high - low) * NextDouble());
    }

    /// <summary>Fisher-Yates shuffle.</summary>
    public void Shuffle<T>(Span<T> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
