using ILGPU;
using ILGPU.Runtime;
using AttentionForwardLauncher = System.Action<ILGPU.KernelConfig, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<int>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, Cleft.Kernels.Ilgpu.AttentionArgs>;
using AttentionDeltaLauncher = System.Action<ILGPU.Index1D, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, int>;
using AttentionKeyValueLauncher = System.Action<ILGPU.KernelConfig, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<int>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    Cleft.Kernels.Ilgpu.AttentionArgs>;
using AttentionQueryLauncher = System.Action<ILGPU.KernelConfig, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<int>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, Cleft.Kernels.Ilgpu.AttentionArgs>;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Launch shape and order of the tensor-core attention kernels (TensorCoreAttention.cs). They take the fp32 kernels'
/// arguments, so IlgpuAttention's loaders, size checks and its Delta kernel serve them too; only the grid differs.
/// </summary>
public static class TensorCoreAttentionLaunch
{
    public const string ForwardKernel = "attention_forward_bf16_mma", KeyValueKernel = "attention_backward_dkdv_bf16_mma",
        QueryKernel = "attention_backward_dq_bf16_mma";

    /// <summary>Grid (64-row blocks, batch x heads), 4 warps of 32 per group.</summary>
    public static KernelConfig Config(in AttentionShape s) =>
        new(new Index2D((s.T + TensorCoreAttentionTiles.BlockRows - 1) / TensorCoreAttentionTiles.BlockRows, s.Batch * s.Heads),
            new Index2D(TensorCoreAttentionTiles.Threads, 1));

    /// <summary>The fragment layouts are written for 32-lane warps; the head-dim and grid limits are the fp32 kernels'.</summary>
    public static void CheckSupported(in AttentionShape s, int warpSize)
    {
        if (warpSize != TensorCoreAttentionTiles.WarpLanes)
            throw new NotSupportedException($"{ForwardKernel} (src/Cleft.Kernels/Ilgpu/TensorCoreAttention.cs) needs 32-lane warps; this device has {warpSize}");
        IlgpuAttention.CheckSupported(s);
    }

    public static void Forward(AttentionForwardLauncher forward, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> mask,
        ArrayView<float> o, ArrayView<float> lse, in AttentionShape s, int warpSize)
    {
        CheckSupported(s, warpSize);
        forward(Config(s), q, k, v, mask, o, lse, AttentionArgs.From(s));
    }

    /// <summary><paramref name="delta"/> is scratch of <see cref="AttentionShape.Rows"/> floats (rowsum(dO * O), fp32).</summary>
    public static void Backward(AttentionDeltaLauncher rowDelta, AttentionKeyValueLauncher keyValue, AttentionQueryLauncher query,
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> mask, ArrayView<float> o, ArrayView<float> lse,
        ArrayView<float> dO, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> delta, in AttentionShape s, int warpSize)
    {
        CheckSupported(s, warpSize);
        var args = AttentionArgs.From(s);
        rowDelta((int)s.Rows, o, dO, delta, s.D);
        keyValue(Config(s), q, k, v, mask, lse, delta, dO, dk, dv, args);
        query(Config(s), q, k, v, mask, lse, delta, dO, dq, args);
    }
}
