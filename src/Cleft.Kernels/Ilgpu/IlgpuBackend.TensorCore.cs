using ILGPU;
using ILGPU.Runtime;

namespace Cleft.Kernels.Ilgpu;

// The bf16 tensor-core GEMM (TensorCoreGemm.cs): what Gemm runs under Precision.Bf16.
public sealed partial class IlgpuBackend
{
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>? _gemmBf16Mma;

    /// <summary>
    /// <see cref="Gemm"/> with A and B rounded to bf16 (nearest-even) and fp32 products and sums: mma.sync m16n8k16
    /// on CUDA, an exact emulation of it elsewhere. Same shapes, strides, alpha and beta as the fp32 path.
    /// </summary>
    public void GemmBf16(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> c, in GemmShape shape)
    {
        if (shape.Batch == 0 || shape.M == 0 || shape.N == 0) return;
        GemmBf16Views(shape, F(a), F(b), F(c));
    }

    void GemmBf16Views(in GemmShape shape, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c)
    {
        // The fragment layout and the warp-to-block mapping are written for 32-lane warps.
        if (_warp != TensorCoreGemm.WarpLanes)
            throw new NotSupportedException($"gemm_bf16_mma (src/Cleft.Kernels/Ilgpu/TensorCoreGemm.cs) needs 32-lane warps; '{Name}' has {_warp}");
        LaunchTiledGemm(shape, a, b, c, Kernel(ref _gemmBf16Mma, "gemm_bf16_mma"), TensorCoreGemm.TileM, TensorCoreGemm.TileN, TensorCoreGemm.Threads);
    }
}
