namespace Cleft.Kernels.Cpu;

/// <summary>
/// The packed, cache-blocked GEMM (GotoBLAS / BLIS loop structure):
/// <code>
/// for jc in N step NC          B block KC x NC, packed once and shared by all threads (L3)
///   for pc in K step KC        beta applies on the first pc only; later ones accumulate (beta = 1)
///     pack B[pc, jc]
///     for ic in my rows step MC      A block MC x KC, packed per thread (L2)
///       pack A[ic, pc]
///       for jr in NC step NR         B micro-panel KC x NR stays in L1 across the ir loop
///         for ir in MC step MR       A micro-panel streams from L2
///           micro-kernel (MR x NR tile of C in registers)
/// </code>
/// Threads split a problem by a fixed rule (rows, or column panels when rows are few), or take whole batch
/// items when there are many; either way each C element's arithmetic is the same, so outputs never
/// depend on the split or on timing.
/// </summary>
public static unsafe partial class CpuGemm
{
    // KC x NR x 4 B = 32 KB of B micro-panel for AVX-512: the L1 working set of the ir loop (Zen4 L1d 32 KB,
    // the panel is read once per A micro-panel so it stays mostly resident); MC x KC x 4 B = 192 KB of
    // packed A sits comfortably in a 1 MB L2; NC bounds the shared B block (KC x NC x 4 B = 4 MB in L3).
    static readonly int KC = Wide ? 256 : 256;
    static readonly int MC = Wide ? 192 : 96;
    static readonly int NC = 4096;

    // Under this many multiply-adds a whole problem runs on one thread (parallel hand-off is ~10 us).
    const long ParallelMacs = 1L << 20;

    static void MultiplyBlocked(float[] a, float[] b, float[] c, GemmShape s)
    {
        long macsPerItem = (long)s.M * s.N * s.K;
        int threads = Environment.ProcessorCount;
        bool overlap = COverlaps(s);
        if (threads == 1 || macsPerItem * s.Batch < ParallelMacs)
        {
            for (int bt = 0; bt < s.Batch; bt++) Item(a, b, c, s, bt, 1);
        }
        else if (!overlap && s.Batch >= 2 * threads || macsPerItem < ParallelMacs && !overlap)
        {
            // Many items (attention heads, per-sample products): one item per task, scheduled freely;
            // the bits do not depend on which thread runs which item.
            Parallel.For(0, s.Batch, bt => Item(a, b, c, s, bt, 1));
        }
        else
        {
            for (int bt = 0; bt < s.Batch; bt++) Item(a, b, c, s, bt, threads);
        }
    }

    /// <summary>One batch item on <paramref name="threads"/> threads (1 = on the calling thread).</summary>
    static void Item(float[] a, float[] b, float[] c, in GemmShape s, int bt, int threads)
    {
        int m = s.M, n = s.N, k = s.K;
        int kcMax = Math.Min(KC, k), ncMax = Math.Min(NC, n);
        int panelsMax = (ncMax + NR - 1) / NR;
        float* packB = PackBBuffer((long)panelsMax * NR * kcMax);
        var sh = s;
        nint pB = (nint)packB;

        // Fixed split of the item: by rows (in whole MR panels) when there are enough, else by B panels.
        int rowPanels = (m + MR - 1) / MR;
        bool splitRows = rowPanels >= 2 * threads;

        for (int jc = 0; jc < n; jc += NC)
        {
            int nc = Math.Min(NC, n - jc);
            int panels = (nc + NR - 1) / NR;
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                float beta = pc == 0 ? s.Beta : 1f;
                if (threads == 1)
                {
                    PackBRange(b, sh, bt, pc, kc, jc, nc, 0, panels, packB);
                    Compute(a, c, sh, bt, pc, kc, jc, nc, 0, m, 0, panels, beta, packB);
                    continue;
                }
                int jcc = jc, pcc = pc;
                Parallel.For(0, threads, t =>
                    PackBRange(b, sh, bt, pcc, kc, jcc, nc, Split(panels, threads, t), Split(panels, threads, t + 1), (float*)pB));
                Parallel.For(0, threads, t =>
                {
                    if (splitRows)
                        Compute(a, c, sh, bt, pcc, kc, jcc, nc, Split(rowPanels, threads, t) * MR,
                            Math.Min(m, Split(rowPanels, threads, t + 1) * MR), 0, panels, beta, (float*)pB);
                    else
                        Compute(a, c, sh, bt, pcc, kc, jcc, nc, 0, m,
                            Split(panels, threads, t), Split(panels, threads, t + 1), beta, (float*)pB);
                });
            }
        }
    }

    /// <summary>Start of part <paramref name="t"/> when <paramref name="count"/> units go to <paramref name="parts"/> parts.</summary>
    static int Split(int count, int parts, int t) => (int)((long)count * t / parts);

    static void PackBRange(float[] b, in GemmShape s, int bt, int pc, int kc, int jc, int nc, int panel0, int panel1, float* packB)
    {
        if (panel0 >= panel1) return;
        fixed (float* pb = b)
            PackB(pb + bt * s.StrideB, s.TransB, s.Ldb, pc, kc, jc, nc, panel0, panel1, packB);
    }

    /// <summary>Rows [r0, r1) x B panels [panel0, panel1) of the current (jc, pc) block, on this thread.</summary>
    static void Compute(float[] a, float[] c, in GemmShape s, int bt, int pc, int kc, int jc, int nc,
        int r0, int r1, int panel0, int panel1, float beta, float* packB)
    {
        if (r0 >= r1 || panel0 >= panel1) return;
        int mr = MR, nr = NR;
        float* packA = PackABuffer((long)MC * kc);
        nint ldc = s.N;
        fixed (float* pa0 = a, pc0 = c)
        {
            float* pa = pa0 + bt * s.StrideA;
            float* cBase = pc0 + bt * s.StrideC;
            for (int ic = r0; ic < r1; ic += MC)
            {
                int mc = Math.Min(MC, r1 - ic);
                PackA(pa, s.TransA, s.Lda, ic, mc, pc, kc, s.Alpha, packA);
                for (int pj = panel0; pj < panel1; pj++)
                {
                    int jr = pj * nr, cols = Math.Min(nr, nc - jr);
                    float* bp = packB + (nint)pj * nr * kc;
                    float* cc = cBase + (nint)ic * ldc + jc + jr;
                    for (int ir = 0; ir < mc; ir += mr)
                        Tile(kc, packA + (nint)ir * kc, bp, cc + ir * ldc, ldc, Math.Min(mr, mc - ir), cols, beta);
                }
            }
        }
    }
}
