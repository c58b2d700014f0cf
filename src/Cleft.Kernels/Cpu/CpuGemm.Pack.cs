using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cleft.Kernels.Cpu;

/// <summary>
/// Packing: copies a block of op(A) or op(B) into the exact order the micro-kernel reads it, so the kernel
/// only ever streams contiguous memory. Transposes are absorbed here (the kernel never knows), alpha is
/// folded into A, and ragged edges are zero-padded to whole MR / NR panels so edge tiles need no special
/// kernel.
/// <para>Packed A: ceil(mc/MR) panels, each kc steps of MR floats (element (i, k) at panel[k*MR + i]).</para>
/// <para>Packed B: ceil(nc/NR) panels, each kc steps of NR floats (element (k, j) at panel[k*NR + j]).</para>
/// </summary>
public static unsafe partial class CpuGemm
{
    /// <summary>
    /// Packs rows [i0, i0+mc) x cols [p0, p0+kc) of op(A). <paramref name="a"/> is this batch item's A;
    /// stored [M,K] (lda = K) or, when transposed, [K,M] (lda = M).
    /// </summary>
    static void PackA(float* a, bool trans, nint lda, int i0, int mc, int p0, int kc, float alpha, float* dst)
    {
        int mr = MR;
        if (trans)
        {
            // Stored [K,M]: step k is a contiguous run of mc floats, cut into the panels' MR-float runs. In chunks of
            // 16 steps, panel by panel: the chunk's source rows stay in L1 while every panel gets its 16 runs written
            // contiguously. Step by step across all panels instead writes 16 streams exactly 12 KiB apart (one L1
            // set); panel by panel over all kc steps re-reads kc rows lda apart (a few sets when lda is 768 floats).
            // (Measured at the step's weight-gradient shapes: the pack then cost 3-4x the interleaving pack of a [M,K] A,
            // and a ScaleRun the JIT did not inline cost as much again.)
            const int chunk = 16;
            for (int k0 = 0; k0 < kc; k0 += chunk)
            {
                int k1 = Math.Min(kc, k0 + chunk);
                float* src0 = a + (nint)(p0 + k0) * lda + i0;
                // The rows are lda apart (a page or more for the weight gradients' [tokens, width] operands), a
                // pattern the hardware prefetcher picks up late: ask for the next chunk's lines while this one is copied.
                if (Sse.IsSupported)
                    for (int k = k1; k < Math.Min(kc, k1 + chunk); k++)
                    {
                        float* row = a + (nint)(p0 + k) * lda + i0;
                        for (int i = 0; i < mc; i += 16) Sse.Prefetch0(row + i);
                    }
                float* panel = dst + (nint)k0 * mr;
                for (int ir = 0; ir < mc; ir += mr, panel += (nint)mr * kc)
                {
                    int rows = Math.Min(mr, mc - ir);
                    float* src = src0 + ir, d = panel;
                    for (int k = k0; k < k1; k++, src += lda, d += mr) ScaleRun(src, d, rows, mr, alpha);
                }
            }
            return;
        }
        // Stored [M,K]: each row is contiguous in k; interleave `rows` rows step by step.
        for (int ir = 0; ir < mc; ir += mr, dst += (nint)mr * kc)
            Interleave(a + (nint)(i0 + ir) * lda + p0, lda, Math.Min(mr, mc - ir), mr, kc, alpha, dst);
    }

    /// <summary>dst[0..n) = alpha src[0..n), dst[n..width) = 0: one step of a packed panel from a contiguous run.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void ScaleRun(float* src, float* dst, int n, int width, float alpha)
    {
        if (n == 12 && width == 12 && Vector256.IsHardwareAccelerated)
        {
            // The AVX-512 panel's full step.
            Vector256.Store(Vector256.Load(src) * Vector256.Create(alpha), dst);
            Vector128.Store(Vector128.Load(src + 8) * Vector128.Create(alpha), dst + 8);
            return;
        }
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var scale = Vector256.Create(alpha);
            for (; i + 8 <= n; i += 8) Vector256.Store(Vector256.Load(src + i) * scale, dst + i);
        }
        if (Vector128.IsHardwareAccelerated)
        {
            var scale = Vector128.Create(alpha);
            for (; i + 4 <= n; i += 4) Vector128.Store(Vector128.Load(src + i) * scale, dst + i);
        }
        for (; i < n; i++) dst[i] = alpha * src[i];
        for (; i < width; i++) dst[i] = 0f;
    }

    /// <summary>
    /// Packs rows [p0, p0+kc) x cols [j0, j0+nc) of op(B), panels [panel0, panel1) only (so threads can
    /// share the work). <paramref name="b"/> is stored [K,N] (ldb = N) or, when transposed, [N,K] (ldb = K).
    /// </summary>
    static void PackB<TB>(TB* b, bool trans, nint ldb, int p0, int kc, int j0, int nc, int panel0, int panel1, float* dst) where TB : unmanaged
    {
        int nr = NR;
        for (int pj = panel0; pj < panel1; pj++)
        {
            int jr = pj * nr, cols = Math.Min(nr, nc - jr);
            float* d0 = dst + (nint)pj * nr * kc;
            if (!trans)
            {
                // Stored [K,N]: each step k is a contiguous run of NR floats: one or two vector copies.
                TB* src = b + (nint)p0 * ldb + j0 + jr;
                if (typeof(TB) != typeof(float) && cols == nr)
                {
                    for (int k = 0; k < kc; k++, src += ldb) WidenRun(src, d0 + (nint)k * nr, nr);
                }
                else if (cols == nr)
                {
                    for (int k = 0; k < kc; k++, src += ldb)
                    {
                        float* d = d0 + (nint)k * nr;
                        float* f = (float*)src;
                        if (Wide) { Vector512.Store(Vector512.Load(f), d); Vector512.Store(Vector512.Load(f + 16), d + 16); }
                        else { Vector256.Store(Vector256.Load(f), d); Vector256.Store(Vector256.Load(f + 8), d + 8); }
                    }
                }
                else
                {
                    for (int k = 0; k < kc; k++, src += ldb)
                    {
                        float* d = d0 + (nint)k * nr;
                        int j = 0;
                        for (; j < cols; j++) d[j] = Widen(src[j]);
                        for (; j < nr; j++) d[j] = 0f;
                    }
                }
            }
            else if (typeof(TB) == typeof(float))
            {
                // Stored [N,K]: each column j of op(B) is a contiguous row; interleave them step by step.
                Interleave((float*)(b + (nint)(j0 + jr) * ldb + p0), ldb, cols, nr, kc, 1f, d0);
            }
            else
            {
                // fp16 stored [N,K] (a frozen weight's x W^T in backward): widen the panel's rows into fp32 (vectorised,
                // exact), then the same transposing interleave as fp32. Widening element by element into the panel's
                // NR-float stride wrote one float per cache line, kc lines per column and NR passes over a panel larger
                // than L1: the GEMM ran 6-15% slower than on the widened fp32 weight, now 0-6% (docs/PERFORMANCE.md).
                float* rows = WidenBuffer((long)nr * kc);
                for (int j = 0; j < cols; j++) WidenRun(b + (nint)(j0 + jr + j) * ldb + p0, rows + (nint)j * kc, kc);
                Interleave(rows, kc, cols, nr, kc, 1f, d0);
            }
        }
    }

    /// <summary>
    /// Interleaves <paramref name="rows"/> source rows (row r at src + r ld, each <paramref name="kc"/> floats long) into a
    /// panel of <paramref name="width"/> lanes: dst[k width + r] = alpha src[r ld + k], rows..width zero. This is the
    /// transposing pack behind A stored [M,K] and B stored [N,K] (x W^T, the forward of every linear layer): done an
    /// element at a time it costs about as much as the micro-kernel's work on a 192-wide panel, so whole 4 x 4 blocks
    /// are transposed in SSE registers (4 loads, 8 shuffles, 4 stores per 16 floats) and only ragged edges go element
    /// by element. Multiplying by alpha rounds exactly as the scalar loop did, so packed panels are bit-identical.
    /// </summary>
    internal static void Interleave(float* src, nint ld, int rows, int width, int kc, float alpha, float* dst)
    {
        int r = 0;
        if (Sse.IsSupported)
        {
            var scale = Vector128.Create(alpha);
            bool scaled = alpha != 1f;
            int k4 = kc & ~3, r4 = rows & ~3;
            // In chunks of k steps whose part of the panel (~8 KB) stays in L1 while each 4-row group writes its 16 B of
            // every step: over all kc steps at once, a 32-wide panel (64 KB at kc = 512) outgrew L1 and each of its 8
            // groups fetched every line again (x W^T's B panels, and A's at MR = 12 over 24 KB; docs/PERFORMANCE.md).
            int chunk = Math.Max(4, 2048 / width & ~3);
            for (int k0 = 0; k0 < k4; k0 += chunk)
            {
                int k1 = Math.Min(k4, k0 + chunk);
                for (r = 0; r < r4; r += 4)
                {
                    float* s0 = src + r * ld, s1 = s0 + ld, s2 = s1 + ld, s3 = s2 + ld;
                    float* d = dst + (nint)k0 * width + r;
                    for (int k = k0; k < k1; k += 4, d += 4 * width)
                    {
                        Vector128<float> x0 = Sse.LoadVector128(s0 + k), x1 = Sse.LoadVector128(s1 + k),
                            x2 = Sse.LoadVector128(s2 + k), x3 = Sse.LoadVector128(s3 + k);
                        if (scaled) { x0 *= scale; x1 *= scale; x2 *= scale; x3 *= scale; }
                        // 4 x 4 transpose: t0 = (x0[0] x1[0] x0[1] x1[1]), t1 = (x0[2] x1[2] x0[3] x1[3]), t2/t3 likewise for x2, x3.
                        var t0 = Sse.UnpackLow(x0, x1); var t1 = Sse.UnpackHigh(x0, x1);
                        var t2 = Sse.UnpackLow(x2, x3); var t3 = Sse.UnpackHigh(x2, x3);
                        Sse.Store(d, Sse.MoveLowToHigh(t0, t2));
                        Sse.Store(d + width, Sse.MoveHighToLow(t2, t0));
                        Sse.Store(d + 2 * width, Sse.MoveLowToHigh(t1, t3));
                        Sse.Store(d + 3 * width, Sse.MoveHighToLow(t3, t1));
                    }
                }
            }
            for (r = 0; r < r4; r++)
                for (int k = k4; k < kc; k++) dst[(nint)k * width + r] = alpha * src[r * ld + k];
        }
        for (; r < rows; r++)
        {
            float* s0 = src + r * ld;
            for (int k = 0; k < kc; k++) dst[(nint)k * width + r] = alpha * s0[k];
        }
        for (int i = rows; i < width; i++)
            for (int k = 0; k < kc; k++) dst[(nint)k * width + i] = 0f;
    }

    /// <summary>
    /// A 64-byte-aligned native buffer owned by one thread (ThreadStatic), grown on demand and reused, so
    /// steady-state GEMM calls allocate no packing memory. Freed when its thread goes away.
    /// </summary>
    sealed class PackBuffer
    {
        float* _ptr;
        long _capacity;

        public float* Get(long floats)
        {
            if (floats > _capacity)
            {
                if (_ptr != null) NativeMemory.AlignedFree(_ptr);
                _ptr = null;
                _capacity = 0;
                _ptr = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
                _capacity = floats;
            }
            return _ptr;
        }

        ~PackBuffer()
        {
            if (_ptr != null) NativeMemory.AlignedFree(_ptr);
        }
    }

    [ThreadStatic] static PackBuffer? t_packA;
    [ThreadStatic] static PackBuffer? t_packB;

    static float* PackABuffer(long floats) => (t_packA ??= new PackBuffer()).Get(floats);
    static float* PackBBuffer(long floats) => (t_packB ??= new PackBuffer()).Get(floats);

    // The whole-B pack of a row-split GEMM (CpuGemm.Blocked.cs) belongs to the calling thread: the workers write and
    // read it only during that call, and a second caller (another thread) has its own.
    [ThreadStatic] static PackBuffer? t_sharedB;
    static float* SharedBBuffer(long floats) => (t_sharedB ??= new PackBuffer()).Get(floats);

    // fp32 rows of an fp16 B panel before they are interleaved (PackB): the packing thread's own.
    [ThreadStatic] static PackBuffer? t_widen;
    static float* WidenBuffer(long floats) => (t_widen ??= new PackBuffer()).Get(floats);
}
