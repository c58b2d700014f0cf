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
        var launch = Kernel(ref _gemmHalfB, "gemm_half_b");
        LaunchTiledGemm(shape, Own(a).Flat, Own(b).Flat, F(c), launch);
    }

    /// <summary>Batching and grid of the tiled GEMM kernels (gemm, gemm_half_b), whatever B's element type.</summary>
    static void LaunchTiledGemm<TB>(in GemmShape shape, ArrayView<float> av, ArrayView<TB> bv, ArrayView<float> cv,
        Action<KernelConfig, ArrayView<float>, ArrayView<TB>, ArrayView<float>, GemmArgs> launch) where TB : unmanaged
    {
        var args = GemmArgs.From(shape);
        int tilesN = (shape.N + GemmKernel.TileN - 1) / GemmKernel.TileN, tilesM = (shape.M + GemmKernel.TileM - 1) / GemmKernel.TileM;
        // Batch items whose C blocks overlap (StrideC < M*N, e.g. 0 to sum a weight gradient with beta = 1) must run one
        // after another, as in the managed backend; otherwise the batch is the grid's Z (at most 65535 per launch).
        bool overlap = shape.Batch > 1 && shape.StrideC < (long)shape.M * shape.N;
        int chunk = overlap ? 1 : Math.Min(shape.Batch, ushort.MaxValue);
        for (int z0 = 0; z0 < shape.Batch; z0 += chunk)
        {
            int items = Math.Min(chunk, shape.Batch - z0);
            // With K = 0 the kernel never reads A or B, which may then be shorter than the strides suggest.
            var az = shape.K == 0 ? av : av.SubView(z0 * shape.StrideA);
            var bz = shape.K == 0 ? bv : bv.SubView(z0 * shape.StrideB);
            launch(new KernelConfig(new Index3D(tilesN, tilesM, items), new Index3D(GemmKernel.Threads, 1, 1)),
                az, bz, cv.SubView(z0 * shape.StrideC), args);
        }
    }

    public void LoraDown(DeviceBuffer<float> x, DeviceBuffer<float> a, DeviceBuffer<float> t, int rows, int inFeatures, int rank, float p, ulong seed)
    {
        if (rows == 0 || rank == 0) return;
        Kernel(ref _loraDown, "lora_down")(Elementwise((long)rows * rank), F(x), F(a), F(t), rows, inFeatures, rank, p, seed);
    }

    public void LoraGradA(DeviceBuffer<float> x, DeviceBuffer<float> dt, DeviceBuffer<float> da, int rows, int inFeatures, int rank, float p, ulong seed)
    {
        if (rank == 0 || inFeatures == 0) return;
        Kernel(ref _loraGradA, "lora_grad_a")(Elementwise((long)rank * inFeatures), F(x), F(dt), F(da), rows, inFeatures, rank, p, seed);
    }

    public void LoraGradX(DeviceBuffer<float> a, DeviceBuffer<float> dt, DeviceBuffer<float> dx, int rows, int inFeatures, int rank, float p, ulong seed)
    {
        if (rows == 0 || inFeatures == 0) return;
        Kernel(ref _loraGradX, "lora_grad_x")(Elementwise((long)rows * inFeatures), F(a), F(dt), F(dx), rows, inFeatures, rank, p, seed);
    }

    public void Ia3Backward(DeviceBuffer<float> x, DeviceBuffer<float> l, DeviceBuffer<float> dy, DeviceBuffer<float> dx,
        DeviceBuffer<float> dl, int rows, int cols)
    {
        if (cols == 0) return;
        // dl before dx: dx may alias dy.
        Kernel(ref _ia3GradL, "ia3_grad_l")
            (Elementwise(cols), F(x), F(dy), F(dl), rows, cols);
        Binary(BinaryOp.Mul, dy, l, dx, (long)rows * cols, Broadcast.Row(cols));
    }
}
