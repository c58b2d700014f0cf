using ILGPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Index arithmetic shared by the grid-stride kernels: thread t of a launch of G groups of B threads handles
/// elements t, t + G*B, t + 2*G*B, ... so a fixed-size launch (one wave of resident groups) covers any n, and
/// consecutive threads touch consecutive addresses (coalesced). The index is 32-bit: 64-bit division and
/// remainder are emulated on GPUs (dozens of instructions each), and the host refuses sizes whose index could
/// overflow (IlgpuBackend.Elements32: n at most 2^30, and one grid's step is far below the remaining margin).
/// </summary>
static class GridStride
{
    public static int Start => Grid.IdxX * Group.DimX + Group.IdxX;
    public static int Step => Grid.DimX * Group.DimX;
}

/// <summary>
/// Group-wide reductions for the one-group-per-row kernels: a butterfly of warp shuffles inside each warp,
/// then one partial per warp through shared memory. Every thread of the group must call these (they contain
/// barriers), so callers keep control flow uniform across the group and mask work, not calls.
/// The warp size is whatever the device has (<see cref="Warp.WarpSize"/>); nothing here assumes 32.
/// </summary>
static class GroupReduce
{
    /// <summary>Capacity of the per-warp partials: 1024 threads in warps of 16, or anything smaller.</summary>
    public const int MaxWarps = 64;

    public static float WarpSum(float v)
    {
        // XOR butterfly: after log2(warp) steps every lane holds the full sum, no broadcast needed.
        for (int mask = Warp.WarpSize / 2; mask > 0; mask >>= 1)
            v += Warp.ShuffleXor(v, mask);
        return v;
    }

    public static float WarpMax(float v)
    {
        for (int mask = Warp.WarpSize / 2; mask > 0; mask >>= 1)
        {
            float o = Warp.ShuffleXor(v, mask);
            v = o > v ? o : v;
        }
        return v;
    }

    /// <summary>Sum of <paramref name="v"/> over the group, returned to every thread.</summary>
    public static float AllSum(float v)
    {
        var partial = SharedMemory.Allocate<float>(MaxWarps);
        v = WarpSum(v);
        if (Warp.IsFirstLane) partial[Warp.WarpIdx] = v;
        Group.Barrier();
        // Every thread adds the few warp partials itself (shared-memory broadcast reads) in the same order,
        // so all threads agree bit for bit and no second round trip through warp 0 is needed.
        float s = 0f;
        int warps = (Group.DimX + Warp.WarpSize - 1) / Warp.WarpSize;
        for (int w = 0; w < warps; w++) s += partial[w];
        // The partials are reused by the next reduction (next row of a grid-stride loop): wait until all read.
        Group.Barrier();
        return s;
    }

    /// <summary>Maximum of <paramref name="v"/> over the group, returned to every thread.</summary>
    public static float AllMax(float v)
    {
        var partial = SharedMemory.Allocate<float>(MaxWarps);
        v = WarpMax(v);
        if (Warp.IsFirstLane) partial[Warp.WarpIdx] = v;
        Group.Barrier();
        float m = partial[0];
        int warps = (Group.DimX + Warp.WarpSize - 1) / Warp.WarpSize;
        for (int w = 1; w < warps; w++) m = partial[w] > m ? partial[w] : m;
        Group.Barrier();
        return m;
    }

    /// <summary>
    /// Max and sum of exp(x - max) over one row x[offset .. offset + cols), for the whole group: the stable
    /// log-sum-exp that softmax and cross-entropy share (their log-sum-exp is Max + log(SumExp)).
    /// </summary>
    public static RowExpStats RowMaxSumExp(ArrayView<float> x, long offset, int cols)
    {
        float max = float.NegativeInfinity;
        for (int j = Group.IdxX; j < cols; j += Group.DimX) { float v = x[offset + j]; max = v > max ? v : max; }
        max = AllMax(max);
        float sum = 0f;
        for (int j = Group.IdxX; j < cols; j += Group.DimX) sum += MathF.Exp(x[offset + j] - max);
        return new RowExpStats(max, AllSum(sum));
    }
}

/// <summary>A row's maximum and the sum of exp(x - max) over it.</summary>
readonly struct RowExpStats(float max, float sumExp)
{
    public readonly float Max = max;
    public readonly float SumExp = sumExp;
}

/// <summary>
/// Column reductions (sums over rows of [rows, cols]): a group is a warp-wide band of columns times
/// Group.DimX / WarpSize row strips. Lane l of strip s sums column (band + l) over rows s, s + strips, ...:
/// each warp reads one contiguous run of the row (coalesced), and the strips are then combined through
/// shared memory in a fixed order, so the result is deterministic (no atomics).
/// </summary>
static class ColumnStrips
{
    /// <summary>Capacity of the strip partials: one float per thread of the largest group we launch.</summary>
    public const int MaxThreads = 1024;

    public static int Lane => Group.IdxX % Warp.WarpSize;
    public static int Strip => Group.IdxX / Warp.WarpSize;
    public static int Strips => Group.DimX / Warp.WarpSize;

    /// <summary>Adds the strips' partials of each lane; the total is valid in strip 0 only.</summary>
    public static float SumStrips(float partialSum)
    {
        var partial = SharedMemory.Allocate<float>(MaxThreads);
        partial[Group.IdxX] = partialSum;
        Group.Barrier();
        float s = 0f;
        if (Strip == 0)
            for (int k = 0; k < Strips; k++) s += partial[k * Warp.WarpSize + Lane];
        Group.Barrier();
        return s;
    }
}

/// <summary>
/// How a column reduction splits its rows over the grid's Y axis: row blocks of at least
/// <see cref="MinRowsPerBlock"/> rows (eight per warp strip of a 256-thread group, so a block's loads stay
/// long runs), at most <see cref="MaxBlocks"/> of them (the second pass reads one partial per block). The split
/// depends on the row count only, never on the device, so every device adds in the same order.
/// </summary>
readonly record struct ColumnBlocks(int Blocks, int RowsPerBlock)
{
    public const int MinRowsPerBlock = 64;
    public const int MaxBlocks = 1024;

    public static ColumnBlocks For(int rows)
    {
        int per = Math.Max(MinRowsPerBlock, (rows + MaxBlocks - 1) / MaxBlocks);
        return new ColumnBlocks(Math.Max(1, (rows + per - 1) / per), per);
    }
}
