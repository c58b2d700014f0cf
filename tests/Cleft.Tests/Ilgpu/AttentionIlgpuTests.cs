using Cleft.Kernels;
using Cleft.Kernels.Cpu;
using Cleft.Kernels.Ilgpu;
using Cleft.Tests.Autograd;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// The ILGPU attention kernels on ILGPU's CPU accelerator vs the managed backend, on random non-zero inputs at
/// shapes that leave partial 16-row tiles and partial 16-column slots, beyond the catalogue's cross-backend case
/// (AttentionCases): a batch row with no visible key (lse = +inf, zero output and gradients) and the largest
/// supported head dim. Small shapes: every group barrier costs milliseconds there.
/// </summary>
public sealed class AttentionIlgpuTests
{
    public static TheoryData<string, AttentionTests.Case> Cases => new()
    {
        { "bidirectional T20 D40 padded, one empty row", new AttentionTests.Case(2, 1, 20, 40, false, [13, 0], null, Seed: 4) },
        { "causal T18 D128", new AttentionTests.Case(1, 1, 18, 128, true, null, null, Seed: 2) },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void KernelsMatchManagedBackend(string name, AttentionTests.Case c)
    {
        var s = new AttentionShape(c.B, c.H, c.T, c.D, (float)c.Scale, c.Causal, c.Mask is not null);
        int[] mask = c.Mask ?? [0];
        using var cpu = new CpuBackend();
        var want = Run(cpu, c, s, mask);

        using var dev = IlgpuBackend.Create(DeviceKind.IlgpuCpu);
        var got = Run(dev, c, s, mask);
        Assert.Subset(new HashSet<string>(dev.LaunchedKernels),
            new HashSet<string> { "attention_forward", "attention_delta", "attention_backward_dkdv", "attention_backward_dq" });

        Close(want.O, got.O, $"{name}: o");
        Close(want.Lse, got.Lse, $"{name}: lse");
        Close(want.Dq, got.Dq, $"{name}: dq");
        Close(want.Dk, got.Dk, $"{name}: dk");
        Close(want.Dv, got.Dv, $"{name}: dv");
    }

    static void Close(float[] expected, float[] actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
            if (float.IsInfinity(expected[i])) Assert.True(expected[i] == actual[i], $"{what}[{i}] = {actual[i]}, expected {expected[i]}");
        var e = expected.Select(x => float.IsInfinity(x) ? 0.0 : x).ToArray();
        var a = actual.Select(x => float.IsInfinity(x) ? 0f : x).ToArray();
        TestData.AssertClose(e, a, 2e-5, 1e-4, what);
    }

    sealed record Outputs(float[] O, float[] Lse, float[] Dq, float[] Dk, float[] Dv);

    /// <summary>Forward and backward through the IBackend methods directly (the lse is not visible from the op).</summary>
    static Outputs Run(IBackend dev, AttentionTests.Case c, in AttentionShape s, int[] mask)
    {
        DeviceBuffer<float> Up(float[] x) { var b = dev.Allocate<float>(x.Length); dev.CopyFromHost<float>(x, b); return b; }
        float[] Down(DeviceBuffer<float> b) { var x = new float[b.Length]; dev.CopyToHost(b, x); return x; }
        var q = Up(c.Q); var k = Up(c.K); var v = Up(c.V); var g = Up(c.G);
        var m = dev.Allocate<int>(mask.Length); dev.CopyFromHost<int>(mask, m);
        var o = dev.Allocate<float>(c.Q.Length); var lse = dev.Allocate<float>(s.Rows);
        var dq = dev.Allocate<float>(c.Q.Length); var dk = dev.Allocate<float>(c.Q.Length); var dv = dev.Allocate<float>(c.Q.Length);
        dev.AttentionForward(q, k, v, m, o, lse, s);
        dev.AttentionBackward(q, k, v, m, o, lse, g, dq, dk, dv, s);
        return new Outputs(Down(o), Down(lse), Down(dq), Down(dk), Down(dv));
    }

    [Fact]
    public void AutogradOpOnIlgpuMatchesFloat64()
    {
        var c = new AttentionTests.Case(1, 2, 19, 12, true, [14], 0, Seed: 6);
        using var dev = IlgpuBackend.Create(DeviceKind.IlgpuCpu);
        var want = c.Reference();
        var (o, dq, dk, dv) = c.Run(dev);
        TestData.AssertClose(want.O, o, 2e-5, 2e-4, "o");
        TestData.AssertClose(want.Dq, dq, 1e-4, 1e-3, "dq");
        TestData.AssertClose(want.Dk, dk, 1e-4, 1e-3, "dk");
        TestData.AssertClose(want.Dv, dv, 1e-4, 1e-3, "dv");
    }
}
