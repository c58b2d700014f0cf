using System.Runtime.CompilerServices;
using Half = ILGPU.Half;

namespace Cleft.Kernels.Cpu;

/// <summary>
/// GEMM with an fp16 B operand (a frozen weight stored at half size). The packed path is the fp32 one: B is
/// widened to fp32 while it is packed (PackB&lt;Half&gt;), so the micro-kernels, blocking and thread split are
/// shared and the result equals an fp32 GEMM on the widened weight bit for bit.
/// </summary>
public static unsafe partial class CpuGemm
{
    /// <summary>
    /// C[b] = alpha op(A[b]) op(B[b]) + beta C[b] with B stored as fp16, and the optional bias of a single GEMM; see
    /// <see cref="Multiply"/>.
    /// </summary>
    public static void MultiplyHalfB(float[] a, Half[] b, float[] c, in GemmShape s, float[]? bias = null)
    {
        Validate(a, b, c, s);
        ValidateBias(bias, s);
        if (s.Batch == 0 || s.M == 0 || s.N == 0) return;
        CpuWork.AddGemm(s);
        // Packing pays even for small problems here (it is where the widening happens once per element), so
        // every shape takes the blocked route when the micro-kernels exist.
        if (s.K == 0 || s.Alpha == 0f) ScaleOnly(c, s);
        else if (PackedAvailable) { MultiplyBlocked(a, b, c, s, bias); return; }
        else HalfBFallback(a, b, c, s);
        AddBias(c, s, bias);
    }

    /// <summary>fp16 -&gt; fp32 for one packed element; the typeof test folds away in each instantiation.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Widen<TB>(TB v) where TB : unmanaged
        => typeof(TB) == typeof(float) ? Unsafe.As<TB, float>(ref v) : (float)Unsafe.As<TB, System.Half>(ref v);

    /// <summary>A contiguous run of fp16 widened with TensorPrimitives (vectorised).</summary>
    static void WidenRun<TB>(TB* src, float* dst, int n) where TB : unmanaged
        => HalfConvert.ToSingle(new ReadOnlySpan<Half>(src, n), new Span<float>(dst, n));

    /// <summary>Machines without 256-bit FMA: the definition, one output at a time, k in order.</summary>
    static void HalfBFallback(float[] a, Half[] b, float[] c, in GemmShape s)
    {
        for (int bt = 0; bt < s.Batch; bt++)
        {
            long oa = bt * s.StrideA, ob = bt * s.StrideB, oc = bt * s.StrideC;
            for (int i = 0; i < s.M; i++)
                for (int j = 0; j < s.N; j++)
                {
                    float acc = 0f;
                    for (int p = 0; p < s.K; p++)
                    {
                        float av = s.TransA ? a[oa + (long)p * s.M + i] : a[oa + (long)i * s.K + p];
                        float bv = s.TransB ? b[ob + (long)j * s.K + p] : b[ob + (long)p * s.N + j];
                        acc = MathF.FusedMultiplyAdd(av, bv, acc);
                    }
                    long at = oc + (long)i * s.N + j;
                    c[at] = s.Beta == 0f ? s.Alpha * acc : s.Alpha * acc + s.Beta * c[at];
                }
        }
    }
}
