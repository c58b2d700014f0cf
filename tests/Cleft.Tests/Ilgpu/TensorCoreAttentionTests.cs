using Cleft.Kernels;
using Cleft.Kernels.Ilgpu;
using Cleft.Tests.Autograd;
using Xunit.Abstractions;

namespace Cleft.Tests.Ilgpu;

/// <summary>
/// The tensor-core attention kernels (TensorCoreAttention.cs) on ILGPU's CPU accelerator, where mma.sync is emulated
/// with the PTX ISA's fragment layout, against two references on bf16-rounded q, k, v:
/// <list type="bullet">
/// <item>the host model that rounds P and dS the way the kernels do (TensorCoreAttentionReference): tight, 1e-5 of the
/// output's largest magnitude (at least 1) + 1e-4 relative; only fp32 summation order and exp's last bits differ;</item>
/// <item>the managed backend's fp32 attention: loose, 1e-2 of the largest magnitude (at least 1) + 2e-2 relative, since the kernels
/// round P (and dS) to bf16 before the second product (a relative error of 2^-9 per probability).</item>
/// </list>
/// Shapes leave partial 64-row groups, 32-key tiles and 16-column d blocks. lse must match exactly where it is +inf
/// (a query with no visible key), where o and the gradients must be 0. Small shapes: each emulated mma costs two warp
/// barriers on OS threads.
/// </summary>
[Collection(IlgpuCollection.Name)]
public sealed class TensorCoreAttentionTests(IlgpuFixture fx, ITestOutputHelper output)
{
    const double TightAbs = 1e-5, TightRel = 1e-4, LooseAbs = 1e-2, LooseRel = 2e-2;

    // Holes in row 0's keys; row 1 has no visible key at all.
    static readonly int[] Holes17 = [.. Enumerable.Range(0, 17).Select(j => j % 5 == 3 ? 0 : 1), .. new int[17]];
    static readonly int[] Holes130 = [.. Enumerable.Range(0, 130).Select(j => j is 0 or 64 or 65 || j % 7 == 2 || j >= 121 ? 0 : 1)];

    public static TheoryData<string, AttentionTests.Case> Cases => new()
    {
        { "T1 D16 causal", new AttentionTests.Case(1, 1, 1, 16, true, null, null, Seed: 11) },
        { "T17 D24 bidirectional, holes, one batch row fully masked", new AttentionTests.Case(2, 1, 17, 24, false, null, null, Seed: 12, KeyMask: Holes17) },
        { "T33 D16 causal padded 33/20 (the demo's head dim)", new AttentionTests.Case(2, 1, 33, 16, true, [33, 20], null, Seed: 13) },
        { "T70 D64 causal, GPT-2 layer_idx 3", new AttentionTests.Case(1, 1, 70, 64, true, null, 3, Seed: 14) },
        { "T130 D80 causal, holes", new AttentionTests.Case(1, 1, 130, 80, true, null, null, Seed: 15, KeyMask: Holes130) },
        { "T20 D128 causal padded 13", new AttentionTests.Case(1, 1, 20, 128, true, [13], null, Seed: 16) },
        { "T40 D96 bidirectional padded 37", new AttentionTests.Case(1, 1, 40, 96, false, [37], 1, Seed: 17) },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void KernelsMatchBf16ModelAndManagedBackend(string name, AttentionTests.Case c)
    {
        var s = Shape(c);
        int[] mask = c.Mask ?? [0];
        float[] q = Rounded(c.Q), k = Rounded(c.K), v = Rounded(c.V);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var got = Run(fx.Ilgpu, q, k, v, c.G, mask, s, tensorCores: true);
        output.WriteLine($"{name}: ilgpu-cpu {sw.ElapsedMilliseconds} ms");
        var model = TensorCoreAttentionReference.Run(q, k, v, c.G, mask, s);
        var managed = Run(fx.Cpu, q, k, v, c.G, mask, s, tensorCores: false);
        foreach (var (what, want, actual) in Outputs(model, got))
            Report(Compare(want, actual, TightAbs, TightRel, out double tight), $"{name}: {what} vs bf16 model");
        foreach (var (what, want, actual) in Outputs(managed, got))
            Report(Compare(want, actual, LooseAbs, LooseRel, out double loose), $"{name}: {what} vs managed fp32");
        output.WriteLine($"largest error / allowed: {string.Join(", ", Outputs(model, got).Zip(Outputs(managed, got)).Select(x =>
            $"{x.First.Item1} {Ratio(x.First, TightAbs, TightRel):F3} (model) {Ratio(x.Second, LooseAbs, LooseRel):F3} (managed)"))}");
    }

    static double Ratio((string, float[] Want, float[] Got) x, double abs, double rel)
    {
        Compare(x.Want, x.Got, abs, rel, out double ratio);
        return ratio;
    }

    /// <summary>
    /// The tight tolerance catches a fragment bug: a kernel whose P fragment had registers a1 and a2 swapped would
    /// match the planted model, so the real kernel must be far from it (and close to the faithful model, above).
    /// </summary>
    [Fact]
    public void ToleranceRejectsSwappedFragmentRegisters()
    {
        var c = new AttentionTests.Case(1, 1, 40, 24, false, null, null, Seed: 21);
        var s = Shape(c);
        float[] q = Rounded(c.Q), k = Rounded(c.K), v = Rounded(c.V);
        var got = Run(fx.Ilgpu, q, k, v, c.G, [0], s, tensorCores: true);
        var planted = TensorCoreAttentionReference.Run(q, k, v, c.G, [0], s, plantFragmentSwap: true);
        var faithful = TensorCoreAttentionReference.Run(q, k, v, c.G, [0], s);
        Report(Compare(faithful.O, got.O, TightAbs, TightRel), "o vs bf16 model");
        string? miss = Compare(planted.O, got.O, TightAbs, TightRel);
        output.WriteLine($"planted a1/a2 swap: {miss}");
        Assert.True(miss is not null, "the kernel's o matches a model with swapped P fragment registers: the tolerance cannot tell them apart");
    }

    /// <summary>Under precision bf16 the IBackend methods launch the tensor-core kernels (the dQ kernel computes Delta).</summary>
    [Fact]
    public void PrecisionBf16DispatchesToTensorCoreKernels()
    {
        var c = new AttentionTests.Case(1, 1, 9, 16, true, null, null, Seed: 31);
        var s = Shape(c);
        using var dev = IlgpuBackend.Create(DeviceKind.IlgpuCpu, Precision.Bf16);
        float[] q = Rounded(c.Q), k = Rounded(c.K), v = Rounded(c.V);
        var got = Run(dev, q, k, v, c.G, [0], s, tensorCores: false);
        Assert.Equal(
            new[] { "attention_backward_dkdv_bf16_mma", "attention_backward_dq_bf16_mma", "attention_forward_bf16_mma" },
            dev.LaunchedKernels.Order(StringComparer.Ordinal));
        var model = TensorCoreAttentionReference.Run(q, k, v, c.G, [0], s);
        foreach (var (what, want, actual) in Outputs(model, got))
            Report(Compare(want, actual, TightAbs, TightRel), $"dispatch: {what} vs bf16 model");

        // The autograd op on the bf16 device (unrounded inputs) against the float64 reference: bf16 rounding of q, k, v
        // adds 2^-9 relative to the loose tolerance's budget.
        var c2 = new AttentionTests.Case(2, 1, 11, 24, true, [11, 6], 2, Seed: 32);
        var want64 = c2.Reference();
        var (o2, dq2, dk2, dv2) = c2.Run(dev);
        Report(Compare(want64.O.Select(x => (float)x).ToArray(), o2, LooseAbs, LooseRel), "Ops.Attention under bf16: o");
        Report(Compare(want64.Dq.Select(x => (float)x).ToArray(), dq2, LooseAbs, LooseRel), "Ops.Attention under bf16: dq");
        Report(Compare(want64.Dk.Select(x => (float)x).ToArray(), dk2, LooseAbs, LooseRel), "Ops.Attention under bf16: dk");
        Report(Compare(want64.Dv.Select(x => (float)x).ToArray(), dv2, LooseAbs, LooseRel), "Ops.Attention under bf16: dv");
    }

    [Fact]
    public void RejectsHeadDimOver128()
    {
        var s = new AttentionShape(1, 1, 4, 136, 0.1f, false, false);
        var buf = fx.Ilgpu.Allocate<float>(s.Elements);
        var lse = fx.Ilgpu.Allocate<float>(s.Rows);
        var mask = fx.Ilgpu.Allocate<int>(1);
        try
        {
            var e = Assert.Throws<NotSupportedException>(() => fx.Ilgpu.AttentionForwardBf16(buf, buf, buf, mask, buf, lse, s));
            Assert.Contains("D = 136", e.Message);
        }
        finally { fx.Ilgpu.Release(buf); fx.Ilgpu.Release(lse); fx.Ilgpu.Release(mask); }
    }

    static AttentionShape Shape(AttentionTests.Case c) => new(c.B, c.H, c.T, c.D, (float)c.Scale, c.Causal, c.Mask is not null);

    static float[] Rounded(float[] x) => x.Select(Bf16.Round).ToArray();

    static IEnumerable<(string, float[], float[])> Outputs(TensorCoreAttentionReference.Result want, TensorCoreAttentionReference.Result got) =>
        [("o", want.O, got.O), ("lse", want.Lse, got.Lse), ("dq", want.Dq, got.Dq), ("dk", want.Dk, got.Dk), ("dv", want.Dv, got.Dv)];

    static void Report(string? failure, string what)
    {
        if (failure is not null) Assert.Fail($"{what}: {failure}");
    }

    /// <summary>
    /// Null when every element is within abs * max(1, max|expected|) + rel * |expected| and infinities agree exactly;
    /// else the worst element. bf16 errors scale with the operands (of order 1 here) and with the output's magnitude;
    /// the floor of 1 keeps an output that cancels to ~0 (dq at T = 1) from demanding fp32 noise agreement.
    /// </summary>
    static string? Compare(float[] expected, float[] actual, double abs, double rel) => Compare(expected, actual, abs, rel, out _);

    /// <summary><paramref name="worstRatio"/>: the largest error over its allowance (below 1 when it passes).</summary>
    static string? Compare(float[] expected, float[] actual, double abs, double rel, out double worstRatio)
    {
        worstRatio = 0;
        if (expected.Length != actual.Length) return $"{actual.Length} values, expected {expected.Length}";
        double scale = Math.Max(1, expected.Where(float.IsFinite).Select(x => Math.Abs((double)x)).DefaultIfEmpty(0).Max());
        int worst = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            if (float.IsInfinity(expected[i]) || float.IsInfinity(actual[i]))
            {
                if (expected[i] != actual[i]) { worstRatio = double.PositiveInfinity; return $"element {i} is {actual[i]:R}, expected {expected[i]:R}"; }
                continue;
            }
            double allowed = abs * scale + rel * Math.Abs(expected[i]), err = Math.Abs(actual[i] - (double)expected[i]);
            double ratio = err / allowed;
            if (double.IsNaN(ratio)) { worstRatio = double.PositiveInfinity; return $"element {i} is {actual[i]:R}, expected {expected[i]:R}"; }
            if (ratio > worstRatio) { worst = i; worstRatio = ratio; }
        }
        return worstRatio <= 1 ? null
            : $"element {worst} is {actual[worst]:R}, expected {expected[worst]:R} ({worstRatio:F1}x the allowed {abs} x {scale:G3} + {rel} relative)";
    }

    /// <summary>Forward then backward through the backend; <paramref name="tensorCores"/> calls the Bf16 methods directly.</summary>
    static TensorCoreAttentionReference.Result Run(IBackend dev, float[] q, float[] k, float[] v, float[] dO, int[] mask, in AttentionShape s, bool tensorCores)
    {
        var held = new List<DeviceBuffer<float>>();
        DeviceBuffer<float> Up(float[] x) { var b = dev.Allocate<float>(x.Length); dev.CopyFromHost<float>(x, b); held.Add(b); return b; }
        DeviceBuffer<float> New(long n) => Up(Enumerable.Repeat(float.NaN, (int)n).ToArray()); // stale NaNs: every element must be written
        float[] Down(DeviceBuffer<float> b) { var x = new float[b.Length]; dev.CopyToHost(b, x); return x; }
        var m = dev.Allocate<int>(mask.Length);
        try
        {
            dev.CopyFromHost<int>(mask, m);
            var (qb, kb, vb, g) = (Up(q), Up(k), Up(v), Up(dO));
            var (o, lse, dq, dk, dv) = (New(s.Elements), New(s.Rows), New(s.Elements), New(s.Elements), New(s.Elements));
            if (tensorCores && dev is IlgpuBackend ilgpu)
            {
                ilgpu.AttentionForwardBf16(qb, kb, vb, m, o, lse, s);
                ilgpu.AttentionBackwardBf16(qb, kb, vb, m, o, lse, g, dq, dk, dv, s);
            }
            else
            {
                dev.AttentionForward(qb, kb, vb, m, o, lse, s);
                dev.AttentionBackward(qb, kb, vb, m, o, lse, g, dq, dk, dv, s);
            }
            return new(Down(o), Down(lse), Down(dq), Down(dk), Down(dv));
        }
        finally
        {
            foreach (var b in held) dev.Release(b);
            dev.Release(m);
        }
    }
}
