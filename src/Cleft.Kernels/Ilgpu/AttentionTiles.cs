using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;

namespace Cleft.Kernels.Ilgpu;

/// <summary>Kernel-side copy of <see cref="AttentionShape"/>: ints only, so it passes to a kernel as plain fields.</summary>
public struct AttentionArgs
{
    public int Batch, Heads, T, D, Causal, HasMask;
    public float Scale;

    public static AttentionArgs From(in AttentionShape s) => new()
    {
        Batch = s.Batch, Heads = s.Heads, T = s.T, D = s.D, Scale = s.Scale, Causal = s.Causal ? 1 : 0, HasMask = s.HasMask ? 1 : 0,
    };
}

/// <summary>
/// Eight per-thread output columns d = tx + 16 k (k &lt; 8) of one row: with 16 threads per row this covers
/// D &lt;= 128 (GPT-2 heads are 64, BioMedLM's 128) in 8 registers, independent of D. A struct passed by
/// value (not by ref) so ILGPU keeps the fields in registers.
/// </summary>
public struct Acc8
{
    public float A0, A1, A2, A3, A4, A5, A6, A7;

    /// <summary>acc += p * tile[off + tx + 16 k] for the first <paramref name="slots"/> k (uniform over the group).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Acc8 Fma(Acc8 a, float p, ArrayView<float> tile, int off, int slots)
    {
        a.A0 += p * tile[off];
        if (slots > 1) a.A1 += p * tile[off + 16];
        if (slots > 2) a.A2 += p * tile[off + 32];
        if (slots > 3) a.A3 += p * tile[off + 48];
        if (slots > 4) a.A4 += p * tile[off + 64];
        if (slots > 5) a.A5 += p * tile[off + 80];
        if (slots > 6) a.A6 += p * tile[off + 96];
        if (slots > 7) a.A7 += p * tile[off + 112];
        return a;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Acc8 Scale(Acc8 a, float f)
    {
        a.A0 *= f; a.A1 *= f; a.A2 *= f; a.A3 *= f; a.A4 *= f; a.A5 *= f; a.A6 *= f; a.A7 *= f;
        return a;
    }

    /// <summary>dst[off + tx + 16 k] = f * acc_k for the columns below D.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Acc8 a, float f, ArrayView<float> dst, long off, int tx, int d)
    {
        if (tx < d) dst[off + tx] = f * a.A0;
        if (tx + 16 < d) dst[off + tx + 16] = f * a.A1;
        if (tx + 32 < d) dst[off + tx + 32] = f * a.A2;
        if (tx + 48 < d) dst[off + tx + 48] = f * a.A3;
        if (tx + 64 < d) dst[off + tx + 64] = f * a.A4;
        if (tx + 80 < d) dst[off + tx + 80] = f * a.A5;
        if (tx + 96 < d) dst[off + tx + 96] = f * a.A6;
        if (tx + 112 < d) dst[off + tx + 112] = f * a.A7;
    }
}

/// <summary>
/// Tile logic shared by the three attention kernels: 16 x 16 tiles (one thread per score, 256 threads per
/// group), rows of up to <see cref="MaxD"/> floats in shared memory with a padded stride so the 16 threads
/// reading 16 different rows hit 16 different banks.
/// </summary>
public static class AttentionTiles
{
    public const int Tile = 16, Threads = Tile * Tile, MaxD = 128, Stride = MaxD + 1, TileFloats = Tile * Stride;

    /// <summary>Loads rows r0 .. r0+15 of one head's [T, D] matrix into a shared tile; rows at or past T become 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Load(ArrayView<float> src, long head, int r0, int t, int d, ArrayView<float> tile, int tid)
    {
        for (int e = tid; e < Tile * d; e += Threads)
        {
            int r = e / d, c = e - r * d;
            tile[r * Stride + c] = r0 + r < t ? src[head + (long)(r0 + r) * d + c] : 0f;
        }
    }

    /// <summary>Dot product of two shared rows over D, four independent partial sums (ILGPU does not unroll).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(ArrayView<float> a, int ao, ArrayView<float> b, int bo, int d)
    {
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
        int i = 0;
        for (; i + 4 <= d; i += 4)
        {
            s0 += a[ao + i] * b[bo + i];
            s1 += a[ao + i + 1] * b[bo + i + 1];
            s2 += a[ao + i + 2] * b[bo + i + 2];
            s3 += a[ao + i + 3] * b[bo + i + 3];
        }
        for (; i < d; i++) s0 += a[ao + i] * b[bo + i];
        return (s0 + s1) + (s2 + s3);
    }

    /// <summary>Whether query i may see key j (both absolute; j past T never).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Visible(in AttentionArgs a, ArrayView<int> mask, int b, int i, int j) =>
        j < a.T && (a.Causal == 0 || j <= i) && (a.HasMask == 0 || mask[b * a.T + j] != 0);

    /// <summary>Output columns per thread in use: ceil(D / 16), the same for every thread of a launch.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Slots(int d) => (d + Tile - 1) / Tile;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Exp(float x) => XMath.Exp(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Log(float x) => XMath.Log(x);
}
