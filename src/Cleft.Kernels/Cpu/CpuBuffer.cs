namespace Cleft.Kernels.Cpu;

/// <summary>Host memory as a device buffer: a managed array whose first <see cref="DeviceBuffer{T}.Length"/> elements are live.</summary>
public sealed class CpuBuffer<T> : DeviceBuffer<T> where T : unmanaged
{
    internal CpuBuffer(IBackend owner, long capacity) : base(owner, capacity, capacity)
    {
        if (capacity > System.Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(capacity), $"CPU buffers hold at most {System.Array.MaxLength} elements, asked for {capacity}");
        Array = GC.AllocateUninitializedArray<T>((int)capacity, pinned: true);
    }

    public T[] Array { get; }
    public Span<T> Span => Array.AsSpan(0, (int)Length);
}
