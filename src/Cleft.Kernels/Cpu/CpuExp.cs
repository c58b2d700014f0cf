using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Cleft.Kernels.Cpu;

/// <summary>
/// e^x for the managed kernels' vector loops (GELU, attention's softmax), written once over <see cref="ILanes{TV}"/>.
/// Why not the runtime's Vector512.Exp: it evaluates in double (widen, exp, narrow) and is not inlined into the
/// callers' loops; this single-precision version is ~1.7x faster per element and made the GELU backward ~2x faster
/// (docs/PERFORMANCE.md, seventh round). Method (Cephes' expf): x = n ln2 + r with n = round(x log2 e) and ln2 in
/// two parts, so r is exact and |r| &lt;= ln2 / 2; e^r by a degree-6 polynomial; then scaled by 2^n (vscalefps on
/// AVX-512, else 2^n built in the exponent field; one rounding either way, so every width gives the same bits).
/// Within 1 ulp of the correctly rounded e^x wherever that is a normal float (CpuExpTests). Edges: +inf above
/// ln(float.MaxValue), 0 below ln of the smallest normal float (the subnormal results, under 1.2e-38, are flushed),
/// NaN for NaN (the clamp's Min and Max take x second, where they pass a NaN through).
/// </summary>
public static class CpuExp
{
    const float Log2E = 1.44269504088896341f;
    const float Ln2Hi = 0.693359375f, Ln2Lo = -2.12194440e-4f; // ln 2 = Ln2Hi + Ln2Lo; Ln2Hi has 9 significant bits, so n Ln2Hi is exact
    const float Lo = -87.33654475f; // ln(2^-126)
    const float Hi = 88.72283906f;  // ln(float.MaxValue)

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TV Exp<TV, L>(TV x) where TV : struct where L : ILanes<TV>
    {
        var c = L.Min(L.Splat(Hi), L.Max(L.Splat(Lo), x));
        var n = L.Round(L.Mul(c, L.Splat(Log2E)));
        var r = L.Fma(n, L.Splat(-Ln2Hi), c);
        r = L.Fma(n, L.Splat(-Ln2Lo), r);
        var p = L.Fma(L.Splat(1.9875691500e-4f), r, L.Splat(1.3981999507e-3f));
        p = L.Fma(p, r, L.Splat(8.3334519073e-3f));
        p = L.Fma(p, r, L.Splat(4.1665795894e-2f));
        p = L.Fma(p, r, L.Splat(1.6666665459e-1f));
        p = L.Fma(p, r, L.Splat(5.0000001201e-1f));
        p = L.Add(L.Fma(L.Mul(p, r), r, r), L.Splat(1f)); // 1 + r + r^2 P(r)
        var y = L.ScaleByPow2(p, n);
        y = L.IfGreater(x, L.Splat(Hi), L.Splat(float.PositiveInfinity), y);
        return L.IfGreater(L.Splat(Lo), x, L.Splat(0f), y);
    }

    /// <summary>
    /// x 2^n for integral n in [-126, 128] without a scaling instruction: 2^n built in the exponent field, where n
    /// reaches 128 (above 127.5 ln 2, e^x just under float.MaxValue) as 2^127 and one more doubling. At most one of
    /// the two multiplies rounds (the first only to a subnormal, the second only near overflow), as vscalefps rounds once.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TV ScaleByPow2<TV, L>(TV x, TV n) where TV : struct where L : ILanes<TV>
        => L.Mul(L.Mul(x, L.Pow2(L.Min(n, L.Splat(127f)))), L.IfGreater(n, L.Splat(127f), L.Splat(2f), L.Splat(1f)));

    /// <summary>y[i] = e^x[i], the vector body at the widest accelerated width and the scalar tail by the same steps.</summary>
    public static void Exp(ReadOnlySpan<float> x, Span<float> y)
    {
        if (y.Length < x.Length) throw new ArgumentException($"exp: output holds {y.Length} floats, input {x.Length}");
        int i = 0;
        ref float xs = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
        ref float ys = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(y);
        if (Vector512.IsHardwareAccelerated)
            for (; i + Lanes512.Count <= x.Length; i += Lanes512.Count)
                Lanes512.Store(Lanes512.Exp(Lanes512.Load(ref Unsafe.Add(ref xs, i))), ref Unsafe.Add(ref ys, i));
        else if (Vector256.IsHardwareAccelerated)
            for (; i + Lanes256.Count <= x.Length; i += Lanes256.Count)
                Lanes256.Store(Lanes256.Exp(Lanes256.Load(ref Unsafe.Add(ref xs, i))), ref Unsafe.Add(ref ys, i));
        for (; i < x.Length; i++) y[i] = Lanes1.Exp(x[i]);
    }
}
