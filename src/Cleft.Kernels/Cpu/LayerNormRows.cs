using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Cleft.Kernels.Cpu;

/// <summary>
/// The elementwise steps of a LayerNorm row as loops instead of chains of TensorPrimitives calls (the backward's eight
/// became two, the forward's last two one): at the models' widths (192-768) a row is 12-48 vectors, and the calls cost
/// as much as the arithmetic ([6432, 192] backward 3.9 -> 1.5-2.1 ms). Each element goes through the same operations in
/// the same order as the calls did (subtract then multiply, FMAs fused), so the results are bit-identical
/// (CpuLayerNormTests); the row's reductions stay TensorPrimitives.Sum / Dot. Written once over the lane type
/// (<see cref="ILanes{TV}"/>), instantiated for the widest vectors and the scalar tail, like CpuGelu.
/// </summary>
static class LayerNormRows
{
    /// <summary>One elementwise step at element i (a whole vector of TV from there) with up to three row scalars.</summary>
    public interface IStep
    {
        static abstract void At<TV, L>(ref Row r, int i, float s0, float s1, float s2) where TV : struct where L : ILanes<TV>;
    }

    /// <summary>The row's spans by position; each step names what it reads and writes.</summary>
    public ref struct Row
    {
        public Span<float> A, B, C, D, E, F;
    }

    /// <summary>A = (A s0) B + C, the forward's last step: y = xhat gamma + beta with xhat = (x - mu) rstd. A = x - mu.</summary>
    public struct Affine : IStep
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void At<TV, L>(ref Row r, int i, float rs, float _, float __) where TV : struct where L : ILanes<TV>
            => L.Store(L.Fma(L.Mul(L.Load(ref r.A[i]), L.Splat(rs)), L.Load(ref r.B[i]), L.Load(ref r.C[i])), ref r.A[i]);
    }

    /// <summary>D = (A - s0) s1 (xhat), E = B C (g = dy gamma). A = x, B = dy, C = gamma.</summary>
    public struct Normalize : IStep
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void At<TV, L>(ref Row r, int i, float mu, float rs, float _) where TV : struct where L : ILanes<TV>
        {
            L.Store(L.Mul(L.Sub(L.Load(ref r.A[i]), L.Splat(mu)), L.Splat(rs)), ref r.D[i]);
            L.Store(L.Mul(L.Load(ref r.B[i]), L.Load(ref r.C[i])), ref r.E[i]);
        }
    }

    /// <summary>
    /// A = xhat, B = dy, C = g: D += B A (dgamma partial), E += B (dbeta partial), F = ((A (-s2) + C) - s1) s0 (dx), with
    /// s0 = rstd, s1 = mean(g), s2 = mean(g xhat).
    /// </summary>
    public struct Gradients : IStep
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void At<TV, L>(ref Row r, int i, float rs, float mg, float mgx) where TV : struct where L : ILanes<TV>
        {
            var xh = L.Load(ref r.A[i]); var dy = L.Load(ref r.B[i]);
            L.Store(L.Fma(dy, xh, L.Load(ref r.D[i])), ref r.D[i]);
            L.Store(L.Add(L.Load(ref r.E[i]), dy), ref r.E[i]);
            var dx = L.Fma(xh, L.Splat(-mgx), L.Load(ref r.C[i]));
            L.Store(L.Mul(L.Sub(dx, L.Splat(mg)), L.Splat(rs)), ref r.F[i]);
        }
    }

    /// <summary>Step TS at every element of the row (the length of <paramref name="a"/>); unused spans may be empty.</summary>
    public static void Run<TS>(Span<float> a, Span<float> b, Span<float> c, Span<float> d, Span<float> e, Span<float> f,
        float s0, float s1, float s2) where TS : IStep
    {
        var row = new Row { A = a, B = b, C = c, D = d, E = e, F = f };
        int n = a.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= n; i += 16) TS.At<Vector512<float>, Lanes512>(ref row, i, s0, s1, s2);
        else if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8) TS.At<Vector256<float>, Lanes256>(ref row, i, s0, s1, s2);
        for (; i < n; i++) TS.At<float, Lanes1>(ref row, i, s0, s1, s2);
    }
}
