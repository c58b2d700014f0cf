using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Kernels.Cpu;
using Cleft.Kernels.Ilgpu;

namespace Cleft.Tests.Autograd;

/// <summary>
/// Ops.AttentionTokens ([B, T, C] q, k, v) and Ops.AttentionPacked (GPT-2's [B, T, 3C]): the kernel reads the heads
/// in place through its layouts. They must be Ops.Attention on the split heads, merged - to the bit on the managed
/// backend (same kernel, same arithmetic) - and the split / attention / merge fallback of a backend without layouts.
/// </summary>
public sealed class AttentionTokensTests
{
    public static TheoryData<string, AttentionTests.Case> Cases => AttentionTests.ForwardCases;

    /// <summary>[B, H, T, D] -> [B, T, H * D] on the host (the layout a linear layer writes).</summary>
    static float[] ToTokens(float[] x, int b, int h, int t, int d)
    {
        var y = new float[x.Length];
        for (int bi = 0; bi < b; bi++)
            for (int hi = 0; hi < h; hi++)
                for (int ti = 0; ti < t; ti++)
                    Array.Copy(x, (((long)bi * h + hi) * t + ti) * d, y, ((long)bi * t + ti) * h * d + hi * d, d);
        return y;
    }

    /// <summary>Three [B, T, C] side by side in each row: [B, T, 3C].</summary>
    static float[] Pack(float[] q, float[] k, float[] v, int rows, int c)
    {
        var y = new float[3L * rows * c];
        for (int r = 0; r < rows; r++)
        {
            Array.Copy(q, (long)r * c, y, 3L * r * c, c);
            Array.Copy(k, (long)r * c, y, 3L * r * c + c, c);
            Array.Copy(v, (long)r * c, y, 3L * r * c + 2 * c, c);
        }
        return y;
    }

    static Tensor Leaf(IBackend dev, float[] data, params int[] shape)
    {
        var t = Tensor.FromArray(dev, data, shape);
        t.RequiresGrad = true;
        return t;
    }

    /// <summary>o, dq, dk, dv in [B, T, C] through AttentionTokens (packed = false) or AttentionPacked (packed = true).</summary>
    static float[][] RunTokens(IBackend dev, AttentionTests.Case c, bool packed)
    {
        int C = c.H * c.D;
        float[] q = ToTokens(c.Q, c.B, c.H, c.T, c.D), k = ToTokens(c.K, c.B, c.H, c.T, c.D), v = ToTokens(c.V, c.B, c.H, c.T, c.D);
        using var scope = new TensorScope();
        using var mask = c.Mask is null ? null : IntTensor.FromArray(dev, c.Mask, c.B, c.T);
        var g = Tensor.FromArray(dev, ToTokens(c.G, c.B, c.H, c.T, c.D), c.B, c.T, C);
        if (packed)
        {
            var qkv = Leaf(dev, Pack(q, k, v, c.B * c.T, C), c.B, c.T, 3 * C);
            var o = Ops.AttentionPacked(qkv, c.H, c.Causal, mask, c.LayerIdx);
            var result = o.ToArray();
            o.Backward(g);
            var d = qkv.Grad!.ToArray();
            float[] Part(int i) => [.. Enumerable.Range(0, c.B * c.T).SelectMany(r => d.AsSpan(3 * r * C + i * C, C).ToArray())];
            return [result, Part(0), Part(1), Part(2)];
        }
        var (qt, kt, vt) = (Leaf(dev, q, c.B, c.T, C), Leaf(dev, k, c.B, c.T, C), Leaf(dev, v, c.B, c.T, C));
        var y = Ops.AttentionTokens(qt, kt, vt, c.H, c.Causal, mask, c.LayerIdx);
        var outs = y.ToArray();
        y.Backward(g);
        return [outs, qt.Grad!.ToArray(), kt.Grad!.ToArray(), vt.Grad!.ToArray()];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void TokensMajorIsSplitAttentionMergeToTheBit(string name, AttentionTests.Case c)
    {
        using var dev = new CpuBackend();
        Assert.True(dev.AttentionTakesLayouts);
        var (o, dq, dk, dv) = c.Run(dev);
        float[][] want = [.. new[] { o, dq, dk, dv }.Select(x => ToTokens(x, c.B, c.H, c.T, c.D))];
        string[] what = ["o", "dq", "dk", "dv"];
        foreach (bool packed in new[] { false, true })
        {
            var got = RunTokens(dev, c, packed);
            for (int i = 0; i < 4; i++)
                Assert.True(want[i].AsSpan().SequenceEqual(got[i]), $"{name} {(packed ? "packed" : "tokens")}: {what[i]} differs from Ops.Attention on split heads");
        }
        // And against the float64 definition directly, at AttentionTests' tolerances.
        var reference = c.Reference();
        var tokens = RunTokens(dev, c, packed: true);
        TestData.AssertClose(ToTokens64(reference.O, c), tokens[0], 2e-5, 2e-4, $"{name}: o");
        TestData.AssertClose(ToTokens64(reference.Dq, c), tokens[1], 1e-4, 1e-3, $"{name}: dq");
        TestData.AssertClose(ToTokens64(reference.Dk, c), tokens[2], 1e-4, 1e-3, $"{name}: dk");
        TestData.AssertClose(ToTokens64(reference.Dv, c), tokens[3], 1e-4, 1e-3, $"{name}: dv");
    }

    static double[] ToTokens64(double[] x, AttentionTests.Case c)
    {
        var y = new double[x.Length];
        for (int bi = 0; bi < c.B; bi++)
            for (int hi = 0; hi < c.H; hi++)
                for (int ti = 0; ti < c.T; ti++)
                    Array.Copy(x, (((long)bi * c.H + hi) * c.T + ti) * c.D, y, ((long)bi * c.T + ti) * c.H * c.D + hi * c.D, c.D);
        return y;
    }

    [Fact]
    public void BackendWithoutLayoutsRunsTheSplitFallbackAndRejectsLayouts()
    {
        var c = new AttentionTests.Case(2, 3, 37, 8, true, [37, 20], 1);
        using var cpu = new CpuBackend();
        using var ilgpu = IlgpuBackend.Create(DeviceKind.IlgpuCpu);
        Assert.False(((IBackend)ilgpu).AttentionTakesLayouts);
        string[] what = ["o", "dq", "dk", "dv"];
        foreach (bool packed in new[] { false, true })
        {
            var want = RunTokens(cpu, c, packed);
            var got = RunTokens(ilgpu, c, packed);
            for (int i = 0; i < 4; i++)
                TestData.AssertClose([.. want[i].Select(x => (double)x)], got[i], 1e-5, 1e-4, $"{(packed ? "packed" : "tokens")} fallback: {what[i]}");
        }
        // Handing the kernel a layout it cannot read is a bug, not a silent wrong answer.
        var shape = new AttentionShape(1, 1, 4, 4, 0.5f, false, false) { OLayout = AttentionLayout.TokensMajor(4, 4, 4) };
        var buf = ilgpu.Allocate<float>(16); var lse = ilgpu.Allocate<float>(4); var mask = ilgpu.Allocate<int>(1);
        var e = Assert.Throws<NotSupportedException>(() => ilgpu.AttentionForward(buf, buf, buf, mask, buf, lse, shape));
        Assert.Contains("layout", e.Message);
    }

    [Fact]
    public void ShapesThatDoNotSplitIntoHeadsAreRefused()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var x = Tensor.Zeros(dev, 2, 5, 12);
        Assert.Contains("split into the heads", Assert.ThrowsAny<Exception>(() => Ops.AttentionTokens(x, x, x, 5)).Message);
        Assert.Contains("3 * heads * head_dim", Assert.ThrowsAny<Exception>(() => Ops.AttentionPacked(x, 3)).Message);
        var y = Tensor.Zeros(dev, 2, 5, 8);
        Assert.Contains("one shape", Assert.ThrowsAny<Exception>(() => Ops.AttentionTokens(x, x, y, 2)).Message);
    }

    [Fact]
    public void CpuLayoutReachingPastItsBufferIsRefused()
    {
        using var dev = new CpuBackend();
        // [1, 4 tokens, width 8] holds 32 floats; a width-12 layout would read up to float 44.
        var shape = new AttentionShape(1, 2, 4, 4, 0.5f, false, false) { KLayout = AttentionLayout.TokensMajor(4, 12, 4) };
        var x = dev.Allocate<float>(32); var lse = dev.Allocate<float>(8); var mask = dev.Allocate<int>(1);
        var e = Assert.Throws<ArgumentException>(() => dev.AttentionForward(x, x, x, mask, x, lse, shape));
        Assert.Contains("k's layout", e.Message);
    }
}
