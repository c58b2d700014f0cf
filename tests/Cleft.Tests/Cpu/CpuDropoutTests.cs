using Cleft.Kernels;
using Cleft.Kernels.Cpu;

namespace Cleft.Tests.Cpu;

/// <summary>The 16-lane dropout must give every element exactly the scalar rule's bits (the masks are shared with ILGPU).</summary>
public sealed class CpuDropoutTests
{
    [Theory]
    [InlineData(0.1f, 0L, 1000)]
    [InlineData(0.5f, 5L, 17)]
    [InlineData(0.9f, 123_456_789_012L, 33)]
    [InlineData(0f, 3L, 40)]
    [InlineData(0.25f, 7L, 15)]
    [InlineData(0.25f, 0L, 0)]
    public void LanesGiveTheScalarRuleBitForBit(float p, long start, int length)
    {
        var rng = new Random(length + (int)(p * 100));
        var x = new float[length];
        for (int i = 0; i < length; i++) x[i] = (float)(rng.NextDouble() * 8 - 4);
        foreach (ulong seed in new ulong[] { 0, 42, 0xFFFF_FFFF_FFFF_FFF0UL })
        {
            var got = new float[length];
            CpuDropout.Apply(x, got, p, seed, start);
            int dropped = 0;
            for (int i = 0; i < length; i++)
            {
                float want = CounterRng.DropoutValue(x[i], p, seed, start + i);
                Assert.True(BitConverter.SingleToInt32Bits(want) == BitConverter.SingleToInt32Bits(got[i]),
                    $"p {p}, seed {seed}, element {start + i}: {got[i]:R}, scalar rule {want:R}");
                if (got[i] == 0f) dropped++;
            }
            if (length >= 1000) Assert.InRange(dropped, (int)(length * p) - 40, (int)(length * p) + 40);
            // In place, as the LoRA input gradient uses it.
            var inPlace = (float[])x.Clone();
            CpuDropout.Apply(inPlace, inPlace, p, seed, start);
            Assert.Equal(got, inPlace);
        }
    }
}
