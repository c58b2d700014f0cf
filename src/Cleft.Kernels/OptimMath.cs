namespace Cleft.Kernels;

/// <summary>
/// Per-element optimizer arithmetic shared by the managed backend and the ILGPU kernels (it uses only
/// float operations ILGPU can compile), so both paths run the same formula in the same order.
/// </summary>
public static class OptimMath
{
    /// <summary>Step-constant AdamW factors: decay multiplier, step size lr/bc1, 1/sqrt(bc2).</summary>
    public readonly record struct AdamWFactors(float Decay, float StepSize, float InvSqrtBc2);

    public static AdamWFactors AdamW(in AdamWArgs a) =>
        new(1f - a.Lr * a.WeightDecay, a.Lr / a.BiasCorrection1, 1f / MathF.Sqrt(a.BiasCorrection2));

    /// <summary>torch.optim.AdamW's single-tensor update for one element; returns the new parameter value.</summary>
    public static float AdamWUpdate(float p, float g, ref float m, ref float v, in AdamWArgs a, in AdamWFactors k)
    {
        p *= k.Decay;
        m = a.Beta1 * m + (1f - a.Beta1) * g;
        v = a.Beta2 * v + (1f - a.Beta2) * g * g;
        float denom = MathF.Sqrt(v) * k.InvSqrtBc2 + a.Eps;
        p -= k.StepSize * m / denom;
        return Clamp(p, a.ClampMin, a.ClampMax);
    }

    public static float SgdMomentumUpdate(float p, float g, ref float vel, in SgdArgs a)
    {
        vel = a.Momentum * vel + g;
        return Clamp(p * (1f - a.Lr * a.WeightDecay) - a.Lr * vel, a.ClampMin, a.ClampMax);
    }

    public static float SgdPlainUpdate(float p, float g, in SgdArgs a) =>
        Clamp(p * (1f - a.Lr * a.WeightDecay) - a.Lr * g, a.ClampMin, a.ClampMax);

    public static float ClipCoefficient(float norm, float maxNorm) => MathF.Min(1f, maxNorm / (norm + 1e-6f));

    public static float Clamp(float x, float lo, float hi) => MathF.Min(MathF.Max(x, lo), hi);
}
