using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Tests.Ilgpu;

namespace Cleft.Tests.Autograd;

/// <summary>
/// Fused attention with key masks that are not right padding, on the managed backend and on the ILGPU kernels
/// (CPU accelerator), against the float64 definition and finite differences. Right padding alone cannot tell a
/// kernel that honours the mask from one that only stops at the last real key (the managed kernels skip key
/// tiles from there on): every masked key then lies past that point. Holes and left padding put masked keys
/// among the real ones, and left padding under a causal mask leaves the first queries with nothing to see.
/// In the ILGPU collection: its shared accelerator compiles the attention kernels once for all these cases.
/// </summary>
[Collection(IlgpuCollection.Name)]
public sealed class AttentionMaskTests(IlgpuFixture fx)
{
    IBackend Device(string device) => device == "cpu" ? fx.Cpu : fx.Ilgpu;

    // T = 37: one partial 64-key tile on the managed backend, three 16-key tiles (the last partial) on ILGPU.
    static readonly Dictionary<string, AttentionTests.Case> Cases = new()
    {
        ["bidirectional, holes"] = new(2, 2, 37, 16, false, null, null, Seed: 11,
            KeyMask: AttentionTests.MaskWhere(2, 37, (b, j) => b == 0 ? j % 5 != 2 : j is < 9 or > 24)),
        ["causal, left padded, layer 1"] = new(2, 1, 37, 24, true, null, 1, Seed: 12,
            KeyMask: AttentionTests.MaskWhere(2, 37, (b, j) => j >= (b == 0 ? 6 : 30))),
        // Managed backend only (ILGPU's tiles are crossed at T = 37 already): masked keys on both sides of the 64-key tile edge.
        ["bidirectional T70, left padding and holes across the tile edge"] = new(2, 1, 70, 8, false, null, null, Seed: 13,
            KeyMask: AttentionTests.MaskWhere(2, 70, (b, j) => b == 0 ? j >= 40 && j != 63 && j != 64 : j % 3 != 0)),
    };

    public static TheoryData<string, string> Float64Cases => new()
    {
        { "cpu", "bidirectional, holes" },
        { "cpu", "causal, left padded, layer 1" },
        { "cpu", "bidirectional T70, left padding and holes across the tile edge" },
        { "ilgpu-cpu", "bidirectional, holes" },
        { "ilgpu-cpu", "causal, left padded, layer 1" },
    };

    [Theory]
    [MemberData(nameof(Float64Cases))]
    public void ForwardAndBackwardMatchFloat64(string device, string name)
    {
        var c = Cases[name];
        var dev = Device(device);
        var want = c.Reference();
        var (o, dq, dk, dv) = c.Run(dev);
        TestData.AssertClose(want.O, o, 2e-5, 2e-4, $"{device}, {name}: o");
        TestData.AssertClose(want.Dq, dq, 1e-4, 1e-3, $"{device}, {name}: dq");
        TestData.AssertClose(want.Dk, dk, 1e-4, 1e-3, $"{device}, {name}: dk");
        TestData.AssertClose(want.Dv, dv, 1e-4, 1e-3, $"{device}, {name}: dv");
    }

    /// <summary>
    /// Rows of a [2, 4] mask: holes, and left padding (under a causal mask queries 0-1 of row 0 and 0-2 of row 1 see
    /// nothing). Tiny, as every finite-difference probe is a kernel launch on the ILGPU CPU accelerator.
    /// </summary>
    public static TheoryData<string, bool, string, string> GradCases => new()
    {
        { "cpu", false, "1011", "0101" },
        { "cpu", true, "0011", "0001" },
        { "ilgpu-cpu", false, "1011", "0101" },
        { "ilgpu-cpu", true, "0011", "0001" },
    };

    [Theory]
    [MemberData(nameof(GradCases))]
    public void GradientCheck(string device, bool causal, string row0, string row1)
    {
        int b = 2, h = 1, t = 4, d = 2;
        string[] rows = [row0, row1];
        var rng = new Rng(9);
        var inputs = new[] { GradCheck.In(TestData.NonZero(rng, b * h * t * d), b, h, t, d),
            GradCheck.In(TestData.NonZero(rng, b * h * t * d), b, h, t, d), GradCheck.In(TestData.NonZero(rng, b * h * t * d), b, h, t, d) };
        var dev = Device(device);
        using var mask = IntTensor.FromArray(dev, AttentionTests.MaskWhere(b, t, (r, j) => rows[r][j] == '1'), b, t);
        GradCheck.Run(dev, x => Ops.Attention(x[0], x[1], x[2], causal, mask, layerIdx: 0), inputs, 1e-2, 2e-3, 2e-2);
    }
}
