using System.Runtime.CompilerServices;
using ILGPU;

namespace Cleft.Kernels;

/// <summary>
/// bfloat16 as raw ushort bits (the top half of an fp32): ILGPU has no bfloat16 type (docs/RECIPE.md §ilgpu).
/// Usable on the host and inside kernels (ILGPU's Interop casts compile to plain moves).
/// </summary>
public static class Bf16
{
    /// <summary>fp32 -&gt; bf16 bits, rounding to nearest, ties to even (as cvt.rn.bf16.f32); NaN stays a quiet NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromFloat(float f)
    {
        uint bits = Interop.FloatAsInt(f);
        // Adding 0x7FFF + lsb before truncating rounds half-way cases to the even neighbour; for a NaN the carry
        // could turn it into an infinity, so NaNs are mapped to the canonical quiet NaN instead.
        if ((bits & 0x7FFF_FFFFu) > 0x7F80_0000u) return 0x7FC0;
        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
    }

    /// <summary>bf16 bits -&gt; fp32 (exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort bits) => Interop.IntAsFloat((uint)bits << 16);

    /// <summary>The fp32 value nearest to <paramref name="f"/> that bf16 can hold.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Round(float f) => ToFloat(FromFloat(f));

    /// <summary>Two bf16 values in one 32-bit register, <paramref name="lo"/> in the low half (the PTX .bf16x2 order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Pack(float lo, float hi) => FromFloat(lo) | ((uint)FromFloat(hi) << 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Low(uint pair) => Interop.IntAsFloat(pair << 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float High(uint pair) => Interop.IntAsFloat(pair & 0xFFFF_0000u);
}
