namespace Cleft.Kernels.Cpu;

/// <summary>
/// The packed, cache-blocked GEMM (GotoBLAS / BLIS loop structure) over one slab of C:
/// <code>
/// for jc in cols step NC           B block KC x NC packed per thread (L3-sized bound)
///   for pc in K step KC            beta applies on the first pc only; later ones accumulate (beta = 1)
///     pack B[pc, jc]
///     for ic in rows step MC       A block MC x KC packed per thread (L2)
///       pack A[ic, pc]
///       for jr in NC step NR       B micro-panel KC x NR is reused across the ir loop (L1/L2)
///         for ir in MC step MR     A micro-panel streams from L2
///           micro-kernel (MR x NR tile of C in registers)
/// </code>
/// Threading: a problem is cut up front - whole batch items when there are many, else each item along N
/// (each thread packs its own columns of B and all of A) or along M, whichever duplicates cheaper packing.
/// Along M, B is packed once for all threads (up to 16 MB; each thread packs its own copy above that) and
/// the threads then take row blocks from a counter (with A stored [K,M], k block by k block). Every C element
/// sees the same arithmetic whichever slab holds it, so the output never depends on the split or on timing.
/// </summary>
public static unsafe partial class CpuGemm
{
    // TB, the element type of B as stored, is float or ILGPU.Half (frozen fp16 weights, CpuGemm.Half.cs): only
    // PackB reads B, widening to fp32 as it packs, so everything from the packed panels on is shared.

    // Each k block ends with a load + store of its C tiles, and with both cores streaming C that traffic is what
    // two threads contend for, so k blocks are long: KC = 512 (the micro-kernel prefetches its streams beyond k = 256,
    // CpuGemm.MicroKernel.cs), and an MC x KC block of packed A is 192 KB. These are the sizes every measurement in
    // docs/PERFORMANCE.md ran with. The source asked for KC 1024 / MC 192 on AVX-512 from the fifth round (MC 192 from
    // the start), but those initializers read Wide before it was set and got the AVX2 pair; with that fixed, the
    // intended pair measured no better than this one, interleaved, on the whole step and on the step's shapes (sixth
    // round), so this one stays, on both instruction sets. History: KC 256 -> 512 gave +3-12% (medians) on 10 of 15
    // cleft-step GEMM shapes on two cores (fourth round). NC bounds the per-thread B block (KC x NC x 4 B = 4 MB).
    static readonly int KC = 512;
    static readonly int MC = 96;
    static readonly int NC = 2048;

    /// <summary>
    /// The blocking this machine's GEMM runs with: micro-tile MR x NR, k block KC, row block MC, column block NC. The
    /// benchmarks print it, so a measurement names the configuration it measured.
    /// </summary>
    public static (int MR, int NR, int KC, int MC, int NC) Blocking => (MR, NR, KC, MC, NC);

    // Under this many multiply-adds a problem runs on the calling thread (parallel hand-off is ~10 us).
    const long ParallelMacs = 1L << 20;

    static void MultiplyBlocked<TB>(float[] a, TB[] b, float[] c, GemmShape s, float[]? bias = null) where TB : unmanaged
    {
        long macsPerItem = (long)s.M * s.N * s.K;
        int threads = Environment.ProcessorCount;
        if (threads == 1 || macsPerItem * s.Batch < ParallelMacs)
        {
            for (int bt = 0; bt < s.Batch; bt++) Slab(a, b, c, s, bt, 0, s.M, 0, s.N, bias);
            return;
        }
        int rowPanels = (s.M + MR - 1) / MR, colPanels = (s.N + NR - 1) / NR;
        // Split one item along N (every thread packs all of A) or along M (every thread packs all of B),
        // whichever duplicates less packing work, as long as each part gets a couple of panels. An
        // interleaving pack (A as stored [M,K], B as stored [N,K]) costs ~3x a pack of contiguous runs.
        double packA = (double)s.M * s.K * (s.TransA ? 1 : 3), packB = (double)s.K * s.N * (s.TransB ? 3 : 1);
        bool byCols = colPanels >= 2 * threads && (packA <= packB || rowPanels < 2 * threads);
        bool byRows = !byCols && rowPanels >= 2 * threads;
        // Many items, or items too small to cut: a whole item per task.
        int parts = s.Batch >= 2 * threads || macsPerItem < ParallelMacs || !(byCols || byRows) ? 1 : threads;

        // Split by rows with a B small enough to pack whole: pack it once for all threads, then hand out row blocks.
        bool sharedB = parts > 1 && !byCols && macsPerItem >= SharedBMinMacs && (long)colPanels * NR * s.K <= SharedBMaxFloats;
        if (COverlaps(s))
        {
            // Items add into shared C: items in order, each split across the cores.
            for (int bt = 0; bt < s.Batch; bt++)
            {
                if (parts == 1) Slab(a, b, c, s, bt, 0, s.M, 0, s.N);
                else if (sharedB) RowsOverSharedB(a, b, c, s, bt, null);
                else RunParts(a, b, c, s, bt, 1, parts, byCols);
            }
            return;
        }
        if (sharedB) for (int bt = 0; bt < s.Batch; bt++) RowsOverSharedB(a, b, c, s, bt, bias);
        else RunParts(a, b, c, s, 0, s.Batch, parts, byCols, bias);
    }

    /// <summary>
    /// Items [first, first+count) x parts as one parallel loop. Its own method so that the serial calls
    /// above never allocate the lambda's closure.
    /// </summary>
    static void RunParts<TB>(float[] a, TB[] b, float[] c, GemmShape s, int first, int count, int parts, bool byCols, float[]? bias = null) where TB : unmanaged
        => CpuParallel.For(count * parts, task => Part(a, b, c, s, first + task / parts, task % parts, parts, byCols, bias));

    /// <summary>Part <paramref name="t"/> of <paramref name="parts"/> of batch item <paramref name="bt"/>.</summary>
    static void Part<TB>(float[] a, TB[] b, float[] c, in GemmShape s, int bt, int t, int parts, bool byCols, float[]? bias) where TB : unmanaged
    {
        if (parts == 1) { Slab(a, b, c, s, bt, 0, s.M, 0, s.N, bias); return; }
        if (byCols)
        {
            int panels = (s.N + NR - 1) / NR;
            Slab(a, b, c, s, bt, 0, s.M, Split(panels, parts, t) * NR, Math.Min(s.N, Split(panels, parts, t + 1) * NR), bias);
        }
        else
        {
            int panels = (s.M + MR - 1) / MR;
            Slab(a, b, c, s, bt, Split(panels, parts, t) * MR, Math.Min(s.M, Split(panels, parts, t + 1) * MR), 0, s.N, bias);
        }
    }

    // The whole of B packed once per call when rows are split (BLIS's shared B): up to 16 MB, which covers every
    // weight of the cleft-step configs and 1024^3; larger B falls back to each thread packing its own copy.
    const long SharedBMaxFloats = 4L << 20;
    const int SharedBPanelsPerItem = 4;
    // Below this (~0.5 ms on two cores) the pack-then-compute hand-off and the extra row blocks cost more than the
    // duplicated B pack they save: 192^3 ran ~15-25% slower on the shared route.
    const long SharedBMinMacs = 1L << 26;

    /// <summary>
    /// Batch item <paramref name="bt"/> split by rows over one packed copy of B: first every thread packs panels
    /// of B (all k and n blocks) into the caller's buffer, then the threads take blocks of rows, each packing its
    /// own A. Taking row blocks from a counter keeps both cores busy when one is slowed (a VM's other tenants),
    /// where fixed halves left the faster core waiting. Slab's loops and arithmetic are unchanged, so C is
    /// bit-identical to the per-thread packing route.
    /// </summary>
    static void RowsOverSharedB<TB>(float[] a, TB[] b, float[] c, GemmShape s, int bt, float[]? bias) where TB : unmanaged
    {
        int colPanels = (s.N + NR - 1) / NR, kBlocks = (s.K + KC - 1) / KC, nBlocks = (s.N + NC - 1) / NC;
        int groups = ((Math.Min(NC, s.N) + NR - 1) / NR + SharedBPanelsPerItem - 1) / SharedBPanelsPerItem; // items per (n, k) block
        nint packed = (nint)SharedBBuffer((long)colPanels * NR * s.K);
        CpuParallel.For(nBlocks * kBlocks * groups, t =>
        {
            int jc = t / (kBlocks * groups) * NC, pc = t / groups % kBlocks * KC, g = t % groups;
            int nc = Math.Min(NC, s.N - jc), kc = Math.Min(KC, s.K - pc);
            int panel0 = g * SharedBPanelsPerItem, panel1 = Math.Min((nc + NR - 1) / NR, panel0 + SharedBPanelsPerItem);
            if (panel0 >= panel1) return;
            fixed (TB* pb = b)
                PackB(pb + bt * s.StrideB, s.TransB, s.Ldb, pc, kc, jc, nc, panel0, panel1, SharedBlock((float*)packed, s.K, jc, nc, pc));
        });
        int rowPanels = (s.M + MR - 1) / MR;
        // ~4 row blocks per thread (at most MC rows each): enough to even out, few enough to keep A packs long.
        int panelsPerBlock = Math.Clamp((rowPanels + 4 * CpuParallel.Threads - 1) / (4 * CpuParallel.Threads), 1, MC / MR);
        int rowBlocks = (rowPanels + panelsPerBlock - 1) / panelsPerBlock;
        if (!s.TransA)
        {
            CpuParallel.For(rowBlocks, t => Slab(a, b, c, s, bt, t * panelsPerBlock * MR, Math.Min(s.M, (t + 1) * panelsPerBlock * MR),
                0, s.N, bias, (float*)packed));
            return;
        }
        // A stored [K, M] (the weight gradients X^T dY) is packed from runs of MC floats out of rows lda apart, a page
        // or more each. A row block that ran all of K before the next one started read every one of those rows once
        // per row block; with the k block outermost, the row blocks a core takes in turn read the same KC rows while
        // they are still cached (and in its TLB). Measured (two cores, alternating in one process): TN / NN at fc2's
        // weight gradient 768 x 192 x 6432 0.93-0.96 -> 0.99, at 1536 x 384 x 3216 0.94-0.97 -> 1.01. One parallel loop
        // per k block keeps each C element's k blocks in order, so the result is bit-identical.
        for (int pc = 0; pc < s.K; pc += KC)
        {
            int kFrom = pc;
            CpuParallel.For(rowBlocks, t => Slab(a, b, c, s, bt, t * panelsPerBlock * MR, Math.Min(s.M, (t + 1) * panelsPerBlock * MR),
                0, s.N, bias, (float*)packed, kFrom, kFrom + KC));
        }
    }

    /// <summary>
    /// Where the packed block for columns [jc, jc+nc) and k rows from pc starts in a whole-B pack: n blocks one
    /// after another, each holding its k blocks in order (panels x NR x kc floats each).
    /// </summary>
    static float* SharedBlock(float* packed, int k, int jc, int nc, int pc)
        => packed + (nint)jc * k + (nint)((nc + NR - 1) / NR) * NR * pc;

    /// <summary>Start of part <paramref name="t"/> when <paramref name="count"/> units go to <paramref name="parts"/> parts.</summary>
    static int Split(int count, int parts, int t) => (int)((long)count * t / parts);

    /// <summary>
    /// C rows [r0, r1) x cols [c0, c1) of batch item <paramref name="bt"/>, on this thread. With
    /// <paramref name="packedB"/> (all of B already packed, <see cref="RowsOverSharedB"/>; c0 = 0, c1 = N) B is read
    /// from there instead of being packed here. Only the k blocks starting in [<paramref name="kFrom"/>,
    /// <paramref name="kTo"/>) are added (kFrom a multiple of KC); the caller runs the others, in order.
    /// </summary>
    static void Slab<TB>(float[] a, TB[] b, float[] c, in GemmShape s, int bt, int r0, int r1, int c0, int c1, float[]? bias = null,
        float* packedB = null, int kFrom = 0, int kTo = int.MaxValue) where TB : unmanaged
    {
        if (r0 >= r1 || c0 >= c1) return;
        int mr = MR, nr = NR, k = s.K;
        int kcMax = Math.Min(KC, k);
        int ncMax = Math.Min(NC, c1 - c0);
        float* packA = PackABuffer((long)MC * kcMax);
        float* packB = packedB != null ? null : PackBBuffer((long)((ncMax + nr - 1) / nr) * nr * kcMax);
        nint ldc = s.N;
        fixed (float* pa0 = a, pc0 = c, pbias = bias)
        fixed (TB* pb0 = b)
        {
            float* pa = pa0 + bt * s.StrideA, cBase = pc0 + bt * s.StrideC;
            TB* pb = pb0 + bt * s.StrideB;
            for (int jc = c0; jc < c1; jc += NC)
            {
                int nc = Math.Min(NC, c1 - jc);
                int panels = (nc + nr - 1) / nr;
                for (int pc = kFrom; pc < Math.Min(k, kTo); pc += KC)
                {
                    int kc = Math.Min(KC, k - pc);
                    float beta = pc == 0 ? s.Beta : 1f;
                    // The bias goes in with the last k block's store: C is then final, as a separate add would see it.
                    float* biasBlock = pbias != null && pc + kc >= k ? pbias + jc : null;
                    float* blockB = packB;
                    if (packedB != null) blockB = SharedBlock(packedB, k, jc, nc, pc);
                    else PackB(pb, s.TransB, s.Ldb, pc, kc, jc, nc, 0, panels, packB);
                    for (int ic = r0; ic < r1; ic += MC)
                    {
                        int mc = Math.Min(MC, r1 - ic);
                        PackA(pa, s.TransA, s.Lda, ic, mc, pc, kc, s.Alpha, packA);
                        for (int pj = 0; pj < panels; pj++)
                        {
                            int cols = Math.Min(nr, nc - pj * nr);
                            float* bp = blockB + (nint)pj * nr * kc;
                            float* cc = cBase + (nint)ic * ldc + jc + pj * nr;
                            float* bb = biasBlock == null ? null : biasBlock + pj * nr;
                            for (int ir = 0; ir < mc; ir += mr)
                                Tile(kc, packA + (nint)ir * kc, bp, cc + ir * ldc, ldc, Math.Min(mr, mc - ir), cols, beta, bb);
                        }
                    }
                }
            }
        }
    }
}
