namespace Cleft.Kernels;

/// <summary>
/// A block of device memory holding <see cref="Length"/> elements of <typeparamref name="T"/>.
/// Buffers come from a backend's <see cref="BufferPool"/>; the storage behind one may be larger than
/// <see cref="Length"/> (size classes), and kernels only ever see the first <see cref="Length"/> elements.
/// </summary>
public abstract class DeviceBuffer<T> where T : unmanaged
{
    protected DeviceBuffer(IBackend owner, long length, long capacity)
    {
        Owner = owner;
        Length = length;
        Capacity = capacity;
    }

    /// <summary>The backend that allocated this buffer; ops refuse buffers from another backend.</summary>
    public IBackend Owner { get; }

    /// <summary>Number of logical elements.</summary>
    public long Length { get; internal set; }

    /// <summary>Elements actually allocated (the pool's size class).</summary>
    public long Capacity { get; }

    /// <summary>True once the buffer went back to its pool; using it afterwards is a bug.</summary>
    public bool Released { get; internal set; }
}
