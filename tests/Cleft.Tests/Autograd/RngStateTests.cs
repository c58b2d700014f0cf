using Cleft.Autograd;

namespace Cleft.Tests.Autograd;

public sealed class RngStateTests
{
    [Fact]
    public void ImportedStateDrawsWhatTheOriginalDraws()
    {
        var a = new Rng(5);
        for (int i = 0; i < 7; i++) a.NextUInt64();
        a.NextNormal(); // leaves a cached second normal: part of the state
        var b = new Rng(99);
        b.ImportState(a.ExportState());
        for (int i = 0; i < 20; i++) Assert.Equal(a.NextNormal(), b.NextNormal());
        Assert.Equal(a.NextUInt64(), b.NextUInt64());
    }

    [Fact]
    public void InvalidStatesAreRefused()
    {
        var r = new Rng(1);
        Assert.Throws<ArgumentException>(() => r.ImportState(new ulong[5]));
        Assert.Throws<ArgumentException>(() => r.ImportState(new ulong[6]));          // all-zero xoshiro state
        Assert.Throws<ArgumentException>(() => r.ImportState([1, 2, 3, 4, 7, 0]));    // spare flag not 0/1
    }
}
