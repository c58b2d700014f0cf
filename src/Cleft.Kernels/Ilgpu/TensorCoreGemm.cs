using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// C[M,N] = A[M,K] B[K,N] on tensor cores: fp32 row-major operands in memory, rounded to bf16 (nearest-even) as
/// they are staged into shared memory, products and sums in fp32 (mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32,
/// HMMA.16816.F32.BF16 on sm_80/sm_90; docs/RECIPE.md §ilgpu, docs/TENSOR_CORES.md).
/// <list type="bullet">
/// <item>A group of 4 warps computes a 64x64 tile of C; warp w owns the 32x32 quadrant (w / 2, w % 2), i.e.
/// 2 x 4 m16n8 accumulator tiles (32 floats per lane). Grid = (N tiles, M tiles). Warps must be 32 lanes wide.</item>
/// <item>Per step of 16 along K the group stages A as [m][k pair] and B as [n][k pair] (uints holding two bf16,
/// lower k in the low half), which is exactly the register content the fragments need: each fragment register is
/// one 32-bit shared load. The row pitch of 12 uints puts the 32 lanes of a fragment load on 32 banks.</item>
/// <item>Out-of-range rows, columns and k are staged as zeros and masked on store, so any M, N, K works.</item>
/// <item>Not yet: ldmatrix, cp.async double buffering, larger warp tiles, transposes, batch, alpha/beta.</item>
/// </list>
/// Off CUDA (the CPU accelerator), <see cref="TensorCoreMma.M16N8K16"/> runs an exact emulation that rebuilds the 16x16 A and 16x8 B
/// tiles from the warp's fragments (exchanged through shared memory), so the fragment layout is what the CPU tests
/// check.
/// </summary>
static class TensorCoreGemm
{
    public const int TileM = 64, TileN = 64, TileK = 16;
    public const int WarpLanes = TensorCoreMma.WarpLanes, Warps = 4;
    /// <summary>Threads per group: the host must launch exactly this many.</summary>
    public const int Threads = WarpLanes * Warps;
    const int Pitch = TileK / 2 + 4; // uints per staged row: 8 k pairs + 4 padding
    const int FragmentWords = TensorCoreMma.FragmentWords;

    [Kernel("gemm_bf16_mma", KernelGrouping.Explicit)]
    static void GemmBf16Mma(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, int m, int n, int k)
    {
        var slabA = SharedMemory.Allocate<uint>(TileM * Pitch);
        var slabB = SharedMemory.Allocate<uint>(TileN * Pitch);
        // Only the emulation reads it, but ILGPU 1.5.3 keeps shared allocations that lose their uses: CUDA carries
        // 3 KB it never touches (9 KB in all). One allocation here, not one per MMA call site (8 x 3 KB when tried).
        var fragments = SharedMemory.Allocate<uint>(Warps * FragmentWords);
        int tid = Group.IdxX, warp = tid / WarpLanes, lane = tid % WarpLanes;
        int m0 = Grid.IdxY * TileM, n0 = Grid.IdxX * TileN;
        int wm = warp / 2 * 32, wn = warp % 2 * 32;
        int g = lane >> 2, t = lane & 3; // the PTX ISA's groupID and threadID_in_group

        var acc = new WarpTile();
        for (int k0 = 0; k0 < k; k0 += TileK)
        {
            for (int p = tid; p < TileM * TileK / 2; p += Threads)
            {
                // A: 8 consecutive threads read one row's 16 consecutive k.
                int row = p / (TileK / 2), kp = p % (TileK / 2);
                slabA[row * Pitch + kp] = Bf16.Pack(At(a, m0 + row, m, k0 + 2 * kp, k), At(a, m0 + row, m, k0 + 2 * kp + 1, k));
            }
            for (int p = tid; p < TileN * TileK / 2; p += Threads)
            {
                // B: 64 consecutive threads read 64 consecutive n of two k rows.
                int col = p % TileN, kp = p / TileN;
                slabB[col * Pitch + kp] = Bf16.Pack(At(b, k0 + 2 * kp, k, n0 + col, n), At(b, k0 + 2 * kp + 1, k, n0 + col, n));
            }
            Group.Barrier();
            acc.Step(slabA, slabB, wm * Pitch, wn * Pitch, g, t, lane, fragments.SubView(warp * FragmentWords, FragmentWords));
            // The next trip overwrites the slabs: everyone must be done reading them.
            Group.Barrier();
        }
        acc.Store(c, m, n, m0 + wm, n0 + wn, g, t);
    }

    /// <summary>Element (r, col) of a row-major [rows, cols] matrix, zero outside it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float At(ArrayView<float> x, int r, int rows, int col, int cols) =>
        r < rows && col < cols ? x[(long)r * cols + col] : 0f;

    /// <summary>A warp's 32x32 quadrant as 2 (m16) x 4 (n8) fragments, unrolled by hand (ILGPU 1.5.3 does not unroll).</summary>
    struct WarpTile
    {
        MmaAcc _t00, _t01, _t02, _t03, _t10, _t11, _t12, _t13;

        /// <summary>One k step of 16 from the staged slabs; <paramref name="aBase"/>/<paramref name="bBase"/> are the warp's first rows.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Step(ArrayView<uint> slabA, ArrayView<uint> slabB, int aBase, int bBase, int g, int t, int lane, ArrayView<uint> fragments)
        {
            int a = aBase + g * Pitch + t;          // row g, k pair t of the warp's first m16 tile
            const int Down8 = 8 * Pitch, Down16 = 16 * Pitch;
            uint a00 = slabA[a], a01 = slabA[a + Down8], a02 = slabA[a + 4], a03 = slabA[a + Down8 + 4];
            uint a10 = slabA[a + Down16], a11 = slabA[a + Down16 + Down8], a12 = slabA[a + Down16 + 4], a13 = slabA[a + Down16 + Down8 + 4];
            int bb = bBase + g * Pitch + t;          // column g, k pair t of the warp's first n8 tile
            Column(ref _t00, ref _t10, a00, a01, a02, a03, a10, a11, a12, a13, slabB[bb], slabB[bb + 4], g, t, lane, fragments);
            Column(ref _t01, ref _t11, a00, a01, a02, a03, a10, a11, a12, a13, slabB[bb + Down8], slabB[bb + Down8 + 4], g, t, lane, fragments);
            Column(ref _t02, ref _t12, a00, a01, a02, a03, a10, a11, a12, a13, slabB[bb + Down16], slabB[bb + Down16 + 4], g, t, lane, fragments);
            Column(ref _t03, ref _t13, a00, a01, a02, a03, a10, a11, a12, a13, slabB[bb + Down16 + Down8], slabB[bb + Down16 + Down8 + 4], g, t, lane, fragments);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Column(ref MmaAcc top, ref MmaAcc bottom, uint a00, uint a01, uint a02, uint a03,
            uint a10, uint a11, uint a12, uint a13, uint b0, uint b1, int g, int t, int lane, ArrayView<uint> fragments)
        {
            TensorCoreMma.M16N8K16(ref top, a00, a01, a02, a03, b0, b1, g, t, lane, fragments);
            TensorCoreMma.M16N8K16(ref bottom, a10, a11, a12, a13, b0, b1, g, t, lane, fragments);
        }

        /// <summary>Writes the quadrant whose top-left element is (row0, col0), masked to the [m, n] matrix.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Store(ArrayView<float> c, int m, int n, int row0, int col0, int g, int t)
        {
            int r = row0 + g, cl = col0 + 2 * t;
            Put(c, m, n, r, cl, _t00); Put(c, m, n, r, cl + 8, _t01); Put(c, m, n, r, cl + 16, _t02); Put(c, m, n, r, cl + 24, _t03);
            Put(c, m, n, r + 16, cl, _t10); Put(c, m, n, r + 16, cl + 8, _t11); Put(c, m, n, r + 16, cl + 16, _t12); Put(c, m, n, r + 16, cl + 24, _t13);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Put(ArrayView<float> c, int m, int n, int r, int col, in MmaAcc f)
        {
            One(c, m, n, r, col, f.D0); One(c, m, n, r, col + 1, f.D1);
            One(c, m, n, r + 8, col, f.D2); One(c, m, n, r + 8, col + 1, f.D3);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void One(ArrayView<float> c, int m, int n, int r, int col, float v)
        {
            if (r < m && col < n) c[(long)r * n + col] = v;
        }
    }
}
