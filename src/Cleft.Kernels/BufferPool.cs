namespace Cleft.Kernels;

/// <summary>
/// Caching allocator shared by both backends. Buffers are grouped by size class (powers of two below 4096
/// elements, then four classes per octave) so a training step that asks for the same shapes every
/// iteration is served from the free lists and allocates nothing new after the first step.
/// </summary>
public sealed class BufferPool
{
    readonly Dictionary<(Type, long), Stack<object>> _free = new();
    readonly object _lock = new();

    /// <summary>Storage allocations that went to the device (misses), since creation.</summary>
    public long FreshAllocations { get; private set; }
    /// <summary>Requests served from a free list.</summary>
    public long Reuses { get; private set; }
    /// <summary>Bytes currently handed out to live buffers (by capacity).</summary>
    public long LiveBytes { get; private set; }
    /// <summary>Highest <see cref="LiveBytes"/> seen since the last <see cref="ResetPeak"/>.</summary>
    public long PeakLiveBytes { get; private set; }
    /// <summary>Bytes held by the pool in total, live or free.</summary>
    public long ReservedBytes { get; private set; }

    public void ResetPeak()
    {
        lock (_lock) PeakLiveBytes = LiveBytes;
    }

    /// <summary>Rounds a requested element count up to its size class.</summary>
    public static long SizeClass(long length)
    {
        if (length <= 0) return 1;
        if (length <= 4096) return (long)System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)length);
        int log = 63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)(length - 1));
        long step = 1L << (log - 2); // four classes per octave keeps waste under 25%
        return (length + step - 1) / step * step;
    }

    /// <summary>Takes a buffer of the given size class from the free list, or creates one with <paramref name="create"/>.</summary>
    public TBuffer Rent<TBuffer, T>(long length, Func<long, TBuffer> create)
        where TBuffer : DeviceBuffer<T> where T : unmanaged
    {
        if (length < 0) throw new ArgumentOutOfRangeException(nameof(length), $"buffer length {length} is negative");
        long cls = SizeClass(length);
        long bytes = cls * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        TBuffer? buffer = null;
        lock (_lock)
        {
            if (_free.TryGetValue((typeof(TBuffer), cls), out var stack) && stack.Count > 0)
            {
                buffer = (TBuffer)stack.Pop();
                Reuses++;
            }
        }
        if (buffer is null)
        {
            buffer = create(cls);
            lock (_lock) { FreshAllocations++; ReservedBytes += bytes; }
        }
        buffer.Length = length;
        buffer.Released = false;
        lock (_lock)
        {
            LiveBytes += bytes;
            if (LiveBytes > PeakLiveBytes) PeakLiveBytes = LiveBytes;
        }
        return buffer;
    }

    /// <summary>Puts a buffer back on its free list. Returning a buffer twice is an error.</summary>
    public void Return<T>(DeviceBuffer<T> buffer) where T : unmanaged
    {
        if (buffer.Released)
            throw new InvalidOperationException($"buffer of {buffer.Length} {typeof(T).Name} returned to the pool twice");
        buffer.Released = true;
        long bytes = buffer.Capacity * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        lock (_lock)
        {
            var key = (buffer.GetType(), buffer.Capacity);
            if (!_free.TryGetValue(key, out var stack)) _free[key] = stack = new Stack<object>();
            stack.Push(buffer);
            LiveBytes -= bytes;
        }
    }

    /// <summary>Removes every free buffer and hands it to <paramref name="dispose"/> (device memory is freed there).</summary>
    public void Drain(Action<object> dispose)
    {
        lock (_lock)
        {
            foreach (var stack in _free.Values)
                while (stack.Count > 0) dispose(stack.Pop());
            _free.Clear();
        }
    }
}
