using ILGPU;
using AttentionForwardLauncher = System.Action<ILGPU.KernelConfig, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<int>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, Cleft.Kernels.Ilgpu.AttentionArgs>;
using AttentionDeltaLauncher = System.Action<ILGPU.Index1D, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, int>;
using AttentionKeyValueLauncher = System.Action<ILGPU.KernelConfig, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<int>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    Cleft.Kernels.Ilgpu.AttentionArgs>;
using AttentionQueryLauncher = System.Action<ILGPU.KernelConfig, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<int>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, Cleft.Kernels.Ilgpu.AttentionArgs>;

namespace Cleft.Kernels.Ilgpu;

public sealed partial class IlgpuBackend
{
    // ---- attention (kernels in AttentionKernels and TensorCoreAttention, launch logic in IlgpuAttention and
    // TensorCoreAttentionLaunch); precision bf16 runs the tensor-core kernels ----
    AttentionForwardLauncher? _attnForward, _attnForwardMma;
    AttentionDeltaLauncher? _attnDelta;
    AttentionKeyValueLauncher? _attnKeyValue, _attnKeyValueMma, _attnQueryMma; // the mma dQ kernel takes dK/dV's argument types
    AttentionQueryLauncher? _attnQuery;

    public void AttentionForward(DeviceBuffer<float> q, DeviceBuffer<float> k, DeviceBuffer<float> v, DeviceBuffer<int> keyMask,
        DeviceBuffer<float> o, DeviceBuffer<float> lse, in AttentionShape shape)
    {
        HeadsMajor(shape);
        if (Precision == Precision.Bf16) AttentionForwardBf16(q, k, v, keyMask, o, lse, shape);
        else IlgpuAttention.Forward(Kernel(ref _attnForward, "attention_forward", static (a, m) => IlgpuAttention.LoadForward(a, m)),
            F(q), F(k), F(v), I(keyMask), F(o), F(lse), shape);
    }

    public void AttentionBackward(DeviceBuffer<float> q, DeviceBuffer<float> k, DeviceBuffer<float> v, DeviceBuffer<int> keyMask,
        DeviceBuffer<float> o, DeviceBuffer<float> lse, DeviceBuffer<float> dO,
        DeviceBuffer<float> dq, DeviceBuffer<float> dk, DeviceBuffer<float> dv, in AttentionShape shape)
        => LaunchAttentionBackward(q, k, v, keyMask, o, lse, dO, dq, dk, dv, shape, Precision == Precision.Bf16);

    // The kernels index [B, H, T, D] directly (AttentionTakesLayouts is false): anything else is a caller's bug.
    static void HeadsMajor(in AttentionShape shape)
    {
        if (!shape.HeadsMajorOnly)
            throw new NotSupportedException("IlgpuBackend attention: operands must be [batch, heads, T, head_dim]; this backend takes no other layout (AttentionTakesLayouts is false)");
    }

    /// <summary>
    /// The forward on tensor cores whatever <see cref="Precision"/> says (what <see cref="AttentionForward"/> runs under
    /// bf16): q, k, v rounded to bf16 and P rounded to bf16 before P V; softmax, sums and lse in fp32.
    /// </summary>
    public void AttentionForwardBf16(DeviceBuffer<float> q, DeviceBuffer<float> k, DeviceBuffer<float> v, DeviceBuffer<int> keyMask,
        DeviceBuffer<float> o, DeviceBuffer<float> lse, in AttentionShape shape)
    {
        HeadsMajor(shape);
        TensorCoreAttentionLaunch.Forward(
            Kernel(ref _attnForwardMma, TensorCoreAttentionLaunch.ForwardKernel, static (a, m) => IlgpuAttention.LoadForward(a, m)),
            F(q), F(k), F(v), I(keyMask), F(o), F(lse), shape, _warp);
    }

    /// <summary>The backward on tensor cores whatever <see cref="Precision"/> says (what <see cref="AttentionBackward"/> runs under bf16).</summary>
    public void AttentionBackwardBf16(DeviceBuffer<float> q, DeviceBuffer<float> k, DeviceBuffer<float> v, DeviceBuffer<int> keyMask,
        DeviceBuffer<float> o, DeviceBuffer<float> lse, DeviceBuffer<float> dO,
        DeviceBuffer<float> dq, DeviceBuffer<float> dk, DeviceBuffer<float> dv, in AttentionShape shape)
        => LaunchAttentionBackward(q, k, v, keyMask, o, lse, dO, dq, dk, dv, shape, tensorCores: true);

    void LaunchAttentionBackward(DeviceBuffer<float> q, DeviceBuffer<float> k, DeviceBuffer<float> v, DeviceBuffer<int> keyMask,
        DeviceBuffer<float> o, DeviceBuffer<float> lse, DeviceBuffer<float> dO,
        DeviceBuffer<float> dq, DeviceBuffer<float> dk, DeviceBuffer<float> dv, in AttentionShape shape, bool tensorCores)
    {
        HeadsMajor(shape);
        // Delta = rowsum(dO * O) lives only between this call's launches. Returning it to the pool right after
        // enqueueing is safe: any later user of the buffer is enqueued after them on the same stream.
        var delta = Allocate<float>(shape.Rows);
        try
        {
            if (tensorCores)
                TensorCoreAttentionLaunch.Backward(
                    Kernel(ref _attnKeyValueMma, TensorCoreAttentionLaunch.KeyValueKernel, static (a, m) => IlgpuAttention.LoadKeyValue(a, m)),
                    Kernel(ref _attnQueryMma, TensorCoreAttentionLaunch.QueryKernel, static (a, m) => IlgpuAttention.LoadKeyValue(a, m)),
                    F(q), F(k), F(v), I(keyMask), F(o), F(lse), F(dO), F(dq), F(dk), F(dv), F(delta), shape, _warp);
            else
                IlgpuAttention.Backward(Kernel(ref _attnDelta, "attention_delta", static (a, m) => IlgpuAttention.LoadDelta(a, m)),
                    Kernel(ref _attnKeyValue, "attention_backward_dkdv", static (a, m) => IlgpuAttention.LoadKeyValue(a, m)),
                    Kernel(ref _attnQuery, "attention_backward_dq", static (a, m) => IlgpuAttention.LoadQuery(a, m)),
                    F(q), F(k), F(v), I(keyMask), F(o), F(lse), F(dO), F(dq), F(dk), F(dv), F(delta), shape);
        }
        finally { Release(delta); }
    }
}
