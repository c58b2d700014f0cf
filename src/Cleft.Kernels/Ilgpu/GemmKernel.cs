using System.Runtime.CompilerServices;
using ILGPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>GEMM arguments as a kernel-friendly value type (ints instead of bools; see <see cref="GemmShape"/>).</summary>
public struct GemmArgs
{
    public int M, N, K;
    /// <summary>1 when the operand is stored transposed ([K,M] for A, [N,K] for B).</summary>
    public int TransA, TransB;
    public long StrideA, StrideB, StrideC;
    public float Alpha, Beta;

    public static GemmArgs From(in GemmShape s) => new()
    {
        M = s.M, N = s.N, K = s.K, TransA = s.TransA ? 1 : 0, TransB = s.TransB ? 1 : 0,
        StrideA = s.StrideA, StrideB = s.StrideB, StrideC = s.StrideC, Alpha = s.Alpha, Beta = s.Beta,
    };
}

/// <summary>
/// Strided batched SGEMM, C[z] = alpha op(A[z]) op(B[z]) + beta C[z], as a classic shared-memory tiled kernel:
/// <list type="bullet">
/// <item>A group of 16x16 = 256 threads computes a 64x64 tile of C; grid = (N tiles, M tiles, batch), the batch
/// item is Grid.IdxZ and each operand advances by its own stride (stride 0 broadcasts an operand).</item>
/// <item>Per step of 16 along K, the group stages a 64x16 slab of op(A) and a 16x64 slab of op(B) in shared
/// memory, both stored k-major ([k][m], [k][n]) whatever the operands' layouts: <see cref="LoadSlab"/> picks,
/// per layout, the thread mapping under which consecutive threads read consecutive global addresses, so the
/// transposes are absorbed by the load and the inner loop is one code path.</item>
/// <item>Register blocking: thread (tx, ty) accumulates a 4x4 micro-tile at rows ty + 16i and columns tx + 16j.
/// Per k it reads 4 values of A (one address per half-warp: broadcast) and 4 of B (consecutive tx: conflict-free)
/// and does 16 FMAs; the strided micro-tile also makes the final C stores coalesced.</item>
/// <item>ILGPU 1.5.3 does not unroll loops, so the micro-tile and four k steps per trip are unrolled by hand.</item>
/// <item>Out-of-range rows, columns and k (sizes that do not divide the tiles) are zero-filled on load and masked
/// on store, so no shape needs padding.</item>
/// </list>
/// Shared memory: 2 x 16 x 65 floats = 8,320 bytes (the +1 column staggers banks for the k-contiguous loads).
/// </summary>
static class GemmKernel
{
    public const int TileM = 64, TileN = 64, TileK = 16;
    public const int ThreadsX = 16, ThreadsY = 16;
    /// <summary>Threads per group: the host must launch exactly this many.</summary>
    public const int Threads = ThreadsX * ThreadsY;
    const int Pitch = TileM + 1; // TileM == TileN: one pitch serves both slabs

    [Kernel("gemm", KernelGrouping.Explicit)]
    static void Gemm(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmArgs s)
    {
        var slabA = SharedMemory.Allocate<float>(TileK * Pitch);
        var slabB = SharedMemory.Allocate<float>(TileK * Pitch);
        int tid = Group.IdxX;
        int tx = tid % ThreadsX, ty = tid / ThreadsX;
        int m0 = Grid.IdxY * TileM, n0 = Grid.IdxX * TileN;
        long z = Grid.IdxZ;
        long offA = z * s.StrideA, offB = z * s.StrideB, offC = z * s.StrideC;
        int lda = s.TransA != 0 ? s.M : s.K;
        int ldb = s.TransB != 0 ? s.K : s.N;
        // A stored [M,K] has k contiguous; B stored [K,N] has n contiguous, so it is B^T ([N,K]) that has k contiguous.
        bool aKContiguous = s.TransA == 0, bKContiguous = s.TransB != 0;

        var acc = new Micro4x4();
        for (int k0 = 0; k0 < s.K; k0 += TileK)
        {
            LoadSlab(a, offA, lda, aKContiguous, m0, s.M, k0, s.K, slabA, tid);
            LoadSlab(b, offB, ldb, bKContiguous, n0, s.N, k0, s.K, slabB, tid);
            Group.Barrier();
            for (int kk = 0; kk < TileK; kk += 4)
            {
                acc.Step(slabA, slabB, (kk + 0) * Pitch, tx, ty);
                acc.Step(slabA, slabB, (kk + 1) * Pitch, tx, ty);
                acc.Step(slabA, slabB, (kk + 2) * Pitch, tx, ty);
                acc.Step(slabA, slabB, (kk + 3) * Pitch, tx, ty);
            }
            // The next trip overwrites the slabs: everyone must be done reading them.
            Group.Barrier();
        }

        int r0 = m0 + ty, cn0 = n0 + tx;
        acc.StoreRow(c, offC, s, r0 + 0 * ThreadsY, cn0, acc.C00, acc.C01, acc.C02, acc.C03);
        acc.StoreRow(c, offC, s, r0 + 1 * ThreadsY, cn0, acc.C10, acc.C11, acc.C12, acc.C13);
        acc.StoreRow(c, offC, s, r0 + 2 * ThreadsY, cn0, acc.C20, acc.C21, acc.C22, acc.C23);
        acc.StoreRow(c, offC, s, r0 + 3 * ThreadsY, cn0, acc.C30, acc.C31, acc.C32, acc.C33);
    }

    /// <summary>
    /// Stages rows [mn0, mn0 + 64) x k [k0, k0 + 16) of one operand into <paramref name="slab"/> as [k][mn].
    /// k-contiguous storage (element (mn, k) at mn*ld + k): 16 consecutive threads take 16 consecutive k of one
    /// row. mn-contiguous storage (at k*ld + mn): 64 consecutive threads take 64 consecutive mn of one k.
    /// Either way each of the 256 threads moves 4 elements.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void LoadSlab(ArrayView<float> src, long offset, int ld, bool kContiguous, int mn0, int mnLimit,
        int k0, int kLimit, ArrayView<float> slab, int tid)
    {
        if (kContiguous)
        {
            int k = tid % TileK, mn = tid / TileK; // mn in [0, 16): four passes of 16 rows
            const int RowsPerPass = Threads / TileK;
            slab[k * Pitch + mn + 0 * RowsPerPass] = Fetch(src, offset, ld, true, mn0 + mn + 0 * RowsPerPass, mnLimit, k0 + k, kLimit);
            slab[k * Pitch + mn + 1 * RowsPerPass] = Fetch(src, offset, ld, true, mn0 + mn + 1 * RowsPerPass, mnLimit, k0 + k, kLimit);
            slab[k * Pitch + mn + 2 * RowsPerPass] = Fetch(src, offset, ld, true, mn0 + mn + 2 * RowsPerPass, mnLimit, k0 + k, kLimit);
            slab[k * Pitch + mn + 3 * RowsPerPass] = Fetch(src, offset, ld, true, mn0 + mn + 3 * RowsPerPass, mnLimit, k0 + k, kLimit);
        }
        else
        {
            int mn = tid % TileM, k = tid / TileM; // k in [0, 4): four passes of 4 k
            const int KPerPass = Threads / TileM;
            slab[(k + 0 * KPerPass) * Pitch + mn] = Fetch(src, offset, ld, false, mn0 + mn, mnLimit, k0 + k + 0 * KPerPass, kLimit);
            slab[(k + 1 * KPerPass) * Pitch + mn] = Fetch(src, offset, ld, false, mn0 + mn, mnLimit, k0 + k + 1 * KPerPass, kLimit);
            slab[(k + 2 * KPerPass) * Pitch + mn] = Fetch(src, offset, ld, false, mn0 + mn, mnLimit, k0 + k + 2 * KPerPass, kLimit);
            slab[(k + 3 * KPerPass) * Pitch + mn] = Fetch(src, offset, ld, false, mn0 + mn, mnLimit, k0 + k + 3 * KPerPass, kLimit);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Fetch(ArrayView<float> src, long offset, int ld, bool kContiguous, int mn, int mnLimit, int k, int kLimit)
    {
        if (mn >= mnLimit || k >= kLimit) return 0f;
        long at = kContiguous ? (long)mn * ld + k : (long)k * ld + mn;
        return src[offset + at];
    }

    /// <summary>A thread's 4x4 accumulators; a value type ILGPU keeps entirely in registers.</summary>
    struct Micro4x4
    {
        public float C00, C01, C02, C03, C10, C11, C12, C13, C20, C21, C22, C23, C30, C31, C32, C33;

        /// <summary>One k step: 4 + 4 shared loads, 16 FMAs.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Step(ArrayView<float> slabA, ArrayView<float> slabB, int row, int tx, int ty)
        {
            float a0 = slabA[row + ty], a1 = slabA[row + ty + ThreadsY], a2 = slabA[row + ty + 2 * ThreadsY], a3 = slabA[row + ty + 3 * ThreadsY];
            float b0 = slabB[row + tx], b1 = slabB[row + tx + ThreadsX], b2 = slabB[row + tx + 2 * ThreadsX], b3 = slabB[row + tx + 3 * ThreadsX];
            C00 += a0 * b0; C01 += a0 * b1; C02 += a0 * b2; C03 += a0 * b3;
            C10 += a1 * b0; C11 += a1 * b1; C12 += a1 * b2; C13 += a1 * b3;
            C20 += a2 * b0; C21 += a2 * b1; C22 += a2 * b2; C23 += a2 * b3;
            C30 += a3 * b0; C31 += a3 * b1; C32 += a3 * b2; C33 += a3 * b3;
        }

        /// <summary>Writes one micro-row (columns col, col + 16, col + 32, col + 48), masked to the matrix.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void StoreRow(ArrayView<float> c, long offC, in GemmArgs s, int row, int col, float v0, float v1, float v2, float v3)
        {
            if (row >= s.M) return;
            long rowStart = offC + (long)row * s.N;
            Store(c, rowStart, s, col + 0 * ThreadsX, v0);
            Store(c, rowStart, s, col + 1 * ThreadsX, v1);
            Store(c, rowStart, s, col + 2 * ThreadsX, v2);
            Store(c, rowStart, s, col + 3 * ThreadsX, v3);
        }

        // beta = 0 must not read C (it may hold NaNs from a recycled buffer), as in BLAS and the managed backend.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Store(ArrayView<float> c, long rowStart, in GemmArgs s, int col, float v)
        {
            if (col >= s.N) return;
            long at = rowStart + col;
            c[at] = s.Beta == 0f ? s.Alpha * v : s.Alpha * v + s.Beta * c[at];
        }
    }
}
