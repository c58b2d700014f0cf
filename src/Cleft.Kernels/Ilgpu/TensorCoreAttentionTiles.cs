using System.Runtime.CompilerServices;
using ILGPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Tile logic of the tensor-core attention kernels (TensorCoreAttention.cs): staging rows of a head's [T, D] matrix
/// into shared memory as bf16 pairs, the 16 x 16 score blocks computed with mma.sync, and the accumulators of the
/// [16 rows, D] products (O, dQ, dK, dV). docs/ATTENTION.md §tensor cores.
/// <list type="bullet">
/// <item>Every staged matrix is [row][d pair]: a uint holds d = 2c (low half) and 2c + 1, rounded to bf16. A fragment
/// that runs along D (A of Q K^T, and B of Q K^T whose columns are keys) is one 32-bit load; a fragment that runs
/// along the rows (B of P V, whose k are keys) gathers two halves of two rows (<see cref="Gather"/>), so no operand is
/// staged twice or transposed.</item>
/// <item>The pitch, 68 uints (64 pairs for D = 128, plus 4), puts the 32 lanes of a row-wise fragment load on 32
/// banks (row g at bank 4 g + t) and those of a gather on 16 words, read by two lanes each.</item>
/// <item>A score block of 16 x 16 is two m16n8 accumulators; its register layout is exactly the A fragment of the
/// next product (P V, dS K, P^T dO, dS^T Q), so probabilities go from registers to the tensor cores without
/// shared memory (FlashAttention-2). D is zero-padded to a multiple of 16 when staged.</item>
/// </list>
/// </summary>
static class TensorCoreAttentionTiles
{
    public const int WarpLanes = TensorCoreMma.WarpLanes, Warps = 4, Threads = WarpLanes * Warps;
    /// <summary>Rows a warp owns (one m16 tile) and rows a group owns.</summary>
    public const int WarpRows = 16, BlockRows = Warps * WarpRows;
    public const int MaxD = 128, Pitch = MaxD / 2 + 4;
    public const int FragmentWords = TensorCoreMma.FragmentWords;

    /// <summary>Steps of 16 along D (= 16-column blocks of a [16, D] accumulator): D rounded up to 16, over 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int DSteps(int d) => (d + 15) / 16;

    /// <summary>
    /// Stages rows r0 .. r0 + rows - 1 of one head's row-major [T, D] matrix (first element at <paramref name="head"/>)
    /// as bf16 pairs; rows at or past T and columns from D up to the next multiple of 16 become zero. Each row is read
    /// by a power-of-two run of threads (8 to 64, the first that covers its pairs), so no thread divides by the row
    /// length and consecutive threads read consecutive pairs of a row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Stage(ArrayView<float> src, long head, int r0, int rows, int t, int d, ArrayView<uint> stage, int tid)
    {
        int pairs = DSteps(d) * 8, shift = pairs <= 8 ? 3 : pairs <= 16 ? 4 : pairs <= 32 ? 5 : 6, c = tid & ((1 << shift) - 1), col = 2 * c;
        if (c >= pairs) return;
        for (int r = tid >> shift; r < rows; r += Threads >> shift)
        {
            int row = r0 + r;
            float lo = 0f, hi = 0f;
            if (row < t)
            {
                long at = head + (long)row * d + col;
                if (col < d) lo = src[at];
                if (col + 1 < d) hi = src[at + 1];
            }
            stage[r * Pitch + c] = Bf16.Pack(lo, hi);
        }
    }

    /// <summary>Whether key <paramref name="j"/> (absolute) exists and is not padding: what the staged key flags hold.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int KeyFlag(in AttentionArgs a, ArrayView<int> mask, int b, int j) =>
        j < a.T && (a.HasMask == 0 || mask[b * a.T + j] != 0) ? 1 : 0;

    /// <summary>
    /// One past the last key of batch row b that is not padding (T without a mask, 0 when all are padding): key tiles
    /// from there on hold no visible key, so a loop over keys can stop there. Called by every thread of the group;
    /// <paramref name="warpEnds"/> is shared scratch of <see cref="Warps"/> ints, written once per kernel.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int KeyEnd(in AttentionArgs a, ArrayView<int> mask, int b, int tid, ArrayView<int> warpEnds)
    {
        if (a.HasMask == 0) return a.T;
        int end = 0;
        for (int j = tid; j < a.T; j += Threads)
            if (mask[b * a.T + j] != 0) end = j + 1;
        for (int x = 1; x < WarpLanes; x <<= 1) end = MaxI(end, Warp.ShuffleXor(end, x));
        if (tid % WarpLanes == 0) warpEnds[tid / WarpLanes] = end;
        Group.Barrier();
        return MaxI(MaxI(warpEnds[0], warpEnds[1]), MaxI(warpEnds[2], warpEnds[3]));
    }

    /// <summary>Query i sees key j: the key's staged flag (index j - keyBase) and, when causal, j &lt;= i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Visible(ArrayView<int> keyFlags, int keyBase, int i, int j, int causal) =>
        keyFlags[j - keyBase] != 0 && (causal == 0 || j <= i);

    /// <summary>
    /// The B register of rows k, k + 1 (at word <paramref name="at"/> and one pitch below) in column d of a staged
    /// [k][d pair] matrix: the d's half of each word (<paramref name="shift"/> = 16 (d &amp; 1)), lower k in the low half.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Gather(ArrayView<uint> stage, int at, int shift) =>
        ((stage[at] >> shift) & 0xFFFFu) | (((stage[at + Pitch] >> shift) & 0xFFFFu) << 16);

    /// <summary>Group-wide exp of the softmax (ex2.approx on CUDA, as the fp32 kernels).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Exp(float x) => AttentionTiles.Exp(x);

    /// <summary>Maximum over the four lanes of a quad (the lanes holding one accumulator row).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float QuadMax(float v)
    {
        v = MaxF(v, Warp.ShuffleXor(v, 1));
        return MaxF(v, Warp.ShuffleXor(v, 2));
    }

    /// <summary>Sum over the four lanes of a quad, in an order every lane shares (so all four get the same bits).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float QuadSum(float v)
    {
        v += Warp.ShuffleXor(v, 1);
        return v + Warp.ShuffleXor(v, 2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxF(float x, float y) => x > y ? x : y;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int MaxI(int x, int y) => x > y ? x : y;
}

/// <summary>
/// A 16 x 16 block of one warp: <see cref="Lo"/> holds columns 0..7, <see cref="Hi"/> columns 8..15. Lane (g, t) holds
/// rows g and g + 8, columns 2t, 2t + 1 of each half.
/// </summary>
struct Block16
{
    public MmaAcc Lo, Hi;

    /// <summary>
    /// The block A B^T where A's rows start at word <paramref name="aAt"/> (= row g, pair t of the warp's first row) of
    /// <paramref name="a"/> and B's rows at <paramref name="bAt"/> of <paramref name="b"/>, both staged [row][d pair],
    /// over <paramref name="dSteps"/> steps of 16 along D.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Block16 Products(ArrayView<uint> a, int aAt, ArrayView<uint> b, int bAt, int dSteps, int g, int t, int lane, ArrayView<uint> fragments)
    {
        const int Down8 = 8 * TensorCoreAttentionTiles.Pitch;
        var s = default(Block16);
        for (int step = 0; step < dSteps; step++)
        {
            int x = aAt + 8 * step, y = bAt + 8 * step;
            uint a0 = a[x], a1 = a[x + Down8], a2 = a[x + 4], a3 = a[x + Down8 + 4];
            TensorCoreMma.M16N8K16(ref s.Lo, a0, a1, a2, a3, b[y], b[y + 4], g, t, lane, fragments);
            TensorCoreMma.M16N8K16(ref s.Hi, a0, a1, a2, a3, b[y + Down8], b[y + Down8 + 4], g, t, lane, fragments);
        }
        return s;
    }

    /// <summary>
    /// this += P B for the 16 x 16 A fragment P (<see cref="Fragment"/>) and the 16 x 16 slice of a staged [k][d pair]
    /// matrix whose gather for this lane starts at word <paramref name="at"/> (row 2t, pair g / 2 of the slice).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Accumulate(uint p0, uint p1, uint p2, uint p3, ArrayView<uint> b, int at, int shift, int g, int t, int lane, ArrayView<uint> fragments)
    {
        const int Down8 = 8 * TensorCoreAttentionTiles.Pitch;
        TensorCoreMma.M16N8K16(ref Lo, p0, p1, p2, p3, TensorCoreAttentionTiles.Gather(b, at, shift),
            TensorCoreAttentionTiles.Gather(b, at + Down8, shift), g, t, lane, fragments);
        TensorCoreMma.M16N8K16(ref Hi, p0, p1, p2, p3, TensorCoreAttentionTiles.Gather(b, at + 4, shift),
            TensorCoreAttentionTiles.Gather(b, at + Down8 + 4, shift), g, t, lane, fragments);
    }

    /// <summary>The block rounded to bf16 as an m16k16 A fragment: the accumulator layout of two n8 tiles is the A layout.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Fragment(out uint a0, out uint a1, out uint a2, out uint a3)
    {
        a0 = Bf16.Pack(Lo.D0, Lo.D1);
        a1 = Bf16.Pack(Lo.D2, Lo.D3);
        a2 = Bf16.Pack(Hi.D0, Hi.D1);
        a3 = Bf16.Pack(Hi.D2, Hi.D3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ScaleRows(float fg, float fg8)
    {
        Lo.D0 *= fg; Lo.D1 *= fg; Lo.D2 *= fg8; Lo.D3 *= fg8;
        Hi.D0 *= fg; Hi.D1 *= fg; Hi.D2 *= fg8; Hi.D3 *= fg8;
    }

    /// <summary>Row g to dst[rowG + col], row g + 8 to dst[rowG8 + col], times fg / fg8, for the columns below d.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Store(ArrayView<float> dst, long rowG, long rowG8, bool okG, bool okG8, float fg, float fg8, int col, int d)
    {
        Put(dst, rowG, okG, col, d, fg * Lo.D0, fg * Lo.D1);
        Put(dst, rowG8, okG8, col, d, fg8 * Lo.D2, fg8 * Lo.D3);
        Put(dst, rowG, okG, col + 8, d, fg * Hi.D0, fg * Hi.D1);
        Put(dst, rowG8, okG8, col + 8, d, fg8 * Hi.D2, fg8 * Hi.D3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Put(ArrayView<float> dst, long row, bool ok, int col, int d, float x0, float x1)
    {
        if (ok && col < d) dst[row + col] = x0;
        if (ok && col + 1 < d) dst[row + col + 1] = x1;
    }
}

/// <summary>
/// A warp's [16, D] accumulator (O, dQ, dK or dV) for D &lt;= 128: eight 16-column blocks, of which the first
/// DSteps(D) are used (uniform over the launch). Unrolled by hand: ILGPU 1.5.3 does not unroll, and registers cannot
/// be indexed.
/// </summary>
struct RowTile
{
    Block16 _c0, _c1, _c2, _c3, _c4, _c5, _c6, _c7;

    /// <summary>
    /// this += P X for the 16 x 16 A fragment P and rows k .. k + 15 of the staged [k][d pair] matrix X, where
    /// <paramref name="at"/> is the word of row k + 2t, pair g / 2 and <paramref name="shift"/> = 16 (g &amp; 1).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(uint p0, uint p1, uint p2, uint p3, ArrayView<uint> x, int at, int shift, int blocks, int g, int t, int lane, ArrayView<uint> fragments)
    {
        _c0.Accumulate(p0, p1, p2, p3, x, at, shift, g, t, lane, fragments);
        if (blocks > 1) _c1.Accumulate(p0, p1, p2, p3, x, at + 8, shift, g, t, lane, fragments);
        if (blocks > 2) _c2.Accumulate(p0, p1, p2, p3, x, at + 16, shift, g, t, lane, fragments);
        if (blocks > 3) _c3.Accumulate(p0, p1, p2, p3, x, at + 24, shift, g, t, lane, fragments);
        if (blocks > 4) _c4.Accumulate(p0, p1, p2, p3, x, at + 32, shift, g, t, lane, fragments);
        if (blocks > 5) _c5.Accumulate(p0, p1, p2, p3, x, at + 40, shift, g, t, lane, fragments);
        if (blocks > 6) _c6.Accumulate(p0, p1, p2, p3, x, at + 48, shift, g, t, lane, fragments);
        if (blocks > 7) _c7.Accumulate(p0, p1, p2, p3, x, at + 56, shift, g, t, lane, fragments);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void ScaleRows(float fg, float fg8)
    {
        _c0.ScaleRows(fg, fg8); _c1.ScaleRows(fg, fg8); _c2.ScaleRows(fg, fg8); _c3.ScaleRows(fg, fg8);
        _c4.ScaleRows(fg, fg8); _c5.ScaleRows(fg, fg8); _c6.ScaleRows(fg, fg8); _c7.ScaleRows(fg, fg8);
    }

    /// <summary>Writes rows g (at element <paramref name="rowG"/>) and g + 8 times fg / fg8, columns below d; lane column 2t.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly void Store(ArrayView<float> dst, long rowG, long rowG8, bool okG, bool okG8, float fg, float fg8, int t, int d)
    {
        int c = 2 * t;
        _c0.Store(dst, rowG, rowG8, okG, okG8, fg, fg8, c, d);
        _c1.Store(dst, rowG, rowG8, okG, okG8, fg, fg8, c + 16, d);
        _c2.Store(dst, rowG, rowG8, okG, okG8, fg, fg8, c + 32, d);
        _c3.Store(dst, rowG, rowG8, okG, okG8, fg, fg8, c + 48, d);
        _c4.Store(dst, rowG, rowG8, okG, okG8, fg, fg8, c + 64, d);
        _c5.Store(dst, rowG, rowG8, okG, okG8, fg, fg8, c + 80, d);
        _c6.Store(dst, rowG, rowG8, okG, okG8, fg, fg8, c + 96, d);
        _c7.Store(dst, rowG, rowG8, okG, okG8, fg, fg8, c + 112, d);
    }
}
