using Cleft.Kernels;
using Cleft.Kernels.Cpu;
using Cleft.Kernels.Ilgpu;
using Cleft.Tests.Autograd;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// The ILGPU attention kernels on ILGPU's CPU accelerator vs the managed backend, on random non-zero inputs at
/// shapes that leave partial 16-row tiles and partial 16-column slots. Small shapes: every group barrier costs
/// milliseconds there.
/// </summary>
public sealed class AttentionIlgpuTests
{
    public static TheoryData<string, AttentionTests.Case> Cases => new()
    {
        { "causal T37 D24 padded layer 1", new AttentionTests.Case(2, 1, 37, 24, true, [37, 21], 1, Seed: 9) },
        { "bidirectional T20 D40 padded, one empty row", new AttentionTests.Case(2, 1, 20, 40, false, [13, 0], null, Seed: 4) },
        { "causal T18 D128", new AttentionTests.Case(1, 1, 18, 128, true, null, null, Seed: 2) },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void KernelsMatchManagedBackend(string name, AttentionTests.Case c)
    {
        var s = new AttentionShape(c.B, c.H, c.T, c.D, (float)c.Scale, c.Causal, c.Lengths is not null);
        int[] mask = c.Mask ?? [0];
        var want = Managed(c, s, mask);

        using var context = Context.Create(b => b.CPU(new CPUDevice(numThreadsPerWarp: 32, numWarpsPerMultiprocessor: 8, numMultiprocessors: 1)).EnableAlgorithms());
        using var acc = context.CreateCPUAccelerator(0);
        var kernels = IlgpuAttention.Load(acc);
        using var q = acc.Allocate1D(c.Q); using var k = acc.Allocate1D(c.K); using var v = acc.Allocate1D(c.V);
        using var g = acc.Allocate1D(c.G); using var m = acc.Allocate1D(mask);
        using var o = acc.Allocate1D<float>(c.Q.Length); using var lse = acc.Allocate1D<float>(s.Rows);
        using var dq = acc.Allocate1D<float>(c.Q.Length); using var dk = acc.Allocate1D<float>(c.Q.Length); using var dv = acc.Allocate1D<float>(c.Q.Length);
        using var delta = acc.Allocate1D<float>(s.Rows);
        kernels.Forward(q.View, k.View, v.View, m.View, o.View, lse.View, s);
        kernels.Backward(q.View, k.View, v.View, m.View, o.View, lse.View, g.View, dq.View, dk.View, dv.View, delta.View, s);
        acc.Synchronize();

        Close(want.O, o.GetAsArray1D(), $"{name}: o");
        Close(want.Lse, lse.GetAsArray1D(), $"{name}: lse");
        Close(want.Dq, dq.GetAsArray1D(), $"{name}: dq");
        Close(want.Dk, dk.GetAsArray1D(), $"{name}: dk");
        Close(want.Dv, dv.GetAsArray1D(), $"{name}: dv");
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

    static Outputs Managed(AttentionTests.Case c, in AttentionShape s, int[] mask)
    {
        using var dev = new CpuBackend();
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
}
