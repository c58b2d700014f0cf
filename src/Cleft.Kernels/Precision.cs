namespace Cleft.Kernels;

/// <summary>
/// What the matrix products (GEMMs and attention) compute in. Everything else stays fp32 in both: master weights,
/// optimizer state, softmax, layer norm, reductions and the loss (docs/TENSOR_CORES.md).
/// </summary>
public enum Precision
{
    /// <summary>fp32 inputs and FFMA (the reference path).</summary>
    Fp32,
    /// <summary>Inputs rounded to bf16 (nearest-even), products and sums in fp32: tensor cores (mma.sync) on CUDA.</summary>
    Bf16,
}

public static class Precisions
{
    public static readonly string[] Names = ["auto", "fp32", "bf16"];

    /// <summary>"auto" is null: the device decides (<see cref="Devices.Create(string, Precision?)"/>).</summary>
    public static Precision? Parse(string name) => name.ToLowerInvariant() switch
    {
        "auto" => null,
        "fp32" => Precision.Fp32,
        "bf16" => Precision.Bf16,
        _ => throw new ArgumentException($"unknown precision '{name}'; expected one of: {string.Join(", ", Names)}"),
    };

    public static string Name(this Precision p) => p == Precision.Bf16 ? "bf16" : "fp32";
}
