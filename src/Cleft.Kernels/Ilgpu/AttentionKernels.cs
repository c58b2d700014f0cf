using ILGPU;
using static Cleft.Kernels.Ilgpu.AttentionTiles;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Flash attention for ILGPU. Groups of 256 threads own a 16-row block of one (batch, head); thread
/// (ty, tx) = (tid / 16, tid % 16) computes score (ty, tx) of each 16 x 16 tile and owns output columns
/// tx, tx + 16, ... of row ty. Nothing of size T x T is written to global memory: the forward keeps a
/// running max and sum per row (online softmax) and saves the row log-sum-exp; the backward recomputes
/// each tile's probabilities from it, in two kernels (dK/dV per key block, dQ per query block) so every
/// output has one writer and no atomics are needed. Grid = (ceil(T / 16) blocks, Batch * Heads).
/// D is at most <see cref="AttentionTiles.MaxD"/> (checked by the launcher).
/// </summary>
public static class AttentionKernels
{
    [Kernel("attention_forward", KernelGrouping.Explicit)]
    public static void Forward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> mask,
        ArrayView<float> o, ArrayView<float> lse, AttentionArgs a)
    {
        var qs = SharedMemory.Allocate<float>(TileFloats);
        var ks = SharedMemory.Allocate<float>(TileFloats);
        var vs = SharedMemory.Allocate<float>(TileFloats);
        var sc = SharedMemory.Allocate<float>(Tile * Tile);
        int tid = Group.IdxX, ty = tid / Tile, tx = tid - ty * Tile;
        int bh = Grid.IdxY, b = bh / a.Heads, q0 = Grid.IdxX * Tile, i = q0 + ty, slots = Slots(a.D);
        long head = (long)bh * a.T * a.D;
        Load(q, head, q0, a.T, a.D, qs, tid);
        float m = float.NegativeInfinity, l = 0f;
        var acc = default(Acc8);
        int kEnd = a.Causal != 0 ? MinInt(a.T, q0 + Tile) : a.T;
        for (int k0 = 0; k0 < kEnd; k0 += Tile)
        {
            Group.Barrier(); // q tile loaded (first pass) / previous k, v and scores consumed
            Load(k, head, k0, a.T, a.D, ks, tid);
            Load(v, head, k0, a.T, a.D, vs, tid);
            Group.Barrier();
            float s = a.Scale * Dot(qs, ty * Stride, ks, tx * Stride, a.D);
            sc[tid] = Visible(a, mask, b, i, k0 + tx) ? s : float.NegativeInfinity;
            Group.Barrier();
            int row = ty * Tile;
            float mt = float.NegativeInfinity;
            for (int j = 0; j < Tile; j += 4)
                mt = MaxF(MaxF(mt, sc[row + j]), MaxF(MaxF(sc[row + j + 1], sc[row + j + 2]), sc[row + j + 3]));
            float mNew = MaxF(m, mt);
            if (mNew == float.NegativeInfinity) continue; // nothing visible to this row yet (same for its 16 threads)
            float alpha = Exp(m - mNew); // 0 on the first visible tile
            l *= alpha;
            acc = Acc8.Scale(acc, alpha);
            int col = tx;
            for (int j = 0; j < Tile; j += 2)
            {
                float p0 = Exp(sc[row + j] - mNew), p1 = Exp(sc[row + j + 1] - mNew);
                l += p0 + p1;
                acc = Acc8.Fma(acc, p0, vs, j * Stride + col, slots);
                acc = Acc8.Fma(acc, p1, vs, (j + 1) * Stride + col, slots);
            }
            m = mNew;
        }
        if (i >= a.T) return;
        long rowOff = head + (long)i * a.D;
        Acc8.Store(acc, l > 0f ? 1f / l : 0f, o, rowOff, tx, a.D);
        if (tx == 0) lse[(long)bh * a.T + i] = l > 0f ? m + Log(l) : float.PositiveInfinity;
    }

    /// <summary>Delta_i = rowsum(dO * O), one thread per row (implicit grouping).</summary>
    [Kernel("attention_delta", KernelGrouping.Implicit)]
    public static void Delta(Index1D row, ArrayView<float> o, ArrayView<float> dO, ArrayView<float> delta, int d)
    {
        long off = (long)row.X * d;
        float s0 = 0f, s1 = 0f;
        int c = 0;
        for (; c + 2 <= d; c += 2) { s0 += o[off + c] * dO[off + c]; s1 += o[off + c + 1] * dO[off + c + 1]; }
        if (c < d) s0 += o[off + c] * dO[off + c];
        delta[row] = s0 + s1;
    }

    /// <summary>dK and dV for a block of 16 keys: streams the query tiles that can see them.</summary>
    [Kernel("attention_backward_dkdv", KernelGrouping.Explicit)]
    public static void BackwardKeyValue(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> mask,
        ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dO, ArrayView<float> dk, ArrayView<float> dv, AttentionArgs a)
    {
        var ks = SharedMemory.Allocate<float>(TileFloats);
        var vs = SharedMemory.Allocate<float>(TileFloats);
        var qs = SharedMemory.Allocate<float>(TileFloats);
        var dos = SharedMemory.Allocate<float>(TileFloats);
        var ps = SharedMemory.Allocate<float>(Tile * Tile);
        var dss = SharedMemory.Allocate<float>(Tile * Tile);
        var rowLse = SharedMemory.Allocate<float>(Tile);
        var rowDelta = SharedMemory.Allocate<float>(Tile);
        int tid = Group.IdxX, ty = tid / Tile, tx = tid - ty * Tile;
        int bh = Grid.IdxY, b = bh / a.Heads, k0 = Grid.IdxX * Tile, slots = Slots(a.D);
        long head = (long)bh * a.T * a.D, rows = (long)bh * a.T;
        Load(k, head, k0, a.T, a.D, ks, tid);
        Load(v, head, k0, a.T, a.D, vs, tid);
        var accK = default(Acc8);
        var accV = default(Acc8);
        // Here ty is the key (row of dk/dv this thread accumulates) and tx the query of the tile.
        for (int q0 = a.Causal != 0 ? k0 : 0; q0 < a.T; q0 += Tile)
        {
            Group.Barrier();
            Load(q, head, q0, a.T, a.D, qs, tid);
            Load(dO, head, q0, a.T, a.D, dos, tid);
            if (tid < Tile)
            {
                bool real = q0 + tid < a.T;
                rowLse[tid] = real ? lse[rows + q0 + tid] : float.PositiveInfinity;
                rowDelta[tid] = real ? delta[rows + q0 + tid] : 0f;
            }
            Group.Barrier();
            float p = 0f, ds = 0f;
            if (Visible(a, mask, b, q0 + tx, k0 + ty) && q0 + tx < a.T)
            {
                p = Exp(a.Scale * Dot(qs, tx * Stride, ks, ty * Stride, a.D) - rowLse[tx]);
                ds = p * (Dot(dos, tx * Stride, vs, ty * Stride, a.D) - rowDelta[tx]);
            }
            ps[tid] = p;
            dss[tid] = ds;
            Group.Barrier();
            int row = ty * Tile;
            for (int j = 0; j < Tile; j += 2)
            {
                accV = Acc8.Fma(accV, ps[row + j], dos, j * Stride + tx, slots);
                accK = Acc8.Fma(accK, dss[row + j], qs, j * Stride + tx, slots);
                accV = Acc8.Fma(accV, ps[row + j + 1], dos, (j + 1) * Stride + tx, slots);
                accK = Acc8.Fma(accK, dss[row + j + 1], qs, (j + 1) * Stride + tx, slots);
            }
        }
        if (k0 + ty >= a.T) return;
        long off = head + (long)(k0 + ty) * a.D;
        Acc8.Store(accK, a.Scale, dk, off, tx, a.D);
        Acc8.Store(accV, 1f, dv, off, tx, a.D);
    }

    /// <summary>dQ for a block of 16 queries: streams the key tiles they can see.</summary>
    [Kernel("attention_backward_dq", KernelGrouping.Explicit)]
    public static void BackwardQuery(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> mask,
        ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dO, ArrayView<float> dq, AttentionArgs a)
    {
        var qs = SharedMemory.Allocate<float>(TileFloats);
        var dos = SharedMemory.Allocate<float>(TileFloats);
        var ks = SharedMemory.Allocate<float>(TileFloats);
        var vs = SharedMemory.Allocate<float>(TileFloats);
        var dss = SharedMemory.Allocate<float>(Tile * Tile);
        int tid = Group.IdxX, ty = tid / Tile, tx = tid - ty * Tile;
        int bh = Grid.IdxY, b = bh / a.Heads, q0 = Grid.IdxX * Tile, i = q0 + ty, slots = Slots(a.D);
        long head = (long)bh * a.T * a.D;
        Load(q, head, q0, a.T, a.D, qs, tid);
        Load(dO, head, q0, a.T, a.D, dos, tid);
        bool real = i < a.T;
        float lseI = real ? lse[(long)bh * a.T + i] : float.PositiveInfinity, deltaI = real ? delta[(long)bh * a.T + i] : 0f;
        var acc = default(Acc8);
        int kEnd = a.Causal != 0 ? MinInt(a.T, q0 + Tile) : a.T;
        for (int k0 = 0; k0 < kEnd; k0 += Tile)
        {
            Group.Barrier();
            Load(k, head, k0, a.T, a.D, ks, tid);
            Load(v, head, k0, a.T, a.D, vs, tid);
            Group.Barrier();
            float ds = 0f;
            if (real && Visible(a, mask, b, i, k0 + tx))
            {
                float p = Exp(a.Scale * Dot(qs, ty * Stride, ks, tx * Stride, a.D) - lseI);
                ds = p * (Dot(dos, ty * Stride, vs, tx * Stride, a.D) - deltaI);
            }
            dss[tid] = ds;
            Group.Barrier();
            int row = ty * Tile;
            for (int j = 0; j < Tile; j += 2)
            {
                acc = Acc8.Fma(acc, dss[row + j], ks, j * Stride + tx, slots);
                acc = Acc8.Fma(acc, dss[row + j + 1], ks, (j + 1) * Stride + tx, slots);
            }
        }
        if (real) Acc8.Store(acc, a.Scale, dq, head + (long)i * a.D, tx, a.D);
    }

    // Plain comparisons: no dependence on which Math overloads ILGPU maps to intrinsics.
    static int MinInt(int x, int y) => x < y ? x : y;
    static float MaxF(float x, float y) => x > y ? x : y;
}
