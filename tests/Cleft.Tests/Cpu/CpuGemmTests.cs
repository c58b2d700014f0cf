using Cleft.Kernels;
using Cleft.Kernels.Cpu;

namespace Cleft.Tests.Cpu;

/// <summary>
/// The fast <see cref="CpuGemm.Multiply"/> against the float64 <see cref="CpuGemm.Reference"/> on random
/// non-zero data. Shapes cover both routes (direct small loops and the packed blocked path), ragged edges
/// of the 12x32 / 6x16 micro-tiles, and sizes straddling the k, m and n blocks (KC, MC, NC in CpuGemm.Blocked.cs),
/// with k blocks short and long enough for both micro-kernel loops (plain and prefetching).
/// </summary>
public class CpuGemmTests
{
    static float[] Random(long n, int seed)
    {
        var rng = new System.Random(seed);
        var x = new float[n];
        for (long i = 0; i < n; i++)
        {
            // Uniform in +-[0.1, 1]: non-zero, mixed signs, so a skipped or doubled term shows up.
            float v = (float)(0.1 + 0.9 * rng.NextDouble());
            x[i] = rng.Next(2) == 0 ? v : -v;
        }
        return x;
    }

    static void AssertClose(float[] expected, float[] actual, int k, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double tol = 1e-5 * Math.Sqrt(Math.Max(k, 1));
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], d = Math.Abs(e - actual[i]);
            if (!(d <= tol * (1 + Math.Abs(e))))
                Assert.Fail($"{what}: element {i} is {actual[i]}, reference {e} (|diff| {d:g3} > {tol * (1 + Math.Abs(e)):g3})");
        }
    }

    /// <summary>Runs both on copies of the same C and compares.</summary>
    static void Check(GemmShape s, long lenA, long lenB, long lenC, int seed)
    {
        var a = Random(lenA, seed);
        var b = Random(lenB, seed + 1);
        var c = Random(lenC, seed + 2);
        var expected = (float[])c.Clone();
        CpuGemm.Reference(a, b, expected, s);
        CpuGemm.Multiply(a, b, c, s);
        AssertClose(expected, c, s.K, s.ToString());
    }

    static void CheckContiguous(GemmShape s, int seed)
    {
        long lenA = s.StrideA == 0 ? (long)s.M * s.K : s.Batch * s.StrideA;
        long lenB = s.StrideB == 0 ? (long)s.K * s.N : s.Batch * s.StrideB;
        long lenC = s.StrideC == 0 ? (long)s.M * s.N : s.Batch * s.StrideC;
        Check(s, lenA, lenB, lenC, seed);
    }

    public static IEnumerable<object[]> Shapes()
    {
        int[][] shapes =
        [
            [1, 1, 1, 1], [1, 1, 1, 100], [1, 1, 300, 1], [1, 1, 77, 200], [1, 64, 3, 32], [3, 37, 29, 53],
            [1, 5, 40, 60], [1, 100, 7, 300], [1, 12, 32, 256], [1, 13, 33, 257], [1, 24, 64, 512],
            [1, 129, 65, 513], [1, 193, 97, 100], [1, 40, 257, 129], [1, 257, 129, 40], [2, 50, 45, 70],
            [1, 385, 31, 33], [1, 11, 4097, 20], [1, 37, 70, 1030], [1, 25, 40, 2100], [1, 200, 2100, 300], [1, 1100, 70, 1100],
        ];
        foreach (var sh in shapes)
            foreach (bool ta in new[] { false, true })
                foreach (bool tb in new[] { false, true })
                    yield return [sh[0], sh[1], sh[2], sh[3], ta, tb];
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MatchesReference(int batch, int m, int n, int k, bool transA, bool transB)
        => CheckContiguous(GemmShape.Contiguous(batch, m, n, k, transA, transB), batch * 1000 + m + n + k);

    /// <summary>
    /// The blocking the docs state (docs/PERFORMANCE.md, "How the GEMM gets there"): 12 x 32 tiles where AVX-512 runs,
    /// else 6 x 16; k block 512, row block 96, column block 2048 on both. The k and row blocks once read the
    /// instruction-set flag before it was initialised, so the source said one thing and every run used another.
    /// </summary>
    [Fact]
    public void BlockingIsTheDocumentedOne()
    {
        var want = System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? (12, 32, 512, 96, 2048) : (6, 16, 512, 96, 2048);
        Assert.Equal(want, CpuGemm.Blocking);
    }

    [Theory]
    [InlineData(20, 30, 40, false, false, false)]     // direct route
    [InlineData(517, 389, 2100, false, false, false)] // packed, edge tiles, several k blocks, both cores
    [InlineData(517, 389, 2100, false, true, false)]
    [InlineData(96, 64, 100, false, true, false)]     // packed, whole tiles, one k block
    [InlineData(1300, 70, 1100, true, false, false)]  // rows over one packed B, A stored [K,M]: one parallel loop per k block
    [InlineData(3, 5, 7, false, false, true)]         // fp16 B (MultiplyHalfB): packed whatever the size
    [InlineData(130, 150, 300, false, false, true)]
    [InlineData(20, 40, 1100, false, true, true)]
    public void BiasIsAddedWithTheBitsOfASeparateAdd(int m, int n, int k, bool transA, bool transB, bool halfB)
    {
        var a = Random((long)m * k, 61);
        var b = Random((long)k * n, 62);
        var half = HalfConvert.ToHalf(b);
        var bias = Random(n, 63);
        var s = GemmShape.Contiguous(1, m, n, k, transA, transB);
        void Gemm(float[] c, float[]? withBias)
        {
            if (halfB) CpuGemm.MultiplyHalfB(a, half, c, s, withBias);
            else CpuGemm.Multiply(a, b, c, s, withBias);
        }
        var fused = new float[m * n];
        Gemm(fused, bias);
        var separate = new float[m * n];
        Gemm(separate, null);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) separate[i * n + j] += bias[j];
        Assert.Equal(separate, fused);
    }

    [Fact]
    public void BiasNeedsASingleOverwritingGemm()
    {
        var e = Assert.Throws<ArgumentException>(() => CpuGemm.Multiply(new float[8], new float[8], new float[8],
            GemmShape.Contiguous(2, 2, 2, 1), new float[2]));
        Assert.Contains("bias needs batch 1", e.Message);
        e = Assert.Throws<ArgumentException>(() => CpuGemm.MultiplyHalfB(new float[4], new ILGPU.Half[4], new float[4],
            GemmShape.Contiguous(1, 2, 2, 2, beta: 1f), new float[2]));
        Assert.Contains("bias needs batch 1, beta 0", e.Message);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void AlphaBetaAccumulate(bool transA, bool transB)
    {
        CheckContiguous(GemmShape.Contiguous(3, 37, 29, 53, transA, transB, alpha: 0.75f, beta: -1.5f), 11);
        CheckContiguous(GemmShape.Contiguous(2, 130, 70, 300, transA, transB, alpha: -2f, beta: 1f), 12);
        CheckContiguous(GemmShape.Contiguous(1, 64, 3, 32, transA, transB, alpha: 0.5f, beta: 0.25f), 13);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public void BroadcastOperands(bool transA, bool transB)
    {
        // Stride 0: the same A (a shared weight) or the same B against each batch item.
        CheckContiguous(GemmShape.Contiguous(3, 37, 29, 53, transA, transB, broadcastA: true), 21);
        CheckContiguous(GemmShape.Contiguous(3, 37, 29, 53, transA, transB, broadcastB: true, beta: 0.5f), 22);
        CheckContiguous(GemmShape.Contiguous(4, 100, 90, 260, transA, transB, broadcastB: true), 23);
        CheckContiguous(GemmShape.Contiguous(5, 64, 64, 64, transA, transB, broadcastA: true, alpha: 1.5f), 24);
    }

    [Fact]
    public void PaddedStrides()
    {
        // Batch items further apart than their size (views into a bigger buffer).
        var s = new GemmShape(3, 40, 50, 60, false, true, StrideA: 40 * 60 + 7, StrideB: 50 * 60 + 3, StrideC: 40 * 50 + 11, Beta: 1f);
        Check(s, 3 * s.StrideA, 3 * s.StrideB, 3 * s.StrideC, 31);
    }

    [Theory]
    [InlineData(20, 30, 40)]
    [InlineData(150, 140, 300)]
    public void SharedOutputSumsOverBatch(int m, int n, int k)
    {
        // StrideC = 0 with beta = 1: each item adds into one C (a weight gradient summed over the batch).
        var s = new GemmShape(4, m, n, k, true, false, (long)m * k, (long)k * n, 0, Alpha: 1f, Beta: 1f);
        Check(s, 4L * m * k, 4L * k * n, (long)m * n, 41);
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(0.5f)]
    public void EmptyInnerDimensionScalesC(float beta)
    {
        var c = Random(2 * 6 * 5, 51);
        var expected = c.Select(v => beta * v).ToArray();
        CpuGemm.Multiply([], [], c, GemmShape.Contiguous(2, 6, 5, 0, beta: beta));
        Assert.Equal(expected, c);
    }

    [Theory]
    [InlineData(8, 8, 8)]
    [InlineData(100, 100, 100)]
    public void BetaZeroOverwritesNaN(int m, int n, int k)
    {
        var a = Random((long)m * k, 61);
        var b = Random((long)k * n, 62);
        var c = Enumerable.Repeat(float.NaN, m * n).ToArray();
        var expected = new float[m * n];
        var s = GemmShape.Contiguous(1, m, n, k);
        CpuGemm.Reference(a, b, expected, s);
        CpuGemm.Multiply(a, b, c, s);
        AssertClose(expected, c, k, "NaN in C with beta 0");
    }

    [Fact]
    public void TooShortOperandThrows()
    {
        var s = GemmShape.Contiguous(2, 4, 4, 4);
        Assert.Throws<ArgumentException>(() => CpuGemm.Multiply(new float[32], new float[31], new float[32], s));
    }

    [Theory]
    [InlineData(64, 3, 32, false)]    // direct path
    [InlineData(80, 70, 60, true)]    // packed path, one thread
    public void SteadyStateCallsDoNotAllocate(int m, int n, int k, bool transB)
    {
        var s = GemmShape.Contiguous(1, m, n, k, transB: transB, beta: 1f);
        var a = Random((long)m * k, 81);
        var b = Random((long)k * n, 82);
        var c = new float[m * n];
        for (int i = 0; i < 3; i++) CpuGemm.Multiply(a, b, c, s); // grows this thread's packing buffers
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++) CpuGemm.Multiply(a, b, c, s);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [InlineData(1, 517, 389, 611, false, false)]
    [InlineData(1, 517, 389, 611, true, true)]
    [InlineData(6, 129, 95, 260, false, true)]
    [InlineData(1, 700, 12, 900, false, false)]
    public void RepeatedRunsAreBitIdentical(int batch, int m, int n, int k, bool transA, bool transB)
    {
        // Big enough to run on several threads; results must not depend on scheduling.
        var s = GemmShape.Contiguous(batch, m, n, k, transA, transB, beta: 0.5f);
        var a = Random((long)batch * m * k, 71);
        var b = Random((long)batch * k * n, 72);
        var c0 = Random((long)batch * m * n, 73);
        var first = (float[])c0.Clone();
        CpuGemm.Multiply(a, b, first, s);
        for (int run = 0; run < 3; run++)
        {
            var again = (float[])c0.Clone();
            CpuGemm.Multiply(a, b, again, s);
            Assert.True(first.AsSpan().SequenceEqual(again), $"run {run + 2} differs from run 1");
        }
    }

    [Theory]
    [InlineData(1100, 70, 1100, false, false)] // rows split over one packed B, two k blocks, edge tiles
    [InlineData(1500, 100, 600, true, true)]
    [InlineData(1300, 70, 1100, true, false)]  // A stored [K,M]: the row blocks k block by k block, three of them
    [InlineData(2100, 40, 1030, false, true)]
    [InlineData(517, 389, 611, true, true)]      // split by columns
    public void RowBlocksMatchTheirOwnSerialGemmBitForBit(int m, int n, int k, bool transA, bool transB)
    {
        // Each C element must get the same arithmetic whichever thread, row block or B pack holds it: compare the
        // parallel GEMM's rows with small one-thread GEMMs of those rows alone.
        var s = GemmShape.Contiguous(1, m, n, k, transA, transB);
        var a = Random((long)m * k, 91);
        var b = Random((long)k * n, 92);
        var c = new float[(long)m * n];
        CpuGemm.Multiply(a, b, c, s);
        foreach (int r0 in new[] { 0, 12, m / 2 - 5, m - 7 })
        {
            int rows = Math.Min(7, m - r0);
            var part = new float[rows * k];
            for (int i = 0; i < rows; i++)
                for (int p = 0; p < k; p++) part[i * k + p] = transA ? a[(long)p * m + r0 + i] : a[(long)(r0 + i) * k + p];
            var cPart = new float[rows * n];
            CpuGemm.Multiply(part, b, cPart, GemmShape.Contiguous(1, rows, n, k, false, transB));
            Assert.True(c.AsSpan(r0 * n, rows * n).SequenceEqual(cPart), $"rows {r0}..{r0 + rows} differ from their own GEMM");
        }
    }
}
