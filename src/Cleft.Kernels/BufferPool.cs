namespace Cleft.Kernels;

/// <summary>
/// Caching allocator shared by both backends. Buffers are grouped by size class (powers of two below 4096
/// elements, then four classes per octave) so a training step that asks for the same shapes every
/// iteration is served from the free lists and allocates nothing new after the first step.
/// </summary>
public sealed class BufferPool
{
    /// <summary>One size class of one buffer type: its free buffers, and how many are handed out now and at most.</summary>
    sealed class SizeClassState(long bytes)
    {
        public readonly long BufferBytes = bytes;
        public readonly Stack<object> Free = new();
        public int Live, PeakLive;
    }

    readonly Dictionary<(Type, long), SizeClassState> _classes = new();
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
        SizeClassState state;
        lock (_lock)
        {
            state = Class(typeof(TBuffer), cls, bytes);
            if (state.Free.Count > 0)
            {
                buffer = (TBuffer)state.Free.Pop();
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
            if (++state.Live > state.PeakLive) state.PeakLive = state.Live;
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
            var state = Class(buffer.GetType(), buffer.Capacity, bytes);
            state.Free.Push(buffer);
            state.Live--;
            LiveBytes -= bytes;
        }
    }

    SizeClassState Class(Type type, long capacity, long bufferBytes)
    {
        if (!_classes.TryGetValue((type, capacity), out var state)) _classes[(type, capacity)] = state = new SizeClassState(bufferBytes);
        return state;
    }

    /// <summary>
    /// Gives back free buffers above the high-water mark: per size class, whatever exceeds the most buffers of that
    /// class live at once since the last trim (so a one-off spike, such as an evaluation pass, is not held forever),
    /// then starts a new high-water period. Call it between steps: a steady-state step needs every buffer the last
    /// one had, so nothing it will rent again is dropped. Returns the bytes given back.
    /// </summary>
    public long TrimToHighWater(Action<object> dispose)
    {
        long released = 0;
        lock (_lock)
        {
            foreach (var state in _classes.Values)
            {
                while (state.Free.Count > 0 && state.Live + state.Free.Count > state.PeakLive)
                {
                    var buffer = state.Free.Pop();
                    ReservedBytes -= state.BufferBytes; released += state.BufferBytes;
                    dispose(buffer);
                }
                state.PeakLive = state.Live;
            }
        }
        return released;
    }

    /// <summary>Live buffers per size class, largest total first: (element type, elements per buffer, buffers, bytes).</summary>
    public IReadOnlyList<(string Type, long Elements, int Buffers, long Bytes)> LiveBySize()
    {
        lock (_lock)
            return _classes.Where(kv => kv.Value.Live > 0)
                .Select(kv => (kv.Key.Item1.Name, kv.Key.Item2, kv.Value.Live, kv.Value.Live * kv.Value.BufferBytes))
                .OrderByDescending(x => x.Item4).ToList();
    }

    /// <summary>Removes every free buffer and hands it to <paramref name="dispose"/> (device memory is freed there).</summary>
    public void Drain(Action<object> dispose)
    {
        lock (_lock)
        {
            foreach (var state in _classes.Values)
                while (state.Free.Count > 0) { dispose(state.Free.Pop()); ReservedBytes -= state.BufferBytes; }
        }
    }
}
