using Cleft.Kernels;

namespace Cleft.Tests.Ilgpu;

public sealed class Bf16Tests
{
    [Theory]
    [InlineData(0x3F80_0000u, (ushort)0x3F80)] // 1
    [InlineData(0x3F80_8000u, (ushort)0x3F80)] // 1 + 2^-8: a tie, stays on the even 0x3F80
    [InlineData(0x3F81_8000u, (ushort)0x3F82)] // a tie above an odd neighbour rounds up to even
    [InlineData(0x3F80_8001u, (ushort)0x3F81)] // just above a tie rounds up
    [InlineData(0x3F80_7FFFu, (ushort)0x3F80)] // just below a tie rounds down
    [InlineData(0xBF81_8000u, (ushort)0xBF82)] // sign is independent of rounding
    [InlineData(0x8000_0000u, (ushort)0x8000)] // -0
    [InlineData(0x7F80_0000u, (ushort)0x7F80)] // +inf
    [InlineData(0x7F7F_FFFFu, (ushort)0x7F80)] // float.MaxValue overflows to inf, as cvt.rn does
    [InlineData(0x7F80_0001u, (ushort)0x7FC0)] // a NaN whose payload would carry into inf stays a NaN
    [InlineData(0xFFFF_FFFFu, (ushort)0x7FC0)]
    public void FromFloatRoundsToNearestEven(uint floatBits, ushort expected)
    {
        Assert.Equal(expected, Bf16.FromFloat(BitConverter.UInt32BitsToSingle(floatBits)));
    }

    [Fact]
    public void PackPutsTheFirstValueInTheLowHalfAndUnpacksExactly()
    {
        uint pair = Bf16.Pack(3.140625f, -2.5f);
        Assert.Equal(0xC020_4049u, pair);
        Assert.Equal(3.140625f, Bf16.Low(pair));
        Assert.Equal(-2.5f, Bf16.High(pair));
        Assert.Equal(3.140625f, Bf16.ToFloat(0x4049));
        Assert.Equal(3.140625f, Bf16.Round(3.14159265f));
    }
}
