namespace Cleft.Autograd.IO;

/// <summary>bfloat16 (the top 16 bits of a float32) as stored in checkpoints, converted the way PyTorch does.</summary>
public static class BFloat16
{
    /// <summary>Exact: every bfloat16 is a float32 with the low 16 bits zero.</summary>
    public static float ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>
    /// Round to nearest, ties to even (c10::BFloat16's round_to_nearest_even): values past the largest bfloat16
    /// become infinity, and every NaN becomes the canonical quiet NaN 0x7FC0 (plain truncation could turn a NaN
    /// whose payload sits in the low bits into infinity).
    /// </summary>
    public static ushort FromSingle(float value)
    {
        if (float.IsNaN(value)) return 0x7FC0;
        uint bits = BitConverter.SingleToUInt32Bits(value);
        // Adding 0x7FFF rounds up past the halfway point; the kept LSB breaks the tie toward even.
        bits += 0x7FFFu + ((bits >> 16) & 1);
        return (ushort)(bits >> 16);
    }
}
