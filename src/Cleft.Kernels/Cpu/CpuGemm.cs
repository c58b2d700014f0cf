namespace Cleft.Kernels.Cpu;

/// <summary>
/// fp32 GEMM on the host cores. <see cref="Multiply"/> picks one of two routes by shape alone:
/// <list type="bullet">
/// <item>tiny or skinny problems (a few rows or columns, or under ~32^3 multiply-adds) go to the direct
/// row-wise loops in CpuGemm.Small.cs, where packing and thread hand-off would cost more than the math;</item>
/// <item>everything else goes to the packed, cache-blocked GotoBLAS/BLIS-style path in CpuGemm.Blocked.cs
/// (packing in CpuGemm.Pack.cs, register-blocked micro-kernels in CpuGemm.MicroKernel.cs).</item>
/// </list>
/// Determinism: in both routes every output element is accumulated by one thread, in a fixed order over k
/// that depends only on the shape, never on how work is split among threads. Same inputs give
/// bit-identical outputs run to run (and for any core count on one machine).
/// </summary>
public static partial class CpuGemm
{
    // Below this many multiply-adds per problem, the direct loops beat packing (measured: ~32^3).
    const long SmallMacs = 32 * 32 * 32;

    /// <summary>C[b] = alpha op(A[b]) op(B[b]) + beta C[b] over the batch (row-major; stride 0 broadcasts).</summary>
    /// <remarks>
    /// beta = 0 overwrites C (NaNs already in C do not leak through); K = 0 or alpha = 0 gives C = beta C.
    /// If C blocks of different batch items overlap (StrideC smaller than M*N, e.g. 0 to sum a weight
    /// gradient over the batch with beta = 1), the items run one after another, as in <see cref="Reference"/>.
    /// </remarks>
    /// <param name="bias">
    /// Optional, single GEMMs only (batch 1, beta 0): then C[i, j] += bias[j] after the product, rounded exactly as a
    /// separate add would be. The packed route adds it as the last k block stores its tile, so C is not read again.
    /// </param>
    public static void Multiply(float[] a, float[] b, float[] c, in GemmShape s, float[]? bias = null)
    {
        Validate(a, b, c, s);
        ValidateBias(bias, s);
        if (s.Batch == 0 || s.M == 0 || s.N == 0) return;
        CpuWork.AddGemm(s);
        long macs = (long)s.M * s.N * s.K;
        if (s.K == 0 || s.Alpha == 0f) ScaleOnly(c, s);
        else if (!PackedAvailable || macs <= SmallMacs || s.N < 8 || s.M < 4) MultiplySmall(a, b, c, s);
        else { MultiplyBlocked(a, b, c, s, bias); return; }
        AddBias(c, s, bias);
    }

    static void ValidateBias(float[]? bias, in GemmShape s)
    {
        if (bias is not null && (s.Batch != 1 || s.Beta != 0f || bias.Length < s.N))
            throw new ArgumentException($"gemm: a bias needs batch 1, beta 0 and {s.N} values; got batch {s.Batch}, beta {s.Beta}, {bias.Length} values");
    }

    /// <summary>The routes that do not store the bias with C: a separate add over C's rows.</summary>
    static void AddBias(float[] c, in GemmShape s, float[]? bias)
    {
        if (bias is null) return;
        for (int i = 0; i < s.M; i++)
        {
            var row = c.AsSpan(i * s.N, s.N);
            System.Numerics.Tensors.TensorPrimitives.Add(row, bias.AsSpan(0, s.N), row);
        }
    }

    /// <summary>True when C blocks of consecutive batch items share elements, so items must run in order.</summary>
    static bool COverlaps(in GemmShape s) => s.Batch > 1 && s.StrideC < (long)s.M * s.N;

    // The fast paths index through raw pointers, so the shape is checked against the arrays up front.
    static void Validate<TB>(float[] a, TB[] b, float[] c, in GemmShape s) where TB : unmanaged
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(c);
        if (s.Batch < 0 || s.M < 0 || s.N < 0 || s.K < 0)
            throw new ArgumentException($"gemm: negative size in {s}");
        if (s.StrideA < 0 || s.StrideB < 0 || s.StrideC < 0)
            throw new ArgumentException($"gemm: negative stride in {s}");
        if (s.Batch == 0 || s.M == 0 || s.N == 0) return;
        long last = s.Batch - 1;
        Need(c, last * s.StrideC + (long)s.M * s.N, "C");
        if (s.K == 0) return;
        Need(a, last * s.StrideA + (long)s.M * s.K, "A");
        Need(b, last * s.StrideB + (long)s.K * s.N, "B");

        static void Need<T>(T[] x, long n, string name)
        {
            if (x.LongLength < n) throw new ArgumentException($"gemm: {name} needs {n} elements, has {x.LongLength}");
        }
    }

    // C = beta C: the whole result when there is nothing to multiply.
    static void ScaleOnly(float[] c, in GemmShape s)
    {
        for (int bt = 0; bt < s.Batch; bt++)
        {
            var cb = c.AsSpan((int)(bt * s.StrideC), s.M * s.N);
            if (s.Beta == 0f) cb.Clear();
            else if (s.Beta != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(cb, s.Beta, cb);
        }
    }
}
