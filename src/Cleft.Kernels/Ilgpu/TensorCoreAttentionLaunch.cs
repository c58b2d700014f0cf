using ILGPU;
using ILGPU.Runtime;
using AttentionForwardLauncher = System.Action<ILGPU.KernelConfig, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<int>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, Cleft.Kernels.Ilgpu.AttentionArgs>;
using AttentionKeyValueLauncher = System.Action<ILGPU.KernelConfig, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<int>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    Cleft.Kernels.Ilgpu.AttentionArgs>;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Launch shape and order of the tensor-core attention kernels (TensorCoreAttention.cs). They take the fp32 kernels'
/// arguments (dQ's with O added, as it also computes Delta), so IlgpuAttention's loaders and size checks serve them too.
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

    /// <summary>
    /// <paramref name="delta"/> is scratch of <see cref="AttentionShape.Rows"/> floats: the dQ kernel runs first and
    /// writes Delta = rowsum(bf16(dO) * O) there for the dK/dV kernel.
    /// </summary>
    public static void Backward(AttentionKeyValueLauncher keyValue, AttentionKeyValueLauncher query,
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> mask, ArrayView<float> o, ArrayView<float> lse,
        ArrayView<float> dO, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> delta, in AttentionShape s, int warpSize)
    {
        CheckSupported(s, warpSize);
        var args = AttentionArgs.From(s);
        query(Config(s), q, k, v, mask, lse, delta, dO, o, dq, args);
        keyValue(Config(s), q, k, v, mask, lse, delta, dO, dk, dv, args);
    }
}
