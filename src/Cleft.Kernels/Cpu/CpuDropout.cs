using System.Runtime.Intrinsics;

namespace Cleft.Kernels.Cpu;

/// <summary>
/// <see cref="CounterRng.DropoutValue"/> over a span, 16 elements at a time: the SplitMix64 hash in two Vector512 of
/// ulong lanes, its top 24 bits to float, the same compare and the same division. Every step is exact integer
/// arithmetic or one IEEE operation, so each element is bit for bit what the scalar rule gives (CpuDropoutTests) -
/// the masks still agree with the ILGPU kernels. Element by element the hash cost more than the LoRA adapter's
/// arithmetic it feeds (64-bit multiplies, one element per call).
/// </summary>
public static class CpuDropout
{
    /// <summary>dst[i] = DropoutValue(x[i], p, seed, start + i); dst may be x.</summary>
    public static void Apply(ReadOnlySpan<float> x, Span<float> dst, float p, ulong seed, long start)
    {
        if (dst.Length != x.Length) throw new ArgumentException($"dropout: {x.Length} inputs, {dst.Length} outputs");
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var golden = Vector512.Create(0x9E3779B97F4A7C15UL);
            var seedV = Vector512.Create(seed);
            var step = Vector512.Create(1UL, 2, 3, 4, 5, 6, 7, 8); // index + 1 for lanes 0..7
            var pV = Vector512.Create(p);
            var keep = Vector512.Create(1f - p);
            var unit = Vector512.Create(1.0f / 16777216.0f);
            for (; i + 16 <= x.Length; i += 16)
            {
                var k0 = Vector512.Create((ulong)(start + i)) + step;
                var h0 = Mix(seedV + golden * k0);
                var h1 = Mix(seedV + golden * (k0 + Vector512.Create(8UL)));
                var u = Vector512.ConvertToSingle(Vector512.Narrow(h0 >> 40, h1 >> 40)) * unit;
                var v = Vector512.Create(x.Slice(i, 16));
                Vector512.ConditionalSelect(Vector512.LessThan(u, pV), Vector512<float>.Zero, v / keep).CopyTo(dst.Slice(i, 16));
            }
        }
        for (; i < x.Length; i++) dst[i] = CounterRng.DropoutValue(x[i], p, seed, start + i);
    }

    /// <summary>SplitMix64's finaliser, lane by lane (CounterRng.Hash after its first line).</summary>
    static Vector512<ulong> Mix(Vector512<ulong> z)
    {
        z = (z ^ (z >> 30)) * Vector512.Create(0xBF58476D1CE4E5B9UL);
        z = (z ^ (z >> 27)) * Vector512.Create(0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }
}
