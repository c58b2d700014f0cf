using System.Runtime.CompilerServices;
using ILGPU;
using Half = ILGPU.Half;

namespace Cleft.Kernels.Ilgpu;

/// <summary>How the tiled GEMM reads one operand element as fp32 (global memory -&gt; shared slab).</summary>
interface IGemmOperand
{
    float Load(long index);
}

/// <summary>An fp32 operand: read as is.</summary>
readonly struct F32Operand : IGemmOperand
{
    readonly ArrayView<float> _view;
    public F32Operand(ArrayView<float> view) => _view = view;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Load(long index) => _view[index];
}

/// <summary>An fp16 operand (frozen weights): widened to fp32 as it is staged (cvt.f32.f16, exact).</summary>
readonly struct F16Operand : IGemmOperand
{
    readonly ArrayView<Half> _view;
    public F16Operand(ArrayView<Half> view) => _view = view;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float Load(long index) => _view[index];
}

static partial class GemmKernel
{
    /// <summary>
    /// The fp32 GEMM with B stored as fp16: same tiles, slabs, micro-tiles and launch shape as <c>gemm</c>
    /// (it is the same generic body); B is half the bytes to read and store, products and sums stay fp32.
    /// </summary>
    [Kernel("gemm_half_b", KernelGrouping.Explicit)]
    static void GemmHalfB(ArrayView<float> a, ArrayView<Half> b, ArrayView<float> c, GemmArgs s)
        => Tiled(new F32Operand(a), new F16Operand(b), c, s);
}
