using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Staging for the tensor-core kernels, beside <see cref="TensorCoreMma"/>: cvt.rn.bf16x2.f32 (two fp32 to one bf16
/// pair) through inline PTX on CUDA and its exact C# equivalent elsewhere. No ldmatrix: the only way into the asm
/// for a shared address (Unsafe.As on the view, docs/RECIPE.md §ilgpu) puts the view in an address-taken local,
/// after which ptxas 11.8 keeps every asm operand of the kernel in local memory (measured: 1,776-byte stack frame
/// and 637 STL/LDL in the GEMM); docs/TENSOR_CORES.md.
/// </summary>
static class TensorCoreLoad
{
    /// <summary>
    /// Two fp32 rounded to bf16 (nearest-even) in one register, <paramref name="lo"/> in the low half: one
    /// cvt.rn.bf16x2.f32 on CUDA (which puts its first source in the upper half), <see cref="Bf16.Pack"/> elsewhere.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint PackBf16(float lo, float hi)
    {
        if (!CudaAsm.IsSupported) return Bf16.Pack(lo, hi);
        Output<uint> pair = default;
        Input<float> h = hi, l = lo;
        CudaAsm.EmitRef("cvt.rn.bf16x2.f32 %0, %1, %2;", ref pair, ref h, ref l);
        return pair.Value;
    }
}
