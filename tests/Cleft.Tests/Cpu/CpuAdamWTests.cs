using Cleft.Kernels;
using Cleft.Kernels.Cpu;

namespace Cleft.Tests.Cpu;

/// <summary>The managed backend's SIMD AdamW gives every element the bits of the scalar OptimMath formula.</summary>
public sealed class CpuAdamWTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(37)]      // not a multiple of any vector width: lanes plus a scalar tail
    [InlineData(70_001)]  // several parallel chunks
    public void SimdUpdateIsBitIdenticalToTheScalarFormula(int n)
    {
        using var dev = new CpuBackend();
        var rng = new Random(n);
        float[] Values(float scale) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray();
        float[] p = Values(1f), g = Values(3f), m = Values(0.1f), v = Values(0.01f).Select(MathF.Abs).ToArray();
        p[0] = 0.95f; // clamped whether it falls in a vector or in the scalar tail
        p[n - 1] = -0.95f;
        var args = new AdamWArgs(Lr: 3e-3f, Beta1: 0.9f, Beta2: 0.999f, Eps: 1e-8f, WeightDecay: 0.05f,
            BiasCorrection1: 0.19f, BiasCorrection2: 0.00399f, ClampMin: -0.75f, ClampMax: 0.75f);
        const float scale = 0.8f;

        DeviceBuffer<float> Upload(float[] x) { var b = dev.Allocate<float>(x.Length); dev.CopyFromHost<float>(x, b); return b; }
        DeviceBuffer<float> bp = Upload(p), bg = Upload(g), bm = Upload(m), bv = Upload(v), bs = Upload([scale]);
        dev.AdamWStep([new AdamWTensor(bp, bg, bm, bv, n)], bs, args);

        var k = OptimMath.AdamW(args);
        for (int i = 0; i < n; i++) p[i] = OptimMath.AdamWUpdate(p[i], g[i] * scale, ref m[i], ref v[i], args, k);
        float[] Read(DeviceBuffer<float> b) { var x = new float[n]; dev.CopyToHost(b, x.AsSpan()); return x; }
        Assert.Equal(p.Select(BitConverter.SingleToInt32Bits), Read(bp).Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(m.Select(BitConverter.SingleToInt32Bits), Read(bm).Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(v.Select(BitConverter.SingleToInt32Bits), Read(bv).Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(-0.75f, Read(bp)[n - 1]); // the clamp was exercised
    }
}
