using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cleft.Kernels.Cpu;

/// <summary>
/// Register-blocked micro-kernels: an MR x NR tile of C held entirely in vector registers while kc rank-1
/// updates stream through it. Each step loads NR floats of packed B (contiguous) and broadcasts MR floats
/// of packed A (contiguous), so the inner loop touches memory only sequentially.
/// <list type="bullet">
/// <item>AVX-512: 12 x 32 = 24 zmm accumulators + 2 for B + 1 broadcast of the 32 zmm registers.
/// 24 independent FMA chains cover the 4-cycle FMA latency at one 512-bit FMA per cycle (Zen4).</item>
/// <item>AVX2: 6 x 16 = 12 ymm accumulators + 2 for B + 1 broadcast of the 16 ymm registers.</item>
/// </list>
/// The store adds beta C with one rounding (fma), so beta = 1 is an exact C + acc. Every element sees the
/// same arithmetic whatever tile it falls in, which keeps results independent of the thread split.
/// </summary>
public static unsafe partial class CpuGemm
{
    // Properties, not static readonly fields: the initializers of a partial class's static fields run file by file, and
    // CpuGemm.Blocked.cs's (KC, MC) ran before this file's, so they read Wide as false and every machine got the AVX2
    // blocking (KC 512, MC 96) until 2026-11-29. The JIT folds these intrinsics to constants all the same.
    internal static bool Wide => Vector512.IsHardwareAccelerated;
    internal static bool PackedAvailable => Wide || (Vector256.IsHardwareAccelerated && Fma.IsSupported);

    static readonly int MR = Wide ? 12 : 6;
    static readonly int NR = Wide ? 32 : 16;

    // Software prefetch distances, in floats, for k blocks longer than PrefetchFromK: there the B micro-panel
    // (kc x 32 floats, 64 KB at kc = 512) no longer fits in L1 beside the A micro-panel, so every call streams
    // it from L2 again, and the hardware prefetcher alone leaves the loads waiting. 32 k steps ahead for B (two
    // lines a step) and 8 for A. Single-thread, interleaved against the plain kernel in one process: 1024^3
    // +6-11%, the k >= 384 cleft-step shapes -3% to +18% over two runs (mostly gains); with k <= 256 the panel
    // stays in L1 and the prefetches only cost issue slots (-7% at k = 192), so short k blocks run the plain
    // loop (docs/PERFORMANCE.md, fifth round).
    const int PrefetchFromK = 256, PrefetchB = 1024, PrefetchA = 96;

    /// <summary>Whether the micro-kernel prefetches its packed streams (a type argument, so the JIT drops the unused branch).</summary>
    interface IStreams { static abstract bool Prefetch { get; } }
    struct CachedStreams : IStreams { public static bool Prefetch => false; }
    struct PrefetchedStreams : IStreams { public static bool Prefetch => true; }

    /// <summary>Full tile: C[0..MR, 0..NR] (row stride ldc) = acc + beta C, or = acc when beta is 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Kernel12x32<TStreams>(int kc, float* a, float* b, float* c, nint ldc, float beta, float* bias) where TStreams : struct, IStreams
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default,
            c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default,
            c90 = default, c91 = default, ca0 = default, ca1 = default, cb0 = default, cb1 = default;
        // Ask for the C tile now (24 cache lines) so its loads and stores after the k loop do not stall.
        if (Sse.IsSupported)
            for (int i = 0; i < 12; i++) { Sse.Prefetch0(c + i * ldc); Sse.Prefetch0(c + i * ldc + 16); }
        for (int k = 0; k < kc; k++)
        {
            if (TStreams.Prefetch)
            {
                Sse.Prefetch0(b + PrefetchB);
                Sse.Prefetch0(b + PrefetchB + 16);
                Sse.Prefetch0(a + PrefetchA);
            }
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]); c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]); c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a[6]); c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a[7]); c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
            x = Vector512.Create(a[8]); c80 = Vector512.FusedMultiplyAdd(x, b0, c80); c81 = Vector512.FusedMultiplyAdd(x, b1, c81);
            x = Vector512.Create(a[9]); c90 = Vector512.FusedMultiplyAdd(x, b0, c90); c91 = Vector512.FusedMultiplyAdd(x, b1, c91);
            x = Vector512.Create(a[10]); ca0 = Vector512.FusedMultiplyAdd(x, b0, ca0); ca1 = Vector512.FusedMultiplyAdd(x, b1, ca1);
            x = Vector512.Create(a[11]); cb0 = Vector512.FusedMultiplyAdd(x, b0, cb0); cb1 = Vector512.FusedMultiplyAdd(x, b1, cb1);
            a += 12;
            b += 32;
        }
        var bv = Vector512.Create(beta);
        bool over = beta == 0f;
        if (bias != null)
        {
            // C = acc + beta C, rounded, then + bias, rounded: exactly a GEMM followed by a bias add.
            Vector512<float> b0 = Vector512.Load(bias), b1 = Vector512.Load(bias + 16);
            PutBias(c, c00, c01, bv, over, b0, b1); c += ldc; PutBias(c, c10, c11, bv, over, b0, b1); c += ldc;
            PutBias(c, c20, c21, bv, over, b0, b1); c += ldc; PutBias(c, c30, c31, bv, over, b0, b1); c += ldc;
            PutBias(c, c40, c41, bv, over, b0, b1); c += ldc; PutBias(c, c50, c51, bv, over, b0, b1); c += ldc;
            PutBias(c, c60, c61, bv, over, b0, b1); c += ldc; PutBias(c, c70, c71, bv, over, b0, b1); c += ldc;
            PutBias(c, c80, c81, bv, over, b0, b1); c += ldc; PutBias(c, c90, c91, bv, over, b0, b1); c += ldc;
            PutBias(c, ca0, ca1, bv, over, b0, b1); c += ldc; PutBias(c, cb0, cb1, bv, over, b0, b1);
            return;
        }
        Put(c, c00, c01, bv, over); c += ldc;
        Put(c, c10, c11, bv, over); c += ldc;
        Put(c, c20, c21, bv, over); c += ldc;
        Put(c, c30, c31, bv, over); c += ldc;
        Put(c, c40, c41, bv, over); c += ldc;
        Put(c, c50, c51, bv, over); c += ldc;
        Put(c, c60, c61, bv, over); c += ldc;
        Put(c, c70, c71, bv, over); c += ldc;
        Put(c, c80, c81, bv, over); c += ldc;
        Put(c, c90, c91, bv, over); c += ldc;
        Put(c, ca0, ca1, bv, over); c += ldc;
        Put(c, cb0, cb1, bv, over);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PutBias(float* c, Vector512<float> lo, Vector512<float> hi, Vector512<float> beta, bool overwrite, Vector512<float> b0, Vector512<float> b1)
    {
        if (!overwrite)
        {
            lo = Vector512.FusedMultiplyAdd(beta, Vector512.Load(c), lo);
            hi = Vector512.FusedMultiplyAdd(beta, Vector512.Load(c + 16), hi);
        }
        Vector512.Store(lo + b0, c);
        Vector512.Store(hi + b1, c + 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Put(float* c, Vector512<float> lo, Vector512<float> hi, Vector512<float> beta, bool overwrite)
    {
        if (!overwrite)
        {
            lo = Vector512.FusedMultiplyAdd(beta, Vector512.Load(c), lo);
            hi = Vector512.FusedMultiplyAdd(beta, Vector512.Load(c + 16), hi);
        }
        Vector512.Store(lo, c);
        Vector512.Store(hi, c + 16);
    }

    /// <summary>AVX2 tile, same contract as <see cref="Kernel12x32{TStreams}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Kernel6x16(int kc, float* a, float* b, float* c, nint ldc, float beta)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
            c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int k = 0; k < kc; k++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var x = Vector256.Create(a[0]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[1]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
            a += 6;
            b += 16;
        }
        var bv = Vector256.Create(beta);
        bool over = beta == 0f;
        Put(c, c00, c01, bv, over); c += ldc;
        Put(c, c10, c11, bv, over); c += ldc;
        Put(c, c20, c21, bv, over); c += ldc;
        Put(c, c30, c31, bv, over); c += ldc;
        Put(c, c40, c41, bv, over); c += ldc;
        Put(c, c50, c51, bv, over);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Put(float* c, Vector256<float> lo, Vector256<float> hi, Vector256<float> beta, bool overwrite)
    {
        if (!overwrite)
        {
            lo = Vector256.FusedMultiplyAdd(beta, Vector256.Load(c), lo);
            hi = Vector256.FusedMultiplyAdd(beta, Vector256.Load(c + 8), hi);
        }
        Vector256.Store(lo, c);
        Vector256.Store(hi, c + 8);
    }

    /// <summary>
    /// One MR x NR tile at C, of which only mr x nr is real (edge of the matrix): full tiles go straight to
    /// C; edge tiles run the same kernel into a scratch tile and copy the real part with the same fma. A bias (non-null
    /// on the last k block of a biased GEMM) is added after that, rounded separately. The AVX2 kernel has no bias
    /// store, so there every tile takes the copy route.
    /// </summary>
    static void Tile(int kc, float* a, float* b, float* c, nint ldc, int mr, int nr, float beta, float* bias)
    {
        if (mr == MR && nr == NR && (Wide || bias == null))
        {
            if (!Wide) Kernel6x16(kc, a, b, c, ldc, beta);
            else if (kc > PrefetchFromK) Kernel12x32<PrefetchedStreams>(kc, a, b, c, ldc, beta, bias);
            else Kernel12x32<CachedStreams>(kc, a, b, c, ldc, beta, bias);
            return;
        }
        float* t = stackalloc float[12 * 32];
        if (Wide) Kernel12x32<CachedStreams>(kc, a, b, t, NR, 0f, null);
        else Kernel6x16(kc, a, b, t, NR, 0f);
        for (int i = 0; i < mr; i++)
        {
            float* ci = c + i * ldc, ti = t + i * NR;
            if (beta == 0f) for (int j = 0; j < nr; j++) ci[j] = ti[j];
            else for (int j = 0; j < nr; j++) ci[j] = MathF.FusedMultiplyAdd(beta, ci[j], ti[j]);
            if (bias != null) for (int j = 0; j < nr; j++) ci[j] += bias[j];
        }
    }
}
