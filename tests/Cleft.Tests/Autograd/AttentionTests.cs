using System.Text.Json;
using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Kernels.Cpu;

namespace Cleft.Tests.Autograd;

/// <summary>Fused attention (Ops.Attention) against the float64 definition, finite differences and PyTorch.</summary>
public sealed class AttentionTests
{
    /// <summary>One attention problem with host data; <see cref="Run"/> does forward + backward on a device.</summary>
    /// <param name="KeyMask">An explicit [B, T] key mask (holes, left padding) instead of right padding by <paramref name="Lengths"/>.</param>
    public sealed record Case(int B, int H, int T, int D, bool Causal, int[]? Lengths, int? LayerIdx, ulong Seed = 1, int[]? KeyMask = null)
    {
        public float[] Q { get; } = TestData.NonZero(new Rng(Seed), (long)B * H * T * D);
        public float[] K { get; } = TestData.NonZero(new Rng(Seed + 1), (long)B * H * T * D);
        public float[] V { get; } = TestData.NonZero(new Rng(Seed + 2), (long)B * H * T * D);
        public float[] G { get; } = TestData.Normal(new Rng(Seed + 3), (long)B * H * T * D);
        public int[]? Mask => KeyMask ?? (Lengths is null ? null : MaskFromLengths(Lengths, T));
        public double Scale => 1.0 / Math.Sqrt(D) / ((LayerIdx ?? 0) + 1);
        public int[] Shape => [B, H, T, D];
        public override string ToString() => $"[{B},{H},{T},{D}]{(Causal ? " causal" : "")}{(Lengths is null ? "" : " padded")}{(KeyMask is null ? "" : " masked")}";

        public AttentionReference.Result Reference() => AttentionReference.Run(Q, K, V, Mask, G, B, H, T, D, Causal, Scale);

        public (float[] O, float[] Dq, float[] Dk, float[] Dv) Run(IBackend dev)
        {
            using var scope = new TensorScope();
            var q = Leaf(dev, Q); var k = Leaf(dev, K); var v = Leaf(dev, V);
            using var mask = Mask is null ? null : IntTensor.FromArray(dev, Mask, B, T);
            var o = Ops.Attention(q, k, v, Causal, mask, LayerIdx);
            var result = o.ToArray();
            o.Backward(Tensor.FromArray(dev, G, Shape));
            var grads = (result, q.Grad!.ToArray(), k.Grad!.ToArray(), v.Grad!.ToArray());
            foreach (var t in new[] { q, k, v }) t.Dispose();
            return grads;
        }

        Tensor Leaf(IBackend dev, float[] data)
        {
            var t = Tensor.FromArray(dev, data, Shape);
            t.RequiresGrad = true;
            return t;
        }
    }

    /// <summary>Right padding, as the GPT-2 tokenizer produces: the first lengths[b] keys of row b are real. Length 0 masks the whole row.</summary>
    public static int[] MaskFromLengths(int[] lengths, int t)
    {
        var m = new int[lengths.Length * t];
        for (int b = 0; b < lengths.Length; b++)
            for (int j = 0; j < lengths[b]; j++) m[b * t + j] = 1;
        return m;
    }

    /// <summary>A [batch, t] key mask with key j of row b real where <paramref name="real"/>(b, j) holds.</summary>
    public static int[] MaskWhere(int batch, int t, Func<int, int, bool> real)
    {
        var m = new int[batch * t];
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < t; j++) m[b * t + j] = real(b, j) ? 1 : 0;
        return m;
    }

    // Tiles are 64 x 64 on the CPU: T = 37 is one partial tile, 70 and 130 cross tile edges; D = 24 and 80 leave vector tails.
    public static TheoryData<string, Case> ForwardCases => new()
    {
        { "causal T37 D24 padded", new Case(2, 3, 37, 24, true, [37, 20], null) },
        { "bidirectional T70 D16 padded", new Case(2, 2, 70, 16, false, [70, 33], null) },
        { "causal T130 D80 layer 5", new Case(1, 2, 130, 80, true, null, 5) },
        { "bidirectional T5 D3", new Case(1, 1, 5, 3, false, null, null) },
        { "causal fully masked row", new Case(2, 1, 9, 8, true, [9, 0], 1) },
    };

    [Theory]
    [MemberData(nameof(ForwardCases))]
    public void ForwardAndBackwardMatchFloat64(string name, Case c)
    {
        using var dev = new CpuBackend();
        var want = c.Reference();
        var (o, dq, dk, dv) = c.Run(dev);
        TestData.AssertClose(want.O, o, 2e-5, 2e-4, $"{name}: o");
        TestData.AssertClose(want.Dq, dq, 1e-4, 1e-3, $"{name}: dq");
        TestData.AssertClose(want.Dk, dk, 1e-4, 1e-3, $"{name}: dk");
        TestData.AssertClose(want.Dv, dv, 1e-4, 1e-3, $"{name}: dv");
    }

    [Fact]
    public void BackendWritesRowLogSumExpAndInfinityForRowsThatSeeNothing()
    {
        var c = new Case(2, 2, 67, 8, true, [67, 0], null);
        using var dev = new CpuBackend();
        var shape = new AttentionShape(c.B, c.H, c.T, c.D, (float)c.Scale, c.Causal, true);
        var q = Upload(dev, c.Q); var k = Upload(dev, c.K); var v = Upload(dev, c.V);
        var mask = dev.Allocate<int>(c.B * c.T); dev.CopyFromHost<int>(c.Mask!, mask);
        var o = dev.Allocate<float>(c.Q.Length); var lse = dev.Allocate<float>(shape.Rows);
        dev.AttentionForward(q, k, v, mask, o, lse, shape);
        var got = new float[shape.Rows]; dev.CopyToHost(lse, got);
        var want = c.Reference().Lse;
        for (int i = 0; i < got.Length; i++)
            if (double.IsPositiveInfinity(want[i])) Assert.True(float.IsPositiveInfinity(got[i]), $"lse[{i}] = {got[i]}, expected +inf");
            else Assert.True(Math.Abs(got[i] - want[i]) < 1e-4, $"lse[{i}] = {got[i]}, expected {want[i]}");
    }

    static DeviceBuffer<float> Upload(IBackend dev, float[] data)
    {
        var b = dev.Allocate<float>(data.Length);
        dev.CopyFromHost<float>(data, b);
        return b;
    }

    [Fact]
    public void FullyMaskedQueriesGiveZeroAndFiniteGradients()
    {
        // Row 1 has no real token at all; with causal attention and mask[0] = 0 nothing is visible to any query.
        var c = new Case(2, 2, 6, 4, true, [3, 0], 0);
        using var dev = new CpuBackend();
        var (o, dq, dk, dv) = c.Run(dev);
        foreach (var a in new[] { o, dq, dk, dv }) Assert.All(a, x => Assert.True(float.IsFinite(x)));
        for (int i = 2 * 6 * 4; i < o.Length; i++) { Assert.Equal(0f, o[i]); Assert.Equal(0f, dq[i]); Assert.Equal(0f, dk[i]); Assert.Equal(0f, dv[i]); }
    }

    [Fact]
    public void PadQueryAttendsOnlyToRealTokens()
    {
        // docs/RECIPE.md §text: the EOS/pad position's query (masked key itself) must ignore every pad key, itself included.
        int t = 5, d = 4;
        var c = new Case(1, 1, t, d, true, [3], null);
        using var dev = new CpuBackend();
        var (o, _, _, _) = c.Run(dev);
        // Query 3 sees exactly keys 0..2: the same as unmasked attention of that query over the 3 real tokens.
        var q3 = AttentionReference.Run([.. c.Q[(3 * d)..(4 * d)], .. c.Q[(3 * d)..(4 * d)], .. c.Q[(3 * d)..(4 * d)]],
            c.K[..(3 * d)], c.V[..(3 * d)], null, null, 1, 1, 3, d, false, c.Scale);
        TestData.AssertClose(q3.O[..d], o[(3 * d)..(4 * d)], 1e-5, 1e-4, "pad query output");
    }

    public static TheoryData<string, bool, int[]?, int?> GradCases => new()
    {
        { "causal", true, null, null },
        { "bidirectional", false, null, null },
        { "causal padded", true, [5, 3], null },
        { "bidirectional padded layer 2", false, [2, 5], 2 },
    };

    [Theory]
    [MemberData(nameof(GradCases))]
    public void GradientCheck(string name, bool causal, int[]? lengths, int? layerIdx)
    {
        int b = 2, h = 2, t = 5, d = 3;
        var rng = new Rng(5);
        var inputs = new[] { GradCheck.In(TestData.NonZero(rng, b * h * t * d), b, h, t, d),
            GradCheck.In(TestData.NonZero(rng, b * h * t * d), b, h, t, d), GradCheck.In(TestData.NonZero(rng, b * h * t * d), b, h, t, d) };
        using var dev = new CpuBackend();
        using var mask = lengths is null ? null : IntTensor.FromArray(dev, MaskFromLengths(lengths, t), b, t);
        GradCheck.Run(dev, x => Ops.Attention(x[0], x[1], x[2], causal, mask, layerIdx), inputs, 1e-2, 2e-3, 2e-2);
        Assert.NotNull(name);
    }

    [Fact]
    public void RepeatedRunsAreBitIdentical()
    {
        var c = new Case(2, 3, 100, 24, true, [100, 57], 3);
        using var dev = new CpuBackend();
        var a = c.Run(dev); var b = c.Run(dev);
        Assert.Equal(a.O, b.O); Assert.Equal(a.Dq, b.Dq); Assert.Equal(a.Dk, b.Dk); Assert.Equal(a.Dv, b.Dv);
    }

    [Fact]
    public void ChecksNameTheOpAndShapes()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var q = Tensor.Zeros(dev, 2, 3, 4, 8);
        var k = Tensor.Zeros(dev, 2, 3, 5, 8);
        var e = Assert.Throws<ArgumentException>(() => Ops.Attention(q, k, q));
        Assert.Contains("Attention", e.Message); Assert.Contains("[2,3,5,8]", e.Message);
        e = Assert.Throws<ArgumentException>(() => Ops.Attention(Tensor.Zeros(dev, 3, 4, 8), Tensor.Zeros(dev, 3, 4, 8), Tensor.Zeros(dev, 3, 4, 8)));
        Assert.Contains("rank 4", e.Message);
        using var badMask = IntTensor.FromArray(dev, new int[2 * 5], 2, 5);
        e = Assert.Throws<ArgumentException>(() => Ops.Attention(q, q, q, keyPaddingMask: badMask));
        Assert.Contains("[2,4]", e.Message); Assert.Contains("[2,5]", e.Message);
        using var ids = IntTensor.FromArray(dev, Enumerable.Range(0, 8).ToArray(), 2, 4);
        e = Assert.Throws<ArgumentException>(() => Ops.Attention(q, q, q, keyPaddingMask: ids));
        Assert.Contains("0/1", e.Message);
        using var other = new CpuBackend();
        e = Assert.Throws<ArgumentException>(() => Ops.Attention(q, Tensor.Zeros(other, 2, 3, 4, 8), q));
        Assert.Contains("different devices", e.Message);
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("ilgpu-cpu")]
    public void ExtraMemoryGrowsLinearlyInT(string device)
    {
        // Pool bytes held during forward + backward, beyond the inputs. A T x T score matrix per head would
        // grow 16x from T = 64 to 256 (and dominate at D = 8); tiling keeps it at the 4x of the [T, D] tensors.
        // One head on the ILGPU CPU accelerator, where every tile costs group barriers.
        long Extra(int t)
        {
            using IBackend dev = device == "cpu" ? new CpuBackend() : Cleft.Kernels.Ilgpu.IlgpuBackend.Create(DeviceKind.IlgpuCpu);
            var c = new Case(1, device == "cpu" ? 2 : 1, t, 8, true, null, null);
            using var scope = new TensorScope();
            var q = Tensor.FromArray(dev, c.Q, c.Shape); var k = Tensor.FromArray(dev, c.K, c.Shape); var v = Tensor.FromArray(dev, c.V, c.Shape);
            var g = Tensor.FromArray(dev, c.G, c.Shape);
            foreach (var x in new[] { q, k, v }) x.RequiresGrad = true;
            dev.Pool.ResetPeak();
            long before = dev.Pool.LiveBytes;
            Ops.Attention(q, k, v).Backward(g);
            return dev.Pool.PeakLiveBytes - before;
        }
        long small = Extra(64), large = Extra(256);
        Assert.True(large <= 5 * small, $"{device}: extra pool bytes {small} at T=64 and {large} at T=256: more than linear growth");
        Assert.True(large >= 3 * small, $"{device}: extra pool bytes {small} at T=64 and {large} at T=256: the measurement missed the op's buffers");
    }

    sealed record FixtureCase(string name, int[] shape, bool causal, int? layer_idx, bool has_mask, int[] mask,
        float[] q, float[] k, float[] v, float[] g, double[] o, double[] dq, double[] dk, double[] dv);
    sealed record Fixture(string torch, List<FixtureCase> cases);

    [Fact]
    public void MatchesPyTorchFixture()
    {
        // tests/fixtures/generators/attention.py: float64 PyTorch softmax attention with masked_fill(-inf).
        var f = JsonSerializer.Deserialize<Fixture>(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "attention.json")))!;
        Assert.Equal(3, f.cases.Count);
        using var dev = new CpuBackend();
        foreach (var c in f.cases)
        {
            using var scope = new TensorScope();
            int[] s = c.shape;
            Tensor Leaf(float[] d) { var t = Tensor.FromArray(dev, d, s); t.RequiresGrad = true; return t; }
            var q = Leaf(c.q); var k = Leaf(c.k); var v = Leaf(c.v);
            using var mask = c.has_mask ? IntTensor.FromArray(dev, c.mask, s[0], s[2]) : null;
            var o = Ops.Attention(q, k, v, c.causal, mask, c.layer_idx);
            TestData.AssertClose(c.o, o, 1e-5, 1e-4, $"{c.name}: o");
            o.Backward(Tensor.FromArray(dev, c.g, s));
            TestData.AssertClose(c.dq, q.Grad!, 1e-4, 1e-3, $"{c.name}: dq");
            TestData.AssertClose(c.dk, k.Grad!, 1e-4, 1e-3, $"{c.name}: dk");
            TestData.AssertClose(c.dv, v.Grad!, 1e-4, 1e-3, $"{c.name}: dv");
        }
    }
}
