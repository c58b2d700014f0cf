using ILGPU;
using ILGPU.Runtime;

namespace Cleft.Kernels.Ilgpu;

// Batching and grid of every tiled GEMM kernel (gemm, gemm_half_b, gemm_bf16_mma): they all take GemmArgs and
// run batch item Grid.IdxZ.
public sealed partial class IlgpuBackend
{
    /// <summary>
    /// Launches a GEMM kernel whose groups of <paramref name="threads"/> each compute a <paramref name="tileM"/> x
    /// <paramref name="tileN"/> tile of C, whatever B's element type.
    /// </summary>
    static void LaunchTiledGemm<TB>(in GemmShape shape, ArrayView<float> av, ArrayView<TB> bv, ArrayView<float> cv,
        Action<KernelConfig, ArrayView<float>, ArrayView<TB>, ArrayView<float>, GemmArgs> launch,
        int tileM, int tileN, int threads) where TB : unmanaged
    {
        var args = GemmArgs.From(shape);
        int tilesN = (shape.N + tileN - 1) / tileN, tilesM = (shape.M + tileM - 1) / tileM;
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
            launch(new KernelConfig(new Index3D(tilesN, tilesM, items), new Index3D(threads, 1, 1)),
                az, bz, cv.SubView(z0 * shape.StrideC), args);
        }
    }
}
