namespace Cleft.Kernels;

/// <summary>
/// Exact GELU, x Phi(x), shared by the managed backend and the ILGPU kernels. .NET has no erf, and a kernel can
/// only call ILGPU's remapped intrinsics, so erf is Abramowitz and Stegun 7.1.26 (|error| &lt;= 1.5e-7, below
/// fp32's resolution of values near 1) built on MathF.Exp, which both sides have.
/// </summary>
public static class GeluErfMath
{
    const float InvSqrt2 = 0.70710678118654752f;
    const float InvSqrt2Pi = 0.39894228040143268f; // 1 / sqrt(2 pi)

    /// <summary>erf(z) to within 1.5e-7 absolute.</summary>
    public static float Erf(float z)
    {
        float a = z < 0f ? -z : z;
        float t = 1f / (1f + 0.3275911f * a);
        float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
        float r = 1f - poly * MathF.Exp(-a * a);
        return z < 0f ? -r : r;
    }

    /// <summary>Standard normal CDF.</summary>
    public static float Phi(float x) => 0.5f * (1f + Erf(x * InvSqrt2));

    public static float Forward(float x) => x * Phi(x);

    /// <summary>d/dx x Phi(x) = Phi(x) + x phi(x).</summary>
    public static float Derivative(float x) => Phi(x) + x * InvSqrt2Pi * MathF.Exp(-0.5f * x * x);
}
