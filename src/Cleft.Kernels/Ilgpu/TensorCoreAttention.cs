using System.Runtime.CompilerServices;
using ILGPU;
using static Cleft.Kernels.Ilgpu.TensorCoreAttentionTiles;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Flash attention on tensor cores (FlashAttention-2 style), the kernels behind precision bf16: q, k, v and dO are
/// rounded to bf16 as they are staged, the probabilities (P, dS) are rounded to bf16 before they enter the second
/// product, and everything else (scores, online softmax, sums, lse) is fp32. Same contract and arguments as the fp32
/// kernels in AttentionKernels.cs (IBackend.AttentionForward/Backward); docs/ATTENTION.md §tensor cores.
/// <list type="bullet">
/// <item>A group is 4 warps; warp w owns rows 16 w .. 16 w + 15 of the group's 64 (queries in the forward and dQ,
/// keys in dK/dV) and streams tiles of the other side through shared memory. Grid = (ceil(T / 64), Batch * Heads).</item>
/// <item>Scores are 16 x 16 blocks in registers (<see cref="Block16"/>); masking, softmax and the gradient's
/// elementwise part happen there, each exp once, and the block goes straight back into mma.sync as an A fragment.</item>
/// <item>No atomics: dK/dV (per key block) and dQ (per query block) are separate kernels, each output has one writer,
/// results are the same run to run. The dQ kernel runs first and also writes Delta = rowsum(bf16(dO) * O).</item>
/// </list>
/// Warps must be 32 lanes (the launcher checks); on the CPU accelerator the mma is emulated exactly.
/// </summary>
static class TensorCoreAttention
{
    /// <summary>Keys per tile of the forward; the backward streams tiles of <see cref="StreamRows"/>.</summary>
    public const int ForwardKeys = 32, StreamRows = 16;

    [Kernel("attention_forward_bf16_mma", KernelGrouping.Explicit)]
    static void Forward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> mask,
        ArrayView<float> o, ArrayView<float> lse, AttentionArgs a)
    {
        var qs = SharedMemory.Allocate<uint>(BlockRows * Pitch);
        var ks = SharedMemory.Allocate<uint>(ForwardKeys * Pitch);
        var vs = SharedMemory.Allocate<uint>(ForwardKeys * Pitch);
        var flags = SharedMemory.Allocate<int>(ForwardKeys);
        var warpEnds = SharedMemory.Allocate<int>(Warps);
        var scratch = SharedMemory.Allocate<uint>(Warps * FragmentWords); // emulation only (TensorCoreGemm says why)
        int tid = Group.IdxX, warp = tid / WarpLanes, lane = tid % WarpLanes, g = lane >> 2, t = lane & 3;
        var fragments = scratch.SubView(warp * FragmentWords, FragmentWords);
        int bh = Grid.IdxY, b = bh / a.Heads, q0 = Grid.IdxX * BlockRows, dSteps = DSteps(a.D);
        long head = (long)bh * a.T * a.D;
        int i = q0 + warp * WarpRows + g; // this lane's rows: i and i + 8
        int rowAt = (warp * WarpRows + g) * Pitch + t, keyAt = g * Pitch + t, gatherAt = 2 * t * Pitch + (g >> 1), shift = 16 * (g & 1);
        Stage(q, head, q0, BlockRows, a.T, a.D, qs, tid);

        float m = float.NegativeInfinity, m8 = float.NegativeInfinity, l = 0f, l8 = 0f; // l, l8: this lane's part of the row sums
        var acc = default(RowTile);
        // Key tiles past the last causal or unpadded key are skipped (a fully padded row runs none: o = 0, lse = +inf).
        int kEnd = Min(KeyEnd(a, mask, b, tid, warpEnds), a.Causal != 0 ? q0 + BlockRows : a.T);
        for (int k0 = 0; k0 < kEnd; k0 += ForwardKeys)
        {
            Group.Barrier(); // q staged (first trip) / the previous k, v consumed
            Stage(k, head, k0, ForwardKeys, a.T, a.D, ks, tid);
            Stage(v, head, k0, ForwardKeys, a.T, a.D, vs, tid);
            if (tid < ForwardKeys) flags[tid] = KeyFlag(a, mask, b, k0 + tid);
            Group.Barrier();
            var s0 = Block16.Products(qs, rowAt, ks, keyAt, dSteps, g, t, lane, fragments);
            var s1 = Block16.Products(qs, rowAt, ks, keyAt + WarpRows * Pitch, dSteps, g, t, lane, fragments);
            MaskScores(ref s0, flags, k0, i, k0 + 2 * t, a);
            MaskScores(ref s1, flags, k0, i, k0 + 16 + 2 * t, a);
            float mNew = MaxF(m, QuadMax(MaxF(MaxF(s0.Lo.D0, s0.Lo.D1), MaxF(MaxF(s0.Hi.D0, s0.Hi.D1), MaxF(MaxF(s1.Lo.D0, s1.Lo.D1), MaxF(s1.Hi.D0, s1.Hi.D1))))));
            float mNew8 = MaxF(m8, QuadMax(MaxF(MaxF(s0.Lo.D2, s0.Lo.D3), MaxF(MaxF(s0.Hi.D2, s0.Hi.D3), MaxF(MaxF(s1.Lo.D2, s1.Lo.D3), MaxF(s1.Hi.D2, s1.Hi.D3))))));
            // A row that has seen no visible key yet keeps max -inf: its scores are all -inf, so they are taken
            // against 0 (p = 0) and its state is left alone (factor 1) instead of exp(-inf - -inf) = NaN.
            float baseG = mNew == float.NegativeInfinity ? 0f : mNew, baseG8 = mNew8 == float.NegativeInfinity ? 0f : mNew8;
            float alpha = Exp(m - baseG), alpha8 = Exp(m8 - baseG8);
            l = l * alpha + Exponentiate(ref s0, baseG, baseG8, out float sum8a) + Exponentiate(ref s1, baseG, baseG8, out float sum8b);
            l8 = l8 * alpha8 + sum8a + sum8b;
            acc.ScaleRows(alpha, alpha8);
            s0.Fragment(out uint p0, out uint p1, out uint p2, out uint p3);
            acc.Add(p0, p1, p2, p3, vs, gatherAt, shift, dSteps, g, t, lane, fragments);
            s1.Fragment(out p0, out p1, out p2, out p3);
            acc.Add(p0, p1, p2, p3, vs, gatherAt + WarpRows * Pitch, shift, dSteps, g, t, lane, fragments);
            m = mNew; m8 = mNew8;
        }
        l = QuadSum(l); l8 = QuadSum(l8);
        long rows = (long)bh * a.T;
        acc.Store(o, head + (long)i * a.D, head + (long)(i + 8) * a.D, i < a.T, i + 8 < a.T, l > 0f ? 1f / l : 0f, l8 > 0f ? 1f / l8 : 0f, t, a.D);
        if (t == 0 && i < a.T) lse[rows + i] = l > 0f ? m + AttentionTiles.Log(l) : float.PositiveInfinity;
        if (t == 0 && i + 8 < a.T) lse[rows + i + 8] = l8 > 0f ? m8 + AttentionTiles.Log(l8) : float.PositiveInfinity;
    }

    /// <summary>dK and dV for a block of 64 keys (16 per warp): streams the query tiles that can see them.</summary>
    [Kernel("attention_backward_dkdv_bf16_mma", KernelGrouping.Explicit)]
    static void BackwardKeyValue(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> mask,
        ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dO, ArrayView<float> dk, ArrayView<float> dv, AttentionArgs a)
    {
        var ks = SharedMemory.Allocate<uint>(BlockRows * Pitch);
        var vs = SharedMemory.Allocate<uint>(BlockRows * Pitch);
        var qs = SharedMemory.Allocate<uint>(StreamRows * Pitch);
        var dos = SharedMemory.Allocate<uint>(StreamRows * Pitch);
        var flags = SharedMemory.Allocate<int>(BlockRows);
        var warpEnds = SharedMemory.Allocate<int>(Warps);
        var qLse = SharedMemory.Allocate<float>(StreamRows);
        var qDelta = SharedMemory.Allocate<float>(StreamRows);
        var scratch = SharedMemory.Allocate<uint>(Warps * FragmentWords);
        int tid = Group.IdxX, warp = tid / WarpLanes, lane = tid % WarpLanes, g = lane >> 2, t = lane & 3;
        var fragments = scratch.SubView(warp * FragmentWords, FragmentWords);
        int bh = Grid.IdxY, b = bh / a.Heads, k0 = Grid.IdxX * BlockRows, dSteps = DSteps(a.D);
        long head = (long)bh * a.T * a.D, rows = (long)bh * a.T;
        int j = k0 + warp * WarpRows + g; // this lane's keys: j and j + 8
        int rowAt = (warp * WarpRows + g) * Pitch + t, streamAt = g * Pitch + t, gatherAt = 2 * t * Pitch + (g >> 1), shift = 16 * (g & 1);
        Stage(k, head, k0, BlockRows, a.T, a.D, ks, tid);
        Stage(v, head, k0, BlockRows, a.T, a.D, vs, tid);
        if (tid < BlockRows) flags[tid] = KeyFlag(a, mask, b, k0 + tid);

        var accK = default(RowTile);
        var accV = default(RowTile);
        // Causal: no query before the block's first key sees it (k0 is a multiple of 16, so tiles stay aligned). A block
        // of padding keys runs no tile and writes zeros.
        int qEnd = k0 < KeyEnd(a, mask, b, tid, warpEnds) ? a.T : 0;
        for (int q0 = a.Causal != 0 ? k0 : 0; q0 < qEnd; q0 += StreamRows)
        {
            Group.Barrier();
            Stage(q, head, q0, StreamRows, a.T, a.D, qs, tid);
            Stage(dO, head, q0, StreamRows, a.T, a.D, dos, tid);
            if (tid < StreamRows) StageRow(lse, delta, rows, q0 + tid, a.T, qLse, qDelta, tid);
            Group.Barrier();
            var s = Block16.Products(ks, rowAt, qs, streamAt, dSteps, g, t, lane, fragments);   // S^T = K Q^T
            var dp = Block16.Products(vs, rowAt, dos, streamAt, dSteps, g, t, lane, fragments); // dP^T = V dO^T
            Gradients(ref s, ref dp, qLse, qDelta, q0, flags, k0, j, q0 + 2 * t, rowsAreQueries: false, a);
            s.Fragment(out uint p0, out uint p1, out uint p2, out uint p3);
            accV.Add(p0, p1, p2, p3, dos, gatherAt, shift, dSteps, g, t, lane, fragments); // dV += P^T dO
            dp.Fragment(out p0, out p1, out p2, out p3);
            accK.Add(p0, p1, p2, p3, qs, gatherAt, shift, dSteps, g, t, lane, fragments);  // dK += dS^T Q
        }
        long at = head + (long)j * a.D, at8 = head + (long)(j + 8) * a.D;
        accK.Store(dk, at, at8, j < a.T, j + 8 < a.T, a.Scale, a.Scale, t, a.D);
        accV.Store(dv, at, at8, j < a.T, j + 8 < a.T, 1f, 1f, t, a.D);
    }

    /// <summary>
    /// dQ for a block of 64 queries (16 per warp): streams the key tiles they can see. Runs first and also writes
    /// Delta_i = rowsum(bf16(dO) * O) for the dK/dV kernel: with the dO that dP = dO V^T sees, sum_j P_ij dP_ij and
    /// Delta_i agree up to fp32 rounding, so dS = P (dP - Delta) keeps rows that sum to ~0 (with unrounded dO it
    /// would carry an error of 2^-9 |dO| |v|, which is all of dS where the true one cancels, e.g. T = 1).
    /// </summary>
    [Kernel("attention_backward_dq_bf16_mma", KernelGrouping.Explicit)]
    static void BackwardQuery(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> mask,
        ArrayView<float> lse, ArrayView<float> delta, ArrayView<float> dO, ArrayView<float> o, ArrayView<float> dq, AttentionArgs a)
    {
        var qs = SharedMemory.Allocate<uint>(BlockRows * Pitch);
        var dos = SharedMemory.Allocate<uint>(BlockRows * Pitch);
        var ks = SharedMemory.Allocate<uint>(StreamRows * Pitch);
        var vs = SharedMemory.Allocate<uint>(StreamRows * Pitch);
        var flags = SharedMemory.Allocate<int>(StreamRows);
        var warpEnds = SharedMemory.Allocate<int>(Warps);
        var qLse = SharedMemory.Allocate<float>(BlockRows);
        var qDelta = SharedMemory.Allocate<float>(BlockRows);
        var scratch = SharedMemory.Allocate<uint>(Warps * FragmentWords);
        int tid = Group.IdxX, warp = tid / WarpLanes, lane = tid % WarpLanes, g = lane >> 2, t = lane & 3;
        var fragments = scratch.SubView(warp * FragmentWords, FragmentWords);
        int bh = Grid.IdxY, b = bh / a.Heads, q0 = Grid.IdxX * BlockRows, dSteps = DSteps(a.D);
        long head = (long)bh * a.T * a.D, rows = (long)bh * a.T;
        int i = q0 + warp * WarpRows + g; // this lane's queries: i and i + 8
        int rowAt = (warp * WarpRows + g) * Pitch + t, streamAt = g * Pitch + t, gatherAt = 2 * t * Pitch + (g >> 1), shift = 16 * (g & 1);
        Stage(q, head, q0, BlockRows, a.T, a.D, qs, tid);
        Stage(dO, head, q0, BlockRows, a.T, a.D, dos, tid);
        Group.Barrier(); // dO staged
        RowDelta(o, dos, head, rows, q0, a.T, a.D, delta, qDelta, tid);
        if (tid < BlockRows) qLse[tid] = q0 + tid < a.T ? lse[rows + q0 + tid] : float.PositiveInfinity;

        var acc = default(RowTile);
        int kEnd = Min(KeyEnd(a, mask, b, tid, warpEnds), a.Causal != 0 ? q0 + BlockRows : a.T);
        for (int k0 = 0; k0 < kEnd; k0 += StreamRows)
        {
            Group.Barrier();
            Stage(k, head, k0, StreamRows, a.T, a.D, ks, tid);
            Stage(v, head, k0, StreamRows, a.T, a.D, vs, tid);
            if (tid < StreamRows) flags[tid] = KeyFlag(a, mask, b, k0 + tid);
            Group.Barrier();
            var s = Block16.Products(qs, rowAt, ks, streamAt, dSteps, g, t, lane, fragments);   // S = Q K^T
            var dp = Block16.Products(dos, rowAt, vs, streamAt, dSteps, g, t, lane, fragments); // dP = dO V^T
            Gradients(ref s, ref dp, qLse, qDelta, q0, flags, k0, i, k0 + 2 * t, rowsAreQueries: true, a);
            dp.Fragment(out uint p0, out uint p1, out uint p2, out uint p3);
            acc.Add(p0, p1, p2, p3, ks, gatherAt, shift, dSteps, g, t, lane, fragments); // dQ += dS K
        }
        acc.Store(dq, head + (long)i * a.D, head + (long)(i + 8) * a.D, i < a.T, i + 8 < a.T, a.Scale, a.Scale, t, a.D);
    }

    /// <summary>
    /// Delta of the group's 64 queries from the staged (bf16) dO and fp32 O: two adjacent threads per row, each half of
    /// the d pairs, combined with one shuffle. Into <paramref name="qDelta"/> and, for rows below T, global memory.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void RowDelta(ArrayView<float> o, ArrayView<uint> dos, long head, long rows, int q0, int t, int d, ArrayView<float> delta,
        ArrayView<float> qDelta, int tid)
    {
        int r = tid >> 1, i = q0 + r, pairs = (d + 1) / 2;
        float sum = 0f;
        if (i < t)
        {
            long at = head + (long)i * d;
            for (int c = tid & 1; c < pairs; c += 2)
            {
                uint w = dos[r * Pitch + c];
                sum += Bf16.Low(w) * o[at + 2 * c];
                if (2 * c + 1 < d) sum += Bf16.High(w) * o[at + 2 * c + 1];
            }
        }
        sum += Warp.ShuffleXor(sum, 1);
        if ((tid & 1) == 0)
        {
            qDelta[r] = sum;
            if (i < t) delta[rows + i] = sum;
        }
    }

    /// <summary>lse and Delta of query i into slot <paramref name="slot"/>; past T, +inf and 0 (so its p is 0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StageRow(ArrayView<float> lse, ArrayView<float> delta, long rows, int i, int t, ArrayView<float> qLse, ArrayView<float> qDelta, int slot)
    {
        bool real = i < t;
        qLse[slot] = real ? lse[rows + i] : float.PositiveInfinity;
        qDelta[slot] = real ? delta[rows + i] : 0f;
    }

    /// <summary>Scale * s where query i sees key j, -inf elsewhere; lane element (i, j) is row g, column 2t of the block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void MaskScores(ref Block16 s, ArrayView<int> flags, int k0, int i, int j, in AttentionArgs a)
    {
        s.Lo.D0 = Masked(s.Lo.D0, flags, k0, i, j, a); s.Lo.D1 = Masked(s.Lo.D1, flags, k0, i, j + 1, a);
        s.Lo.D2 = Masked(s.Lo.D2, flags, k0, i + 8, j, a); s.Lo.D3 = Masked(s.Lo.D3, flags, k0, i + 8, j + 1, a);
        s.Hi.D0 = Masked(s.Hi.D0, flags, k0, i, j + 8, a); s.Hi.D1 = Masked(s.Hi.D1, flags, k0, i, j + 9, a);
        s.Hi.D2 = Masked(s.Hi.D2, flags, k0, i + 8, j + 8, a); s.Hi.D3 = Masked(s.Hi.D3, flags, k0, i + 8, j + 9, a);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Masked(float s, ArrayView<int> flags, int k0, int i, int j, in AttentionArgs a) =>
        Visible(flags, k0, i, j, a.Causal) ? a.Scale * s : float.NegativeInfinity;

    /// <summary>Block -> exp(block - row base) in place; returns this lane's sum for row g, <paramref name="sum8"/> for row g + 8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Exponentiate(ref Block16 s, float baseG, float baseG8, out float sum8)
    {
        s.Lo.D0 = Exp(s.Lo.D0 - baseG); s.Lo.D1 = Exp(s.Lo.D1 - baseG); s.Hi.D0 = Exp(s.Hi.D0 - baseG); s.Hi.D1 = Exp(s.Hi.D1 - baseG);
        s.Lo.D2 = Exp(s.Lo.D2 - baseG8); s.Lo.D3 = Exp(s.Lo.D3 - baseG8); s.Hi.D2 = Exp(s.Hi.D2 - baseG8); s.Hi.D3 = Exp(s.Hi.D3 - baseG8);
        sum8 = (s.Lo.D2 + s.Lo.D3) + (s.Hi.D2 + s.Hi.D3);
        return (s.Lo.D0 + s.Lo.D1) + (s.Hi.D0 + s.Hi.D1);
    }

    /// <summary>
    /// Scores -> P = exp(Scale s - lse_i) where query i sees key j (else 0), and dP -> dS = P (dP - Delta_i), for the
    /// lane's elements: row r (and r + 8), column c (c + 1, c + 8, c + 9) of the block. In the dQ kernel rows are
    /// queries; in the dK/dV kernel rows are keys and columns queries (the transposed block).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Gradients(ref Block16 s, ref Block16 dp, ArrayView<float> qLse, ArrayView<float> qDelta, int qBase,
        ArrayView<int> flags, int kBase, int r, int c, bool rowsAreQueries, in AttentionArgs a)
    {
        Cell(ref s.Lo.D0, ref dp.Lo.D0, qLse, qDelta, qBase, flags, kBase, r, c, rowsAreQueries, a);
        Cell(ref s.Lo.D1, ref dp.Lo.D1, qLse, qDelta, qBase, flags, kBase, r, c + 1, rowsAreQueries, a);
        Cell(ref s.Lo.D2, ref dp.Lo.D2, qLse, qDelta, qBase, flags, kBase, r + 8, c, rowsAreQueries, a);
        Cell(ref s.Lo.D3, ref dp.Lo.D3, qLse, qDelta, qBase, flags, kBase, r + 8, c + 1, rowsAreQueries, a);
        Cell(ref s.Hi.D0, ref dp.Hi.D0, qLse, qDelta, qBase, flags, kBase, r, c + 8, rowsAreQueries, a);
        Cell(ref s.Hi.D1, ref dp.Hi.D1, qLse, qDelta, qBase, flags, kBase, r, c + 9, rowsAreQueries, a);
        Cell(ref s.Hi.D2, ref dp.Hi.D2, qLse, qDelta, qBase, flags, kBase, r + 8, c + 8, rowsAreQueries, a);
        Cell(ref s.Hi.D3, ref dp.Hi.D3, qLse, qDelta, qBase, flags, kBase, r + 8, c + 9, rowsAreQueries, a);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Cell(ref float s, ref float dp, ArrayView<float> qLse, ArrayView<float> qDelta, int qBase,
        ArrayView<int> flags, int kBase, int r, int c, bool rowsAreQueries, in AttentionArgs a)
    {
        int i = rowsAreQueries ? r : c, j = rowsAreQueries ? c : r;
        float p = Visible(flags, kBase, i, j, a.Causal) ? Exp(a.Scale * s - qLse[i - qBase]) : 0f;
        dp = p * (dp - qDelta[i - qBase]);
        s = p;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int Min(int x, int y) => x < y ? x : y;
}
