using System.Runtime.CompilerServices;
using ILGPU;

namespace Cleft.Kernels.Ilgpu;

// The tensor-core GEMM's register tiles: a thread's staged share of a K slab and a warp's accumulators. ILGPU 1.5.3
// does not unroll loops and would put an indexed array in local memory, so both are unrolled by hand.
static partial class TensorCoreGemm
{
    /// <summary>Four fragment registers: an A fragment, or the B fragments of two n8 tiles.</summary>
    struct Fragment4
    {
        public uint R0, R1, R2, R3;
    }

    struct FloatPair
    {
        public float Lo, Hi;
    }

    /// <summary>One thread's 8 element pairs of a K slab of one operand, held in registers between load and store.</summary>
    struct Stage
    {
        FloatPair _p0, _p1, _p2, _p3, _p4, _p5, _p6, _p7;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Load(ArrayView<float> x, in StageMap m, int k0, int kLimit)
        {
            long at = m.Base + k0 * m.KStride;
            _p0 = Fetch(x, m, 0, at, k0, kLimit); _p1 = Fetch(x, m, 1, at, k0, kLimit);
            _p2 = Fetch(x, m, 2, at, k0, kLimit); _p3 = Fetch(x, m, 3, at, k0, kLimit);
            _p4 = Fetch(x, m, 4, at, k0, kLimit); _p5 = Fetch(x, m, 5, at, k0, kLimit);
            _p6 = Fetch(x, m, 6, at, k0, kLimit); _p7 = Fetch(x, m, 7, at, k0, kLimit);
        }

        /// <summary>
        /// Rounds the pairs to bf16 and writes them to the slab view that starts at this thread's word (the conversion
        /// waits for the loads, so it comes after the MMAs).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Store(ArrayView<uint> dst)
        {
            Put(dst, 0, _p0); Put(dst, 1, _p1); Put(dst, 2, _p2); Put(dst, 3, _p3);
            Put(dst, 4, _p4); Put(dst, 5, _p5); Put(dst, 6, _p6); Put(dst, 7, _p7);
        }

        /// <summary>Pair <paramref name="j"/> (a constant after inlining) of the slab starting at global index <paramref name="slabAt"/>; zeros outside the matrix.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static FloatPair Fetch(ArrayView<float> x, in StageMap m, int j, long slabAt, int k0, int kLimit)
        {
            bool mnIn = m.MnT + (j >> 1) * StageMap.MnHalf < m.Limit;
            int k = k0 + m.KT + (j & 1) * StageMap.KOdd;
            long at = slabAt + (j >> 1) * m.HalfStep + (j & 1) * m.OddStep;
            return new FloatPair
            {
                Lo = mnIn && k < kLimit ? x[at] : 0f,
                Hi = mnIn && k + 1 < kLimit ? x[at + m.KStride] : 0f,
            };
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Put(ArrayView<uint> dst, int j, FloatPair p) =>
            dst[(j >> 1) * StageMap.WordHalf + (j & 1)] = TensorCoreLoad.PackBf16(p.Lo, p.Hi);
    }

    /// <summary>A warp's 64x32 block of C as 4 (m16) x 4 (n8) accumulator fragments (64 floats per lane).</summary>
    struct WarpTile
    {
        MmaAcc _00, _01, _02, _03, _10, _11, _12, _13, _20, _21, _22, _23, _30, _31, _32, _33;

        /// <summary>
        /// One k step of 16: 16 + 8 fragment registers by 32-bit shared loads (each one exactly a register: the
        /// slabs hold k pairs, and pitch 20 puts the 32 lanes of a load on 32 banks), then 16 MMAs.
        /// <paramref name="fragA"/>/<paramref name="fragB"/> start at this lane's word (row groupID, k pair
        /// threadID_in_group) of the warp's first m16 row / n8 column; <paramref name="k"/> (a constant) is the k
        /// step's first k pair. Arguments go by value: a struct of views passed by reference is put in local memory.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Step(ArrayView<uint> fragA, ArrayView<uint> fragB, int k, int lane, ArrayView<uint> scratch)
        {
            var a0 = A(fragA, k);
            var a1 = A(fragA, k + 16 * Pitch);
            var a2 = A(fragA, k + 32 * Pitch);
            var a3 = A(fragA, k + 48 * Pitch);
            var b01 = B(fragB, k);
            var b23 = B(fragB, k + 16 * Pitch);
            Row(ref _00, ref _01, ref _02, ref _03, a0, b01, b23, lane, scratch);
            Row(ref _10, ref _11, ref _12, ref _13, a1, b01, b23, lane, scratch);
            Row(ref _20, ref _21, ref _22, ref _23, a2, b01, b23, lane, scratch);
            Row(ref _30, ref _31, ref _32, ref _33, a3, b01, b23, lane, scratch);
        }

        /// <summary>An m16k16 A fragment: a0 (row g, k 2t..), a1 (row g + 8), a2 (k 2t + 8..), a3 (both).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Fragment4 A(ArrayView<uint> slab, int word) => new()
        {
            R0 = slab[word], R1 = slab[word + 8 * Pitch], R2 = slab[word + 4], R3 = slab[word + 8 * Pitch + 4],
        };

        /// <summary>The k16n8 B fragments of two adjacent n8 tiles: b0, b1 of the first (column g), then of the second (g + 8).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Fragment4 B(ArrayView<uint> slab, int word) => new()
        {
            R0 = slab[word], R1 = slab[word + 4], R2 = slab[word + 8 * Pitch], R3 = slab[word + 8 * Pitch + 4],
        };

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Row(ref MmaAcc c0, ref MmaAcc c1, ref MmaAcc c2, ref MmaAcc c3, Fragment4 a, Fragment4 b01, Fragment4 b23, int lane, ArrayView<uint> scratch)
        {
            int g = lane >> 2, t = lane & 3;
            TensorCoreMma.M16N8K16(ref c0, a.R0, a.R1, a.R2, a.R3, b01.R0, b01.R1, g, t, lane, scratch);
            TensorCoreMma.M16N8K16(ref c1, a.R0, a.R1, a.R2, a.R3, b01.R2, b01.R3, g, t, lane, scratch);
            TensorCoreMma.M16N8K16(ref c2, a.R0, a.R1, a.R2, a.R3, b23.R0, b23.R1, g, t, lane, scratch);
            TensorCoreMma.M16N8K16(ref c3, a.R0, a.R1, a.R2, a.R3, b23.R2, b23.R3, g, t, lane, scratch);
        }

        /// <summary>
        /// C = alpha D + beta C for the block, masked to [M, N]; (row, col) is this lane's first element (groupID
        /// rows, 2 threadID_in_group columns of the block's first fragment).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Store(ArrayView<float> c, long offC, in GemmArgs s, int row, int col)
        {
            Put(c, offC, s, row, col, _00); Put(c, offC, s, row, col + 8, _01); Put(c, offC, s, row, col + 16, _02); Put(c, offC, s, row, col + 24, _03);
            Put(c, offC, s, row + 16, col, _10); Put(c, offC, s, row + 16, col + 8, _11); Put(c, offC, s, row + 16, col + 16, _12); Put(c, offC, s, row + 16, col + 24, _13);
            Put(c, offC, s, row + 32, col, _20); Put(c, offC, s, row + 32, col + 8, _21); Put(c, offC, s, row + 32, col + 16, _22); Put(c, offC, s, row + 32, col + 24, _23);
            Put(c, offC, s, row + 48, col, _30); Put(c, offC, s, row + 48, col + 8, _31); Put(c, offC, s, row + 48, col + 16, _32); Put(c, offC, s, row + 48, col + 24, _33);
        }

        /// <summary>One fragment: D0, D1 at (row, col), (row, col + 1); D2, D3 eight rows lower.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Put(ArrayView<float> c, long offC, in GemmArgs s, int row, int col, in MmaAcc f)
        {
            One(c, offC, s, row, col, f.D0); One(c, offC, s, row, col + 1, f.D1);
            One(c, offC, s, row + 8, col, f.D2); One(c, offC, s, row + 8, col + 1, f.D3);
        }

        // beta = 0 must not read C (it may hold NaNs from a recycled buffer), as in BLAS and the managed backend.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void One(ArrayView<float> c, long offC, in GemmArgs s, int row, int col, float v)
        {
            if (row >= s.M || col >= s.N) return;
            long at = offC + (long)row * s.N + col;
            c[at] = s.Beta == 0f ? s.Alpha * v : s.Alpha * v + s.Beta * c[at];
        }
    }
}
