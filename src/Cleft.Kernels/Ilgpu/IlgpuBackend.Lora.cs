using ILGPU;
using ILGPU.Runtime;
using Half = ILGPU.Half;

namespace Cleft.Kernels.Ilgpu;

// LoRA / IA3 / fp16-weight ops (IBackend.Lora.cs). LoRA's three products run through the tiled `gemm` kernel:
// dropout is applied once into a temporary (the same counter hash, so the same mask as the managed backend),
// then a GEMM; the weight gradient of lora_A, whose K (rows) is long and whose M (rank) is tiny, is split along K
// into batched GEMMs whose partial products are added in split order (deterministic, no atomics).
public sealed partial class IlgpuBackend
{
    Action<KernelConfig, ArrayView<float>, ArrayView<Half>, ArrayView<float>, GemmArgs>? _gemmHalfB;
    Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>? _ia3GradL;

    public void GemmHalfB(DeviceBuffer<float> a, DeviceBuffer<Half> b, DeviceBuffer<float> c, in GemmShape shape)
    {
        if (shape.Batch == 0 || shape.M == 0 || shape.N == 0) return;
        var launch = Kernel(ref _gemmHalfB, "gemm_half_b");
        LaunchTiledGemm(shape, Own(a).Flat, Own(b).Flat, F(c), launch, GemmKernel.TileM, GemmKernel.TileN, GemmKernel.Threads);
    }

    /// <summary>Shortest K slice of the split-K GEMM (two of the tiled kernel's k steps).</summary>
    const int MinSplitK = 2 * GemmKernel.TileK;
    /// <summary>Most K slices: enough groups to fill a large GPU when N / 64 is about 12 (inFeatures 768).</summary>
    const int MaxSplitsK = 64;

    public void LoraDown(DeviceBuffer<float> x, DeviceBuffer<float> a, DeviceBuffer<float> t, int rows, int inFeatures, int rank, float p, ulong seed)
    {
        if (rows == 0 || rank == 0) return;
        var xd = Dropped(x, (long)rows * inFeatures, p, seed);
        try { Gemm(xd, a, t, GemmShape.Contiguous(1, rows, rank, inFeatures, transB: true)); }
        finally { if (!ReferenceEquals(xd, x)) Release(xd); }
    }

    public void LoraGradA(DeviceBuffer<float> x, DeviceBuffer<float> dt, DeviceBuffer<float> da, int rows, int inFeatures, int rank, float p, ulong seed)
    {
        if (rank == 0 || inFeatures == 0) return;
        long outputs = (long)rank * inFeatures;
        if (rows == 0) { Fill(da, outputs, 0f); return; }
        var xd = Dropped(x, (long)rows * inFeatures, p, seed);
        try
        {
            // da = dt^T drop(x): op(A) = dt^T ([rank, rows], dt stored [rows, rank]), B = drop(x) [rows, in].
            int slice = Math.Max(MinSplitK, (rows + MaxSplitsK - 1) / MaxSplitsK);
            int full = rows / slice, rest = rows - full * slice, splits = full + (rest > 0 ? 1 : 0);
            if (splits == 1) { GemmViews(SliceK(rank, inFeatures, rows, 1), F(dt), F(xd), F(da)); return; }
            var partial = Allocate<float>(splits * outputs);
            try
            {
                ArrayView<float> dtv = F(dt), xv = F(xd), pv = F(partial);
                if (full > 0) GemmViews(SliceK(rank, inFeatures, slice, full), dtv, xv, pv);
                if (rest > 0)
                {
                    long k0 = (long)full * slice;
                    GemmViews(SliceK(rank, inFeatures, rest, 1), dtv.SubView(k0 * rank), xv.SubView(k0 * inFeatures), pv.SubView(full * outputs));
                }
                ColumnSums(pv, F(da), splits, Elements32(outputs, "LoraGradA"));
            }
            finally { Release(partial); }
        }
        finally { if (!ReferenceEquals(xd, x)) Release(xd); }
    }

    /// <summary>A batch of K slices of dt^T x: item z multiplies rows [z k, z k + k) and writes its own [rank, in] partial.</summary>
    static GemmShape SliceK(int rank, int inFeatures, int k, int count) =>
        new(count, rank, inFeatures, k, TransA: true, TransB: false, StrideA: (long)k * rank, StrideB: (long)k * inFeatures, StrideC: (long)rank * inFeatures);

    public void LoraGradX(DeviceBuffer<float> a, DeviceBuffer<float> dt, DeviceBuffer<float> dx, int rows, int inFeatures, int rank, float p, ulong seed)
    {
        if (rows == 0 || inFeatures == 0) return;
        long n = (long)rows * inFeatures;
        var product = GemmShape.Contiguous(1, rows, inFeatures, rank);
        // No dropout: the product adds straight into dx (beta = 1).
        if (p == 0f) { Gemm(dt, a, dx, product with { Beta = 1f }); return; }
        var u = Allocate<float>(n);
        try
        {
            Gemm(dt, a, u, product);
            Dropout(u, u, n, p, seed); // the forward's mask: element (n, i) of u is element (n, i) of x
            Axpy(1f, u, dx, n);
        }
        finally { Release(u); }
    }

    /// <summary>x after dropout in a pooled temporary, or x itself when p = 0.</summary>
    DeviceBuffer<float> Dropped(DeviceBuffer<float> x, long n, float p, ulong seed)
    {
        if (p == 0f) return x;
        var y = Allocate<float>(n);
        Dropout(x, y, n, p, seed);
        return y;
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
