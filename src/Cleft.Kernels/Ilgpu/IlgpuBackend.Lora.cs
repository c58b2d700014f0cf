using ILGPU;
using ILGPU.Runtime;
using Half = ILGPU.Half;

namespace Cleft.Kernels.Ilgpu;

// LoRA / IA3 / fp16-weight ops (IBackend.Lora.cs): launch shapes and kernel loading.
public sealed partial class IlgpuBackend
{
    Action<KernelConfig, ArrayView<float>, ArrayView<Half>, ArrayView<float>, GemmArgs>? _gemmHalfB;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float, ulong>? _loraDown, _loraGradA, _loraGradX;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>? _ia3GradL;

    public void GemmHalfB(DeviceBuffer<float> a, DeviceBuffer<Half> b, DeviceBuffer<float> c, in GemmShape shape)
    {
        if (shape.Batch == 0 || shape.M == 0 || shape.N == 0) return;
        var launch = Kernel(ref _gemmHalfB, "gemm_half_b", static (acc, m) => acc.LoadStreamKernel(Of<Action<ArrayView<float>, ArrayView<Half>, ArrayView<float>, GemmArgs>>(m)));
        LaunchTiledGemm(shape, Own(a).Flat, Own(b).Flat, F(c), launch, GemmKernel.TileM, GemmKernel.TileN, GemmKernel.Threads);
    }

    static Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float, ulong> LoadLora(Accelerator acc, System.Reflection.MethodInfo m)
        => acc.LoadStreamKernel(Of<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, float, ulong>>(m));

    public void LoraDown(DeviceBuffer<float> x, DeviceBuffer<float> a, DeviceBuffer<float> t, int rows, int inFeatures, int rank, float p, ulong seed)
    {
        if (rows == 0 || rank == 0) return;
        Kernel(ref _loraDown, "lora_down", LoadLora)(Elementwise((long)rows * rank), F(x), F(a), F(t), rows, inFeatures, rank, p, seed);
    }

    public void LoraGradA(DeviceBuffer<float> x, DeviceBuffer<float> dt, DeviceBuffer<float> da, int rows, int inFeatures, int rank, float p, ulong seed)
    {
        if (rank == 0 || inFeatures == 0) return;
        Kernel(ref _loraGradA, "lora_grad_a", LoadLora)(Elementwise((long)rank * inFeatures), F(x), F(dt), F(da), rows, inFeatures, rank, p, seed);
    }

    public void LoraGradX(DeviceBuffer<float> a, DeviceBuffer<float> dt, DeviceBuffer<float> dx, int rows, int inFeatures, int rank, float p, ulong seed)
    {
        if (rows == 0 || inFeatures == 0) return;
        Kernel(ref _loraGradX, "lora_grad_x", LoadLora)(Elementwise((long)rows * inFeatures), F(a), F(dt), F(dx), rows, inFeatures, rank, p, seed);
    }

    public void Ia3Backward(DeviceBuffer<float> x, DeviceBuffer<float> l, DeviceBuffer<float> dy, DeviceBuffer<float> dx,
        DeviceBuffer<float> dl, int rows, int cols)
    {
        if (cols == 0) return;
        // dl before dx: dx may alias dy.
        Kernel(ref _ia3GradL, "ia3_grad_l", static (acc, m) => acc.LoadStreamKernel(Of<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>>(m)))
            (Elementwise(cols), F(x), F(dy), F(dl), rows, cols);
        Binary(BinaryOp.Mul, dy, l, dx, (long)rows * cols, Broadcast.Row(cols));
    }
}
