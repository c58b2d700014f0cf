using ILGPU;
using ILGPU.Runtime;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Device memory of an ILGPU accelerator as a <see cref="DeviceBuffer{T}"/>. The allocation is the pool's size
/// class (<see cref="DeviceBuffer{T}.Capacity"/>); <see cref="View"/> is sliced to the logical length, so a kernel
/// can never see the slack at the end of a recycled buffer.
/// </summary>
public sealed class IlgpuBuffer<T> : DeviceBuffer<T>, IDisposable where T : unmanaged
{
    readonly MemoryBuffer1D<T, Stride1D.Dense> _memory;

    internal IlgpuBuffer(IBackend owner, MemoryBuffer1D<T, Stride1D.Dense> memory, long capacity)
        : base(owner, capacity, capacity)
    {
        _memory = memory;
    }

    /// <summary>The first <see cref="DeviceBuffer{T}.Length"/> elements.</summary>
    public ArrayView1D<T, Stride1D.Dense> View => _memory.View.SubView(0, Length);

    /// <summary>The same elements as a plain view, the form every kernel takes.</summary>
    internal ArrayView<T> Flat => View;

    /// <summary>Frees the device memory (the pool calls this when it is drained).</summary>
    public void Dispose() => _memory.Dispose();
}
