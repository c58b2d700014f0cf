using System.Numerics;

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
            Chunks(t.Length, (s, len) => AdamWRun(pv, gv, mv, vv, s, s + len, scale, a, k));
        }
    }

    /// <summary>
    /// <see cref="OptimMath.AdamWUpdate"/> over [start, end) in SIMD lanes: the same operations in the same order,
    /// each correctly rounded (no fused multiply-adds, which the scalar form does not use either), so every element
    /// gets the bits the scalar update gives it. The scalar loop was latency-bound on sqrt and divide: 9 ns a
    /// parameter, ~100 ms of an 11M-parameter step.
    /// </summary>
    static void AdamWRun(float[] pv, float[] gv, float[] mv, float[] vv, int start, int end, float scale, in AdamWArgs a, in OptimMath.AdamWFactors k)
    {
        int i = start, w = Vector<float>.Count;
        if (Vector.IsHardwareAccelerated)
        {
            Vector<float> vScale = new(scale), decay = new(k.Decay), b1 = new(a.Beta1), c1 = new(1f - a.Beta1),
                b2 = new(a.Beta2), c2 = new(1f - a.Beta2), invBc2 = new(k.InvSqrtBc2), eps = new(a.Eps),
                step = new(k.StepSize), lo = new(a.ClampMin), hi = new(a.ClampMax);
            for (; i + w <= end; i += w)
            {
                var g = new Vector<float>(gv, i) * vScale;
                var p = new Vector<float>(pv, i) * decay;
                var m = b1 * new Vector<float>(mv, i) + c1 * g;
                var v = b2 * new Vector<float>(vv, i) + c2 * g * g;
                p -= step * m / (Vector.SquareRoot(v) * invBc2 + eps);
                Vector.Min(Vector.Max(p, lo), hi).CopyTo(pv, i);
                m.CopyTo(mv, i);
                v.CopyTo(vv, i);
            }
        }
        for (; i < end; i++) pv[i] = OptimMath.AdamWUpdate(pv[i], gv[i] * scale, ref mv[i], ref vv[i], a, k);
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
            // float64 lanes (each lane its own running sum, added at the end): the chunk's order is fixed, so still
            // deterministic, and SIMD instead of one dependent add per element.
            var lanes = Vector<double>.Zero;
            int i = s;
            if (Vector.IsHardwareAccelerated)
                for (; i + Vector<float>.Count <= e; i += Vector<float>.Count)
                {
                    Vector.Widen(new Vector<float>(xv, i), out var lo, out var hi);
                    lanes += lo * lo + hi * hi;
                }
            double acc = Vector.Sum(lanes);
            for (; i < e; i++) acc += (double)xv[i] * xv[i];
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
