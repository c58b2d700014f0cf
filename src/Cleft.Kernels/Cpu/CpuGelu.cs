using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Cleft.Kernels.Cpu;

/// <summary>
/// Vectorised GELU (tanh form and exact-erf form), forward and backward, for the managed backend. Each formula is
/// written once, generic over the lane type, and instantiated for Vector512, Vector256 and a scalar tail, so the
/// tail rounds the same way as the body. The tanh form is rewritten as x sigmoid(2u) (0.5 (1 + tanh u) = sigmoid 2u),
/// which needs one exp and no tanh; both forms differ from <see cref="GeluMath"/> / <see cref="GeluErfMath"/> by float
/// rounding only (CpuGeluTests states the tolerance).
/// </summary>
static class CpuGelu
{
    const float C = 0.7978845608028654f; // sqrt(2 / pi)
    const float K = 0.044715f;
    const float InvSqrt2 = 0.70710678118654752f;
    const float InvSqrt2Pi = 0.39894228040143268f;
    const float P = 0.3275911f; // Abramowitz and Stegun 7.1.26, as in GeluErfMath
    const float A1 = 0.254829592f, A2 = -0.284496736f, A3 = 1.421413741f, A4 = -1.453152027f, A5 = 1.061405429f;

    /// <summary>One pointwise function of (x, dy); forward kernels ignore dy.</summary>
    public interface IKernel
    {
        static abstract TV Eval<TV, L>(TV x, TV dy) where TV : struct where L : ILanes<TV>;
    }

    public struct TanhForward : IKernel
    {
        public static TV Eval<TV, L>(TV x, TV dy) where TV : struct where L : ILanes<TV>
            => L.Div(x, L.Add(L.Splat(1f), TanhExp<TV, L>(x)));
    }

    public struct TanhBackward : IKernel
    {
        public static TV Eval<TV, L>(TV x, TV dy) where TV : struct where L : ILanes<TV>
        {
            // d/dx x s(2u) = s + 2 x s (1 - s) u'(x), with u' = C (1 + 3 K x^2). 1 - s is e s (e = exp(-2u)): exact
            // where s is near 1, where the subtraction would cancel.
            var one = L.Splat(1f);
            var e = TanhExp<TV, L>(x);
            var s = L.Div(one, L.Add(one, e));
            var du2 = L.Fma(L.Mul(x, x), L.Splat(6f * C * K), L.Splat(2f * C));
            return L.Mul(dy, L.Fma(L.Mul(L.Mul(x, s), L.Mul(e, s)), du2, s));
        }
    }

    public struct ErfForward : IKernel
    {
        public static TV Eval<TV, L>(TV x, TV dy) where TV : struct where L : ILanes<TV>
            => L.Mul(x, Phi<TV, L>(x, out _));
    }

    public struct ErfBackward : IKernel
    {
        public static TV Eval<TV, L>(TV x, TV dy) where TV : struct where L : ILanes<TV>
        {
            // Phi(x) + x phi(x); exp(-x^2 / 2) is the one Phi already computed.
            var phi = Phi<TV, L>(x, out var e);
            return L.Mul(dy, L.Fma(L.Mul(x, e), L.Splat(InvSqrt2Pi), phi));
        }
    }

    /// <summary>
    /// exp(-2u), u = C (x + K x^3), the argument folded into one multiply-add. Capped at exp(80) (finite; then
    /// s = 1 / (1 + e) is ~1e-35 and x s is 0 for every finite x that matters) so e s s is never inf * 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static TV TanhExp<TV, L>(TV x) where TV : struct where L : ILanes<TV>
        => L.Exp(L.Min(L.Splat(80f), L.Mul(x, L.Fma(L.Mul(x, x), L.Splat(-2f * C * K), L.Splat(-2f * C)))));

    /// <summary>Standard normal CDF through GeluErfMath's erf; <paramref name="e"/> = exp(-x^2 / 2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static TV Phi<TV, L>(TV x, out TV e) where TV : struct where L : ILanes<TV>
    {
        var one = L.Splat(1f);
        var a = L.Mul(L.Abs(x), L.Splat(InvSqrt2));
        var t = L.Div(one, L.Fma(a, L.Splat(P), one));
        var poly = L.Fma(t, L.Splat(A5), L.Splat(A4));
        poly = L.Fma(t, poly, L.Splat(A3));
        poly = L.Fma(t, poly, L.Splat(A2));
        poly = L.Fma(t, poly, L.Splat(A1));
        poly = L.Mul(t, poly);
        e = L.Exp(L.Mul(L.Mul(a, a), L.Splat(-1f)));
        var erf = L.FlipSignWhereNegative(L.Sub(one, L.Mul(poly, e)), x);
        return L.Fma(erf, L.Splat(0.5f), L.Splat(0.5f));
    }

    /// <summary>o[s..s+len) = K(x, dy) with the widest accelerated vectors and a scalar tail.</summary>
    public static void Run<TK>(float[] x, float[] dy, float[] o, int s, int len) where TK : IKernel
    {
        if (x.Length < s + len || dy.Length < s + len || o.Length < s + len)
            throw new ArgumentException($"GELU kernel: range [{s}, {s + len}) exceeds a buffer");
        int i = s, end = s + len;
        if (Vector512.IsHardwareAccelerated) i = Body<TK, Vector512<float>, Lanes512>(x, dy, o, i, end);
        else if (Vector256.IsHardwareAccelerated) i = Body<TK, Vector256<float>, Lanes256>(x, dy, o, i, end);
        Body<TK, float, Lanes1>(x, dy, o, i, end);
    }

    // Not inlined into Run's callers: compiled on its own, the loop has the JIT's whole inlining budget for the kernel's
    // formula down to CpuExp. Inlined into the backend's lambdas, the budget ran out and the exp stayed a call.
    [MethodImpl(MethodImplOptions.NoInlining)]
    static int Body<TK, TV, L>(float[] x, float[] dy, float[] o, int i, int end) where TK : IKernel where TV : struct where L : ILanes<TV>
    {
        for (; i + L.Count <= end; i += L.Count)
            L.Store(TK.Eval<TV, L>(L.Load(ref x[i]), L.Load(ref dy[i])), ref o[i]);
        return i;
    }
}
