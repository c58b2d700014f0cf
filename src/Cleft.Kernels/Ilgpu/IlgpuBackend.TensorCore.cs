using ILGPU;
using ILGPU.Runtime;

namespace Cleft.Kernels.Ilgpu;

// Tensor-core GEMM (TensorCoreGemm.cs). Not on IBackend and not used by Gemm: there is no precision switch yet
// (docs/TENSOR_CORES.md, issue 8).
public sealed partial class IlgpuBackend
{
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>? _gemmBf16Mma;

    /// <summary>
    /// c[m,n] = a[m,k] b[k,n], all row-major fp32, with a and b rounded to bf16 (nearest-even) and fp32 sums:
    /// mma.sync m16n8k16 on CUDA, an exact emulation of it elsewhere. c is overwritten (never read).
    /// </summary>
    public void GemmBf16(DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> c, int m, int n, int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        if (a.Length < (long)m * k || b.Length < (long)k * n || c.Length < (long)m * n)
            throw new ArgumentException($"GemmBf16 [{m},{k}]x[{k},{n}]: buffers of {a.Length}, {b.Length}, {c.Length} elements are too short");
        if (m == 0 || n == 0) return;
        // The fragment layout and the warp-to-quadrant mapping are written for 32-lane warps.
        if (_warp != TensorCoreGemm.WarpLanes)
            throw new NotSupportedException($"gemm_bf16_mma (src/Cleft.Kernels/Ilgpu/TensorCoreGemm.cs) needs 32-lane warps; '{Name}' has {_warp}");
        var launch = Kernel(ref _gemmBf16Mma, "gemm_bf16_mma",
            static (acc, mi) => acc.LoadStreamKernel(Of<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>>(mi)));
        var grid = new Index3D((n + TensorCoreGemm.TileN - 1) / TensorCoreGemm.TileN, (m + TensorCoreGemm.TileM - 1) / TensorCoreGemm.TileM, 1);
        launch(new KernelConfig(grid, new Index3D(TensorCoreGemm.Threads, 1, 1)), F(a), F(b), F(c), m, n, k);
    }
}
