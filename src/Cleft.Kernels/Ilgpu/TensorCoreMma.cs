using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;

namespace Cleft.Kernels.Ilgpu;

/// <summary>One m16n8 accumulator fragment: D0, D1 at (groupID, 2 tig + {0,1}), D2, D3 eight rows lower.</summary>
struct MmaAcc
{
    public float D0, D1, D2, D3;
}

/// <summary>
/// The tensor-core instruction every mma kernel shares (GEMM, attention): mma.sync m16n8k16 bf16 with fp32
/// accumulate through ILGPU inline PTX on CUDA, and an exact C# emulation of the PTX ISA's fragment layout
/// elsewhere, so a kernel built on it runs end to end on ILGPU's CPU accelerator (docs/TENSOR_CORES.md).
/// </summary>
static class TensorCoreMma
{
    public const int WarpLanes = 32;
    /// <summary>Emulation only: one MMA's fragment registers (4 of A, 2 of B) of every lane of a warp.</summary>
    public const int FragmentRegs = 6, FragmentWords = FragmentRegs * WarpLanes;

    /// <summary>
    /// D += A B for one m16n8k16 tile. A fragment: a0 = A[g][2t, 2t+1], a1 = A[g+8][2t, 2t+1], a2 = A[g][2t+8, 2t+9],
    /// a3 = A[g+8][2t+8, 2t+9]; B fragment: b0 = B[2t, 2t+1][g], b1 = B[2t+8, 2t+9][g] (PTX ISA, "Matrix Fragments
    /// for mma.m16n8k16 with floating point type"). Every lane of the warp must call it (it is a warp collective).
    /// <paramref name="fragments"/> is the warp's scratch for the emulation (unused on CUDA).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void M16N8K16(ref MmaAcc d, uint a0, uint a1, uint a2, uint a3, uint b0, uint b1, int g, int t, int lane, ArrayView<uint> fragments)
    {
        if (CudaAsm.IsSupported)
        {
            Ref<float> d0 = d.D0, d1 = d.D1, d2 = d.D2, d3 = d.D3;
            Input<uint> ia0 = a0, ia1 = a1, ia2 = a2, ia3 = a3, ib0 = b0, ib1 = b1;
            CudaAsm.EmitRef(
                "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};",
                ref d0, ref d1, ref d2, ref d3, ref ia0, ref ia1, ref ia2, ref ia3, ref ib0, ref ib1);
            d.D0 = d0.Value; d.D1 = d1.Value; d.D2 = d2.Value; d.D3 = d3.Value;
        }
        else
        {
            Emulate(ref d, a0, a1, a2, a3, b0, b1, g, t, lane, fragments);
        }
    }

    /// <summary>
    /// The exact emulation: every lane publishes its six fragment registers (register r of lane l at r * 32 + l),
    /// then reads back the ones holding its outputs' rows and columns. k pair q (0..7) of row r is register
    /// (r &lt; 8 ? 0 : 1) + (q &lt; 4 ? 0 : 2) of lane (r % 8) * 4 + q % 4; k pair q of column j is register
    /// 4 + (q &lt; 4 ? 0 : 1) of lane j * 4 + q % 4. This lane owns rows g, g + 8 and columns 2t, 2t + 1; sums run
    /// in k order, in fp32 (bf16 x bf16 products are exact in fp32).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Emulate(ref MmaAcc d, uint a0, uint a1, uint a2, uint a3, uint b0, uint b1, int g, int t, int lane, ArrayView<uint> fragments)
    {
        fragments[0 * WarpLanes + lane] = a0; fragments[1 * WarpLanes + lane] = a1;
        fragments[2 * WarpLanes + lane] = a2; fragments[3 * WarpLanes + lane] = a3;
        fragments[4 * WarpLanes + lane] = b0; fragments[5 * WarpLanes + lane] = b1;
        Warp.Barrier();
        for (int q = 0; q < 8; q++)
        {
            int half = q >> 2, quad = q & 3;
            uint rowG = fragments[2 * half * WarpLanes + g * 4 + quad];
            uint rowG8 = fragments[(2 * half + 1) * WarpLanes + g * 4 + quad];
            uint col0 = fragments[(4 + half) * WarpLanes + 2 * t * 4 + quad];
            uint col1 = fragments[(4 + half) * WarpLanes + (2 * t + 1) * 4 + quad];
            d.D0 += Bf16.Low(rowG) * Bf16.Low(col0); d.D0 += Bf16.High(rowG) * Bf16.High(col0);
            d.D1 += Bf16.Low(rowG) * Bf16.Low(col1); d.D1 += Bf16.High(rowG) * Bf16.High(col1);
            d.D2 += Bf16.Low(rowG8) * Bf16.Low(col0); d.D2 += Bf16.High(rowG8) * Bf16.High(col0);
            d.D3 += Bf16.Low(rowG8) * Bf16.Low(col1); d.D3 += Bf16.High(rowG8) * Bf16.High(col1);
        }
        // The next MMA overwrites the scratch: the whole warp must be done reading it.
        Warp.Barrier();
    }

}
