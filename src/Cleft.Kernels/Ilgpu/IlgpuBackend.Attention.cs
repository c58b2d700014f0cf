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
    // ---- attention (kernels in AttentionKernels, launch logic in IlgpuAttention) ----
    AttentionForwardLauncher? _attnForward;
    AttentionDeltaLauncher? _attnDelta;
    AttentionKeyValueLauncher? _attnKeyValue;
    AttentionQueryLauncher? _attnQuery;

    public void AttentionForward(DeviceBuffer<float> q, DeviceBuffer<float> k, DeviceBuffer<float> v, DeviceBuffer<int> keyMask,
        DeviceBuffer<float> o, DeviceBuffer<float> lse, in AttentionShape shape)
        => IlgpuAttention.Forward(Kernel(ref _attnForward, "attention_forward", static (a, m) => IlgpuAttention.LoadForward(a, m)),
            F(q), F(k), F(v), I(keyMask), F(o), F(lse), shape);

    public void AttentionBackward(DeviceBuffer<float> q, DeviceBuffer<float> k, DeviceBuffer<float> v, DeviceBuffer<int> keyMask,
        DeviceBuffer<float> o, DeviceBuffer<float> lse, DeviceBuffer<float> dO,
        DeviceBuffer<float> dq, DeviceBuffer<float> dk, DeviceBuffer<float> dv, in AttentionShape shape)
    {
        var rowDelta = Kernel(ref _attnDelta, "attention_delta", static (a, m) => IlgpuAttention.LoadDelta(a, m));
        var keyValue = Kernel(ref _attnKeyValue, "attention_backward_dkdv", static (a, m) => IlgpuAttention.LoadKeyValue(a, m));
        var query = Kernel(ref _attnQuery, "attention_backward_dq", static (a, m) => IlgpuAttention.LoadQuery(a, m));
        // Delta = rowsum(dO * O) lives only between this call's launches. Returning it to the pool right after
        // enqueueing is safe: any later user of the buffer is enqueued after them on the same stream.
        var delta = Allocate<float>(shape.Rows);
        try
        {
            IlgpuAttention.Backward(rowDelta, keyValue, query, F(q), F(k), F(v), I(keyMask), F(o), F(lse), F(dO), F(dq), F(dk), F(dv), F(delta), shape);
        }
        finally { Release(delta); }
    }
}
