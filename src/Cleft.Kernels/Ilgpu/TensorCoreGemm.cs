using ILGPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Strided batched GEMM on tensor cores, the bf16 counterpart of <see cref="GemmKernel"/> with the same arguments
/// (<see cref="GemmArgs"/>: transposes, batch strides, alpha, beta): C[z] = alpha op(A[z]) op(B[z]) + beta C[z].
/// Operands are fp32 in memory and rounded to bf16 (nearest-even) as they are staged into shared memory; products
/// and sums are fp32 (mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, HMMA.16816.F32.BF16 on sm_80/sm_90;
/// docs/TENSOR_CORES.md).
/// <list type="bullet">
/// <item>A group of 8 warps computes a 128x128 tile of C; grid = (N tiles, M tiles, batch). Warp w owns the 64x32
/// block (w / 4, w % 4): 4 (m16) x 4 (n8) accumulator fragments, 16 MMAs per 24 fragment registers per k step of
/// 16.</item>
/// <item>Shared memory holds op(A) as [m][k pair] and op(B) as [n][k pair], whatever the operands' layouts (uints
/// holding two bf16, lower k in the low half): each fragment register is one 32-bit shared load. Row pitch 20
/// uints puts the 32 lanes of a fragment load on 32 banks. No ldmatrix: docs/TENSOR_CORES.md says why.</item>
/// <item>Software pipelining: each thread loads its share of the next 32-deep K slab into registers before the
/// current slab's MMAs and converts and stores it after them, so global latency overlaps tensor-core work. One
/// shared buffer, two barriers per slab. Loads are scalar and coalesced for either layout (<see cref="StageMap"/>);
/// cp.async does not apply because the operands are fp32 in memory and must be rounded on the way.</item>
/// <item>Out-of-range rows, columns and k are staged as zeros and masked on store, so any shape works; beta = 0
/// never reads C.</item>
/// </list>
/// Off CUDA (the CPU accelerator) <see cref="TensorCoreMma"/> runs an exact emulation of mma.sync, so the CPU tests
/// check the fragment addressing as well as the tiling.
/// </summary>
static partial class TensorCoreGemm
{
    public const int TileM = 128, TileN = 128, TileK = 32;
    public const int WarpLanes = TensorCoreMma.WarpLanes, Warps = 8;
    /// <summary>Threads per group: the host must launch exactly this many.</summary>
    public const int Threads = WarpLanes * Warps;
    const int WarpM = 64, WarpN = 32, WarpsN = TileN / WarpN;
    const int Pitch = TileK / 2 + 4; // uints per staged row: 16 k pairs + 4 padding
    const int SlabWords = TileM * Pitch; // TileM == TileN: one size serves both slabs
    const int FragmentWords = TensorCoreMma.FragmentWords;

    [Kernel("gemm_bf16_mma", KernelGrouping.Explicit)]
    static void GemmBf16Mma(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmArgs s)
    {
        var slabA = SharedMemory.Allocate<uint>(SlabWords);
        var slabB = SharedMemory.Allocate<uint>(SlabWords);
        // Only the emulations read it, but ILGPU 1.5.3 keeps shared allocations that lose their uses: CUDA carries
        // 6 KB it never touches. One allocation for all call sites (one per site multiplies it).
        var scratch = SharedMemory.Allocate<uint>(Warps * FragmentWords);
        // Shifts and masks, not / and %: ptxas 11.8 turned these signed remainders into full divisions in the loop.
        int tid = Group.IdxX, warp = tid >> 5, lane = tid & (WarpLanes - 1);
        int m0 = Grid.IdxY * TileM, n0 = Grid.IdxX * TileN;
        long z = Grid.IdxZ;
        // A stored [M,K] has k contiguous; B stored [K,N] has n contiguous, so it is B^T ([N,K]) that has k contiguous.
        var mapA = StageMap.For(s.TransA == 0, s.TransA != 0 ? s.M : s.K, z * s.StrideA, m0, s.M, tid);
        var mapB = StageMap.For(s.TransB != 0, s.TransB != 0 ? s.K : s.N, z * s.StrideB, n0, s.N, tid);

        int wm = (warp >> 2) * WarpM, wn = (warp & (WarpsN - 1)) * WarpN;
        // Row (A) or column (B) groupID, k pair threadID_in_group: where this lane's fragment registers start.
        // Views start at a lane's or thread's own words so that every shared access in the loop is that base plus
        // a constant: ILGPU sign-extends each int index before scaling it, which keeps ptxas from folding a constant
        // added to a variable index into the instruction's offset (one LEA and one IADD3 per access otherwise).
        int wordA = (wm + (lane >> 2)) * Pitch + (lane & 3), wordB = (wn + (lane >> 2)) * Pitch + (lane & 3);
        var fragA = slabA.SubView(wordA, SlabWords - wordA);
        var fragB = slabB.SubView(wordB, SlabWords - wordB);
        var dstA = slabA.SubView(mapA.Word, SlabWords - mapA.Word);
        var dstB = slabB.SubView(mapB.Word, SlabWords - mapB.Word);
        var warpScratch = scratch.SubView(warp * FragmentWords, FragmentWords);

        var acc = new WarpTile();
        var stageA = new Stage();
        var stageB = new Stage();
        if (s.K > 0)
        {
            stageA.Load(a, mapA, 0, s.K);
            stageB.Load(b, mapB, 0, s.K);
        }
        for (int k0 = 0; k0 < s.K; k0 += TileK)
        {
            stageA.Store(dstA);
            stageB.Store(dstB);
            Group.Barrier();
            if (k0 + TileK < s.K)
            {
                stageA.Load(a, mapA, k0 + TileK, s.K);
                stageB.Load(b, mapB, k0 + TileK, s.K);
            }
            acc.Step(fragA, fragB, 0, lane, warpScratch);
            acc.Step(fragA, fragB, TileK / 4, lane, warpScratch); // k 16..31: 8 k pairs on
            // The next trip overwrites the slabs: everyone must be done reading them.
            Group.Barrier();
        }
        acc.Store(c, z * s.StrideC, s, m0 + wm + (lane >> 2), n0 + wn + 2 * (lane & 3));
    }

    /// <summary>
    /// Where one thread's share of a K slab of one operand comes from: 8 pairs of k-adjacent elements (16 floats).
    /// Pair j is element (mn, k), (mn, k + 1) with mn = MnT + 32 (j / 2), k = k0 + KT + 2 (j % 2), at global index
    /// Base + k0 KStride + (j / 2) HalfStep + (j % 2) OddStep, and goes to shared word Word + 32 Pitch (j / 2) + j % 2.
    /// Both layouts map threads so that only the global steps differ: the shared offsets and the bounds arithmetic
    /// are constants, which ptxas folds into the instructions.
    /// </summary>
    struct StageMap
    {
        public const int MnHalf = 32, KOdd = 2, WordHalf = MnHalf * Pitch;

        public long Base;     // global index of pair 0's first element at k0 = 0, batch offset included
        public long KStride;  // global distance from k to k + 1
        public long HalfStep, OddStep; // global distance from pair 0 to pair 2 and to pair 1
        public int MnT, Limit, KT, Word;

        /// <summary>
        /// k-contiguous storage (element (mn, k) at mn ld + k): 8 consecutive threads read 32 consecutive k of one
        /// row, 4 each; thread tid takes rows tid / 8 + 32 i. mn-contiguous storage (at k ld + mn): a warp reads 32
        /// consecutive mn of one k row; thread tid takes columns tid % 32 + 32 i and k 4 (tid / 32) + 0..3.
        /// </summary>
        public static StageMap For(bool kContiguous, int ld, long offset, int mn0, int limit, int tid)
        {
            if (kContiguous)
            {
                int row = tid >> 3, q = tid & 7;
                return new StageMap
                {
                    Base = offset + (long)(mn0 + row) * ld + 4 * q, KStride = 1, HalfStep = (long)MnHalf * ld, OddStep = KOdd,
                    MnT = mn0 + row, Limit = limit, KT = 4 * q, Word = row * Pitch + 2 * q,
                };
            }
            int col = tid & (WarpLanes - 1), w = tid >> 5;
            return new StageMap
            {
                Base = offset + (long)(4 * w) * ld + mn0 + col, KStride = ld, HalfStep = MnHalf, OddStep = (long)KOdd * ld,
                MnT = mn0 + col, Limit = limit, KT = 4 * w, Word = col * Pitch + 2 * w,
            };
        }
    }
}
