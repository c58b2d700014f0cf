namespace Cleft.Kernels;

/// <summary>
/// How a smaller operand b lines up with a larger one of <c>n</c> elements: element i of the large operand
/// pairs with <c>b[(i / Divisor) % Modulus]</c>. One rule covers every broadcast the engine needs:
/// same shape (1, n), a bias or row vector of length L over [.., L] (1, L), a per-row value of [R, C]
/// ((C, R)), and a scalar (1, 1). Reductions run the same map backwards (sum over each preimage).
/// </summary>
public readonly record struct Broadcast(long Divisor, long Modulus)
{
    public static Broadcast Same(long n) => new(1, n);
    public static Broadcast Row(long rowLength) => new(1, rowLength);
    public static Broadcast PerRow(long rows, long cols) => new(cols, rows);
    public static Broadcast Scalar => new(1, 1);

    /// <summary>Length of the small operand.</summary>
    public long SmallLength => Modulus;

    public bool IsIdentity(long n) => Divisor == 1 && Modulus == n;

    public void Validate(long n, string op)
    {
        if (Divisor <= 0 || Modulus <= 0)
            throw new ArgumentException($"{op}: broadcast divisor {Divisor} and modulus {Modulus} must be positive");
        if (n % (Divisor * Modulus) != 0)
            throw new ArgumentException($"{op}: {n} elements are not a whole number of broadcast periods ({Divisor} x {Modulus})");
    }
}

public enum BinaryOp { Add, Sub, Mul, Div }

/// <summary>
/// A permutation of up to <see cref="MaxRank"/> axes as a kernel argument: a fixed-size value type, because
/// kernels take neither arrays nor references. Output axis k is input axis <c>Perm(k)</c>.
/// </summary>
public struct PermuteArgs
{
    public const int MaxRank = 6;
    public int Rank;
    // Output shape and, for each output axis, the input stride it walks; unused axes are size 1, stride 0.
    public int O0, O1, O2, O3, O4, O5;
    public long S0, S1, S2, S3, S4, S5;

    public static PermuteArgs Create(ReadOnlySpan<int> inputShape, ReadOnlySpan<int> perm)
    {
        int rank = inputShape.Length;
        if (rank > MaxRank) throw new ArgumentException($"permute supports up to {MaxRank} axes, got {rank}");
        if (perm.Length != rank) throw new ArgumentException($"permutation has {perm.Length} axes for a rank-{rank} tensor");
        Span<long> inStride = stackalloc long[rank];
        long s = 1;
        for (int i = rank - 1; i >= 0; i--) { inStride[i] = s; s *= inputShape[i]; }
        Span<int> outShape = stackalloc int[MaxRank];
        Span<long> walk = stackalloc long[MaxRank];
        // Left-pad with unit axes so the kernel always iterates six axes.
        int pad = MaxRank - rank;
        for (int k = 0; k < MaxRank; k++) { outShape[k] = 1; walk[k] = 0; }
        Span<bool> seen = stackalloc bool[rank];
        for (int k = 0; k < rank; k++)
        {
            int p = perm[k];
            if (p < 0 || p >= rank || seen[p]) throw new ArgumentException($"[{string.Join(",", perm.ToArray())}] is not a permutation of {rank} axes");
            seen[p] = true;
            outShape[pad + k] = inputShape[p];
            walk[pad + k] = inStride[p];
        }
        return new PermuteArgs
        {
            Rank = rank,
            O0 = outShape[0], O1 = outShape[1], O2 = outShape[2], O3 = outShape[3], O4 = outShape[4], O5 = outShape[5],
            S0 = walk[0], S1 = walk[1], S2 = walk[2], S3 = walk[3], S4 = walk[4], S5 = walk[5],
        };
    }

    /// <summary>Input offset of output element <paramref name="i"/> (row-major over the padded output shape).</summary>
    public readonly long SourceIndex(long i)
    {
        long r = i, src = 0;
        long c5 = r % O5; r /= O5; src += c5 * S5;
        long c4 = r % O4; r /= O4; src += c4 * S4;
        long c3 = r % O3; r /= O3; src += c3 * S3;
        long c2 = r % O2; r /= O2; src += c2 * S2;
        long c1 = r % O1; r /= O1; src += c1 * S1;
        src += r * S0;
        return src;
    }
}

/// <summary>Arguments of a strided batched GEMM: C[b] = alpha * op(A[b]) op(B[b]) + beta * C[b], all row-major.</summary>
public readonly record struct GemmShape(
    int Batch, int M, int N, int K, bool TransA, bool TransB,
    long StrideA, long StrideB, long StrideC, float Alpha = 1f, float Beta = 0f)
{
    /// <summary>Leading dimension of A as stored: [M,K] row-major, or [K,M] when transposed.</summary>
    public int Lda => TransA ? M : K;
    public int Ldb => TransB ? K : N;
    public int Ldc => N;
    public double Flops => 2.0 * Batch * M * N * K;

    /// <summary>A packed batch of contiguous matrices (stride 0 on an operand broadcasts it across the batch).</summary>
    public static GemmShape Contiguous(int batch, int m, int n, int k, bool transA = false, bool transB = false,
        bool broadcastA = false, bool broadcastB = false, float alpha = 1f, float beta = 0f)
        => new(batch, m, n, k, transA, transB, broadcastA ? 0 : (long)m * k, broadcastB ? 0 : (long)k * n, (long)m * n, alpha, beta);
}
