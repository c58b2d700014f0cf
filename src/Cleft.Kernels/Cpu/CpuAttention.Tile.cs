using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Cleft.Kernels.Cpu;

/// <summary>
/// The one matrix micro-kernel the attention tiles are built from. Every product in the forward and backward
/// pass (S = Q K^T, O += P V, dP = dO V^T, dV += P^T dO, dK += dS^T Q, dQ += dS K) is
/// C[m x 16 nVec] (+)= A[m x k] B[k x 16 nVec] with B row-major and A read through strides, so the
/// transposed operands (P^T, dS^T) need no copy. Tiles are zero-padded to whole vectors beforehand, so the
/// kernel has no column tails; m is a multiple of 4.
/// </summary>
static unsafe class AttentionTile
{
    public const int W = 16; // floats per Vector512

    /// <summary>A(r, p) = a[r * ars + p * acs]; B row p starts at b + p * ldb; C row r at c + r * ldc.</summary>
    public static void Mac(float* a, int ars, int acs, float* b, int ldb, float* c, int ldc, int m, int k, int nVec, bool accumulate)
    {
        for (int r = 0; r < m; r += 4)
        {
            float* ar = a + (long)r * ars, cr = c + (long)r * ldc;
            int v = 0;
            for (; v + 4 <= nVec; v += 4) Block4x4(ar, ars, acs, b + v * W, ldb, cr + v * W, ldc, k, accumulate);
            for (; v < nVec; v++) Block4x1(ar, ars, acs, b + v * W, ldb, cr + v * W, ldc, k, accumulate);
        }
    }

    // 4 rows x 4 vectors: 16 accumulators + 4 B vectors + 1 broadcast stay in the 32 zmm registers.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Block4x4(float* a, int ars, int acs, float* b, int ldb, float* c, int ldc, int k, bool acc)
    {
        Vector512<float> c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33;
        if (acc)
        {
            c00 = Ld(c, 0); c01 = Ld(c, 1); c02 = Ld(c, 2); c03 = Ld(c, 3);
            c10 = Ld(c + ldc, 0); c11 = Ld(c + ldc, 1); c12 = Ld(c + ldc, 2); c13 = Ld(c + ldc, 3);
            c20 = Ld(c + 2 * ldc, 0); c21 = Ld(c + 2 * ldc, 1); c22 = Ld(c + 2 * ldc, 2); c23 = Ld(c + 2 * ldc, 3);
            c30 = Ld(c + 3 * ldc, 0); c31 = Ld(c + 3 * ldc, 1); c32 = Ld(c + 3 * ldc, 2); c33 = Ld(c + 3 * ldc, 3);
        }
        else
        {
            c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = Vector512<float>.Zero;
            c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = Vector512<float>.Zero;
        }
        float* a0 = a, a1 = a + ars, a2 = a + 2 * ars, a3 = a + 3 * ars;
        for (int p = 0; p < k; p++)
        {
            float* bp = b + (long)p * ldb;
            var b0 = Ld(bp, 0); var b1 = Ld(bp, 1); var b2 = Ld(bp, 2); var b3 = Ld(bp, 3);
            long o = (long)p * acs;
            var x = Vector512.Create(a0[o]);
            c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            c02 = Vector512.FusedMultiplyAdd(x, b2, c02); c03 = Vector512.FusedMultiplyAdd(x, b3, c03);
            x = Vector512.Create(a1[o]);
            c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            c12 = Vector512.FusedMultiplyAdd(x, b2, c12); c13 = Vector512.FusedMultiplyAdd(x, b3, c13);
            x = Vector512.Create(a2[o]);
            c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            c22 = Vector512.FusedMultiplyAdd(x, b2, c22); c23 = Vector512.FusedMultiplyAdd(x, b3, c23);
            x = Vector512.Create(a3[o]);
            c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            c32 = Vector512.FusedMultiplyAdd(x, b2, c32); c33 = Vector512.FusedMultiplyAdd(x, b3, c33);
        }
        St(c, 0, c00); St(c, 1, c01); St(c, 2, c02); St(c, 3, c03);
        St(c + ldc, 0, c10); St(c + ldc, 1, c11); St(c + ldc, 2, c12); St(c + ldc, 3, c13);
        St(c + 2 * ldc, 0, c20); St(c + 2 * ldc, 1, c21); St(c + 2 * ldc, 2, c22); St(c + 2 * ldc, 3, c23);
        St(c + 3 * ldc, 0, c30); St(c + 3 * ldc, 1, c31); St(c + 3 * ldc, 2, c32); St(c + 3 * ldc, 3, c33);
    }

    // Column tail of the 4x4 block (D = 24 -> 2 vectors, D = 80 -> 4 + 1).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Block4x1(float* a, int ars, int acs, float* b, int ldb, float* c, int ldc, int k, bool acc)
    {
        Vector512<float> c0, c1, c2, c3;
        if (acc) { c0 = Ld(c, 0); c1 = Ld(c + ldc, 0); c2 = Ld(c + 2 * ldc, 0); c3 = Ld(c + 3 * ldc, 0); }
        else c0 = c1 = c2 = c3 = Vector512<float>.Zero;
        float* a0 = a, a1 = a + ars, a2 = a + 2 * ars, a3 = a + 3 * ars;
        for (int p = 0; p < k; p++)
        {
            var bv = Ld(b + (long)p * ldb, 0);
            long o = (long)p * acs;
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a0[o]), bv, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a1[o]), bv, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a2[o]), bv, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a3[o]), bv, c3);
        }
        St(c, 0, c0); St(c + ldc, 0, c1); St(c + 2 * ldc, 0, c2); St(c + 3 * ldc, 0, c3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Ld(float* p, int v) => Vector512.Load(p + v * W);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void St(float* p, int v, Vector512<float> x) => x.Store(p + v * W);

    public static int RoundUp(int n, int m) => (n + m - 1) / m * m;

    /// <summary>
    /// One past the last key any query of batch row <paramref name="b"/> may see (T without a mask): key tiles at
    /// or beyond it are skipped. With right padding this cuts the work to the real tokens.
    /// </summary>
    public static int KeyEnd(ReadOnlySpan<int> mask, int b, in AttentionShape s)
    {
        if (!s.HasMask) return s.T;
        var row = mask.Slice(b * s.T, s.T);
        for (int j = s.T - 1; j >= 0; j--) if (row[j] != 0) return j + 1;
        return 0;
    }

    /// <summary>
    /// Sets P[i, j] (i &lt; rows, j &lt; width) to <paramref name="fill"/> for keys query q0 + i may not see: above the
    /// diagonal when causal, and masked keys. Columns from <paramref name="kn"/> on get it too (tile padding).
    /// The forward fills scores with -infinity (exp gives 0 and the running max ignores them), the backward
    /// fills probabilities with 0.
    /// </summary>
    public static void ApplyVisibility(float* p, int ldp, int rows, int width, int q0, int k0, int kn,
        ReadOnlySpan<int> maskRow, in AttentionShape s, float fill)
    {
        // The masked keys of this tile, found once (a vectorised search usually proves there are none): per-row
        // work is then only the causal edge and these columns, not a test of every (row, key) pair.
        Span<int> masked = stackalloc int[kn];
        int count = 0;
        if (s.HasMask && maskRow.Slice(k0, kn).Contains(0))
            for (int j = 0; j < kn; j++)
                if (maskRow[k0 + j] == 0) masked[count++] = j;
        for (int i = 0; i < rows; i++)
        {
            float* pi = p + (long)i * ldp;
            int limit = kn;
            if (s.Causal) limit = Math.Min(limit, Math.Max(0, q0 + i - k0 + 1));
            if (limit < width) new Span<float>(pi + limit, width - limit).Fill(fill);
            for (int c = 0; c < count && masked[c] < limit; c++) pi[masked[c]] = fill;
        }
    }
}
