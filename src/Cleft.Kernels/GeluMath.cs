namespace Cleft.Kernels;

/// <summary>GELU, tanh approximation (GPT-2's gelu_new), shared by the managed backend and the ILGPU kernels.</summary>
public static class GeluMath
{
    const float C = 0.7978845608028654f; // sqrt(2 / pi)
    const float K = 0.044715f;

    public static float Forward(float x)
    {
        float t = MathF.Tanh(C * (x + K * x * x * x));
        return 0.5f * x * (1f + t);
    }

    public static float Derivative(float x)
    {
        float t = MathF.Tanh(C * (x + K * x * x * x));
        return 0.5f * (1f + t) + 0.5f * x * (1f - t * t) * C * (1f + 3f * K * x * x);
    }
}
