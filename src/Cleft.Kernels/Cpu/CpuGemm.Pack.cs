using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

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
        for (int ir = 0; ir < mc; ir += mr, dst += (nint)mr * kc)
        {
            int rows = Math.Min(mr, mc - ir);
            if (trans)
            {
                // Stored [K,M]: each step k is a contiguous run of `rows` floats.
                float* src = a + (nint)p0 * lda + i0 + ir;
                for (int k = 0; k < kc; k++, src += lda)
                {
                    float* d = dst + (nint)k * mr;
                    int i = 0;
                    for (; i < rows; i++) d[i] = alpha * src[i];
                    for (; i < mr; i++) d[i] = 0f;
                }
            }
            else
            {
                // Stored [M,K]: each row is contiguous in k; interleave `rows` rows step by step.
                for (int i = 0; i < mr; i++)
                {
                    float* d = dst + i;
                    if (i >= rows) { for (int k = 0; k < kc; k++) d[(nint)k * mr] = 0f; continue; }
                    float* src = a + (nint)(i0 + ir + i) * lda + p0;
                    for (int k = 0; k < kc; k++) d[(nint)k * mr] = alpha * src[k];
                }
            }
        }
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
            else
            {
                // Stored [N,K]: each column j of op(B) is a contiguous row; scatter it with stride NR.
                for (int j = 0; j < nr; j++)
                {
                    float* d = d0 + j;
                    if (j >= cols) { for (int k = 0; k < kc; k++) d[(nint)k * nr] = 0f; continue; }
                    TB* src = b + (nint)(j0 + jr + j) * ldb + p0;
                    for (int k = 0; k < kc; k++) d[(nint)k * nr] = Widen(src[k]);
                }
            }
        }
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
}
