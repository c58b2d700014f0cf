namespace Cleft.Kernels.Cpu;

/// <summary>
/// Fused optimizer updates: one pass over each parameter per step, the same arithmetic as the ILGPU kernels
/// (<c>OptimMath</c> is shared by both), so the managed and ILGPU paths agree to rounding.
/// </summary>
public sealed partial class CpuBackend
{
    public void AdamWStep(ReadOnlySpan<AdamWTensor> tensors, DeviceBuffer<float> gradScale, in AdamWArgs args)
    {
        float scale = A(gradScale)[0];
        var a = args;
        var k = OptimMath.AdamW(a);
        foreach (var t in tensors)
        {
            float[] pv = A(t.P), gv = A(t.G), mv = A(t.M), vv = A(t.V);
            Chunks(t.Length, (s, len) =>
            {
                for (int i = s; i < s + len; i++)
                    pv[i] = OptimMath.AdamWUpdate(pv[i], gv[i] * scale, ref mv[i], ref vv[i], a, k);
            });
        }
    }

    public void SgdStep(DeviceBuffer<float> p, DeviceBuffer<float> g, DeviceBuffer<float>? velocity,
        DeviceBuffer<float> gradScale, long n, in SgdArgs args)
    {
        float[] pv = A(p), gv = A(g);
        float[] vv = args.Momentum > 0 ? A(velocity!) : [];
        float scale = A(gradScale)[0];
        var a = args;
        Chunks(n, (s, len) =>
        {
            if (a.Momentum > 0)
                for (int i = s; i < s + len; i++) pv[i] = OptimMath.SgdMomentumUpdate(pv[i], gv[i] * scale, ref vv[i], a);
            else
                for (int i = s; i < s + len; i++) pv[i] = OptimMath.SgdPlainUpdate(pv[i], gv[i] * scale, a);
        });
    }

    public void SumSquares(ReadOnlySpan<DeviceBuffer<float>?> xs, ReadOnlySpan<long> lengths, DeviceBuffer<float> partial)
    {
        float[] pv = A(partial);
        for (int i = 0; i < xs.Length; i++) pv[i] = xs[i] is { } x ? SumSquares(A(x), lengths[i]) : 0f;
    }

    static float SumSquares(float[] xv, long n)
    {
        // Chunk sums in double, added in chunk order: deterministic and close to the float64 norm.
        const int chunk = 1 << 14;
        int count = (int)((n + chunk - 1) / chunk);
        var sums = new double[count];
        For(count, chunk, c =>
        {
            int s = c * chunk, e = (int)Math.Min(n, s + (long)chunk);
            double acc = 0;
            for (int i = s; i < e; i++) acc += (double)xv[i] * xv[i];
            sums[c] = acc;
        });
        double total = 0;
        foreach (double v in sums) total += v;
        return (float)total;
    }

    public void ClipCoefficient(DeviceBuffer<float> partial, int count, float maxNorm, DeviceBuffer<float> norm, DeviceBuffer<float> coef)
    {
        float[] pv = A(partial);
        double total = 0;
        for (int i = 0; i < count; i++) total += pv[i];
        float nr = (float)Math.Sqrt(total);
        A(norm)[0] = nr;
        A(coef)[0] = OptimMath.ClipCoefficient(nr, maxNorm);
    }

    public void Clamp(DeviceBuffer<float> y, long n, float lo, float hi)
    {
        float[] yv = A(y);
        Chunks(n, (s, len) => { for (int i = s; i < s + len; i++) yv[i] = MathF.Min(MathF.Max(yv[i], lo), hi); });
    }
}
