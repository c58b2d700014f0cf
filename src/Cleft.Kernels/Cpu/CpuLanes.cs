using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cleft.Kernels.Cpu;

/// <summary>
/// The float operations a pointwise kernel needs, over one lane type, so a formula is written once and instantiated
/// per width (the runtime's own ISimdVector is not public). Loads and stores read <see cref="Count"/> floats from a
/// reference: the caller guarantees they are in bounds.
/// </summary>
interface ILanes<TV> where TV : struct
{
    static abstract int Count { get; }
    static abstract TV Load(ref float p);
    static abstract void Store(TV v, ref float p);
    static abstract TV Splat(float v);
    static abstract TV Add(TV a, TV b);
    static abstract TV Sub(TV a, TV b);
    static abstract TV Mul(TV a, TV b);
    static abstract TV Div(TV a, TV b);
    /// <summary>a b + c, fused (one rounding) at every width.</summary>
    static abstract TV Fma(TV a, TV b, TV c);
    /// <summary>e^x by <see cref="CpuExp"/>: the same polynomial at every width, so a value's result does not depend on
    /// whether it falls in the vector body or the scalar tail.</summary>
    static abstract TV Exp(TV x);
    /// <summary>
    /// a &lt; b ? a : b, element by element: b where either is NaN (and where both are zeros), as x86's minps does, so
    /// a NaN passes through only as the SECOND operand. Not IEEE's minimum, which the runtime's Vector512.Min emulates
    /// in three instructions; these run in one, and the scalar lane does the same comparison.
    /// </summary>
    static abstract TV Min(TV a, TV b);
    /// <summary>a &gt; b ? a : b (maxps); as <see cref="Min"/>, a NaN passes through only as the second operand.</summary>
    static abstract TV Max(TV a, TV b);
    /// <summary>Round to nearest, ties to even.</summary>
    static abstract TV Round(TV x);
    /// <summary>2^n for integral n in [-126, 127], built in the exponent field.</summary>
    static abstract TV Pow2(TV n);
    /// <summary>x 2^n, rounded once, for integral n in [-126, 128] (vscalefps where there is one).</summary>
    static abstract TV ScaleByPow2(TV x, TV n);
    /// <summary>then where a &gt; b, else otherwise (element by element; false where either is NaN).</summary>
    static abstract TV IfGreater(TV a, TV b, TV then, TV otherwise);
    static abstract TV Abs(TV x);
    /// <summary>r with its sign flipped where <paramref name="sign"/> has its sign bit set.</summary>
    static abstract TV FlipSignWhereNegative(TV r, TV sign);
}

struct Lanes512 : ILanes<Vector512<float>>
{
    public static int Count => Vector512<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(ref float p) => Vector512.LoadUnsafe(ref p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<float> v, ref float p) => v.StoreUnsafe(ref p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Splat(float v) => Vector512.Create(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Sub(Vector512<float> a, Vector512<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Mul(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Div(Vector512<float> a, Vector512<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Exp(Vector512<float> x) => CpuExp.Exp<Vector512<float>, Lanes512>(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Min(Vector512<float> a, Vector512<float> b) =>
        Avx512F.IsSupported ? Avx512F.Min(a, b) : Vector512.ConditionalSelect(Vector512.LessThan(a, b), a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Max(Vector512<float> a, Vector512<float> b) =>
        Avx512F.IsSupported ? Avx512F.Max(a, b) : Vector512.ConditionalSelect(Vector512.GreaterThan(a, b), a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Round(Vector512<float> x) => Vector512.Round(x);
    // n is integral and in range: the plain conversion, without the saturating one's fix-ups.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Pow2(Vector512<float> n) => Vector512.ShiftLeft(
        (Avx512F.IsSupported ? Avx512F.ConvertToVector512Int32WithTruncation(n) : Vector512.ConvertToInt32(n)) + Vector512.Create(127), 23).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ScaleByPow2(Vector512<float> x, Vector512<float> n) =>
        Avx512F.IsSupported ? Avx512F.Scale(x, n) : CpuExp.ScaleByPow2<Vector512<float>, Lanes512>(x, n);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> IfGreater(Vector512<float> a, Vector512<float> b, Vector512<float> then, Vector512<float> otherwise) =>
        Vector512.ConditionalSelect(Vector512.GreaterThan(a, b), then, otherwise);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Abs(Vector512<float> x) => Vector512.Abs(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> FlipSignWhereNegative(Vector512<float> r, Vector512<float> sign) => r ^ (sign & Vector512.Create(-0f));
}

struct Lanes256 : ILanes<Vector256<float>>
{
    public static int Count => Vector256<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(ref float p) => Vector256.LoadUnsafe(ref p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<float> v, ref float p) => v.StoreUnsafe(ref p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Splat(float v) => Vector256.Create(v);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Sub(Vector256<float> a, Vector256<float> b) => a - b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Mul(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Div(Vector256<float> a, Vector256<float> b) => a / b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Exp(Vector256<float> x) => CpuExp.Exp<Vector256<float>, Lanes256>(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Min(Vector256<float> a, Vector256<float> b) =>
        Avx.IsSupported ? Avx.Min(a, b) : Vector256.ConditionalSelect(Vector256.LessThan(a, b), a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Max(Vector256<float> a, Vector256<float> b) =>
        Avx.IsSupported ? Avx.Max(a, b) : Vector256.ConditionalSelect(Vector256.GreaterThan(a, b), a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Round(Vector256<float> x) => Vector256.Round(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Pow2(Vector256<float> n) => Vector256.ShiftLeft(
        (Avx.IsSupported ? Avx.ConvertToVector256Int32WithTruncation(n) : Vector256.ConvertToInt32(n)) + Vector256.Create(127), 23).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ScaleByPow2(Vector256<float> x, Vector256<float> n) => CpuExp.ScaleByPow2<Vector256<float>, Lanes256>(x, n);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> IfGreater(Vector256<float> a, Vector256<float> b, Vector256<float> then, Vector256<float> otherwise) =>
        Vector256.ConditionalSelect(Vector256.GreaterThan(a, b), then, otherwise);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Abs(Vector256<float> x) => Vector256.Abs(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> FlipSignWhereNegative(Vector256<float> r, Vector256<float> sign) => r ^ (sign & Vector256.Create(-0f));
}

/// <summary>One lane: the scalar tail after the vectors, with the same fused multiply-adds.</summary>
struct Lanes1 : ILanes<float>
{
    public static int Count => 1;
    public static float Load(ref float p) => p;
    public static void Store(float v, ref float p) => p = v;
    public static float Splat(float v) => v;
    public static float Add(float a, float b) => a + b;
    public static float Sub(float a, float b) => a - b;
    public static float Mul(float a, float b) => a * b;
    public static float Div(float a, float b) => a / b;
    public static float Fma(float a, float b, float c) => MathF.FusedMultiplyAdd(a, b, c);
    public static float Exp(float x) => CpuExp.Exp<float, Lanes1>(x);
    public static float Min(float a, float b) => a < b ? a : b;
    public static float Max(float a, float b) => a > b ? a : b;
    public static float Round(float x) => MathF.Round(x, MidpointRounding.ToEven);
    public static float Pow2(float n) => BitConverter.Int32BitsToSingle(((int)n + 127) << 23);
    public static float ScaleByPow2(float x, float n) => CpuExp.ScaleByPow2<float, Lanes1>(x, n);
    public static float IfGreater(float a, float b, float then, float otherwise) => a > b ? then : otherwise;
    public static float Abs(float x) => MathF.Abs(x);
    public static float FlipSignWhereNegative(float r, float sign) => float.IsNegative(sign) ? -r : r;
}
