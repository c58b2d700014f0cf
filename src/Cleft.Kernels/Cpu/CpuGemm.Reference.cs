namespace Cleft.Kernels.Cpu;

/// <summary>
/// The plain GEMM every fast version is checked against: one dot product per output, accumulated in
/// float64 so it doubles as the reference in tests. Slow on purpose; never on the training path.
/// </summary>
public static partial class CpuGemm
{
    public static void Reference(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> c, in GemmShape s)
    {
        for (int bt = 0; bt < s.Batch; bt++)
        {
            long oa = bt * s.StrideA, ob = bt * s.StrideB, oc = bt * s.StrideC;
            for (int i = 0; i < s.M; i++)
                for (int j = 0; j < s.N; j++)
                {
                    double acc = 0;
                    for (int p = 0; p < s.K; p++)
                    {
                        float av = s.TransA ? a[(int)(oa + (long)p * s.M + i)] : a[(int)(oa + (long)i * s.K + p)];
                        float bv = s.TransB ? b[(int)(ob + (long)j * s.K + p)] : b[(int)(ob + (long)p * s.N + j)];
                        acc += (double)av * bv;
                    }
                    int ci = (int)(oc + (long)i * s.N + j);
                    c[ci] = (float)(s.Alpha * acc + (s.Beta == 0f ? 0.0 : (double)s.Beta * c[ci]));
                }
        }
    }
}
