using System.Collections.Concurrent;
using System.Reflection;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// The ILGPU kernels behind <see cref="IBackend"/>, on CUDA, OpenCL or ILGPU's CPU accelerator (a correctness
/// oracle for tests: it runs the same kernels, barriers and warp shuffles, with every GPU thread an OS thread).
/// Memory comes from <see cref="BufferPool"/> so a steady training loop allocates nothing on the device; each
/// kernel is compiled the first time it is launched and cached for the backend's lifetime. Launch shapes are
/// derived from the accelerator (warp size, group limit, multiprocessors), never assumed.
/// This file: creation, memory, kernel cache and launch shapes; the ops are in IlgpuBackend.Ops.cs.
/// </summary>
public sealed partial class IlgpuBackend : IBackend
{
    readonly Context _context;
    readonly Accelerator _acc;
    readonly ConcurrentDictionary<string, byte> _launched = new();
    readonly object _loadLock = new();
    readonly int _warp;       // threads per warp
    readonly int _block;      // default group size: 256 threads or the device limit, a whole number of warps
    readonly int _waveGroups; // groups that fit on the device at once (grid size of the grid-stride kernels)
    readonly CpuKernelFaults.Slot? _faults; // CPU accelerator only: failed bounds checks, thrown at the next sync
    bool _disposed;

    IlgpuBackend(Context context, Accelerator accelerator, DeviceKind kind, Precision precision)
    {
        _context = context;
        _acc = accelerator;
        Kind = kind;
        Precision = precision;
        _warp = accelerator.WarpSize;
        if (precision == Precision.Bf16 && _warp != TensorCoreMma.WarpLanes)
            throw new NotSupportedException($"{accelerator.Name}: precision bf16 runs mma.sync warp collectives, which need 32-lane warps; this device has {_warp} (use --precision fp32)");
        int limit = accelerator.MaxNumThreadsPerGroup;
        if (limit < GemmKernel.Threads || _warp <= 0 || limit / _warp > GroupReduce.MaxWarps)
            throw new NotSupportedException(
                $"{accelerator.Name}: groups of up to {limit} threads in warps of {_warp}; the kernels need groups of {GemmKernel.Threads} " +
                $"and at most {GroupReduce.MaxWarps} warps per group");
        _block = Math.Min(256, limit) / _warp * _warp;
        _waveGroups = Math.Max(1, accelerator.NumMultiprocessors * Math.Max(1, accelerator.MaxNumThreadsPerMultiprocessor / _block));
        if (kind == DeviceKind.IlgpuCpu) _faults = CpuKernelFaults.Register(accelerator, Name);
    }

    /// <summary>Creates the backend on the requested accelerator, or throws saying why it is unavailable.</summary>
    public static IlgpuBackend Create(DeviceKind kind, Precision precision = Precision.Fp32)
    {
        Context? context = null;
        try
        {
            switch (kind)
            {
                case DeviceKind.IlgpuCpu:
                {
                    context = Context.Create(b => b.CPU(IlgpuSetup.CpuDevice()).Configure());
                    var acc = context.GetCPUDevice(0).CreateCPUAccelerator(context);
                    return new IlgpuBackend(context, acc, kind, precision);
                }
                case DeviceKind.Cuda:
                {
                    context = Context.Create(b => b.Cuda().Configure());
                    var devices = context.GetCudaDevices();
                    if (devices.Count == 0) throw new InvalidOperationException("no CUDA device found (no NVIDIA GPU or driver on this machine)");
                    return new IlgpuBackend(context, devices[0].CreateAccelerator(context), kind, precision);
                }
                case DeviceKind.OpenCL:
                {
                    context = Context.Create(b => b.OpenCL().Configure());
                    var devices = context.GetCLDevices();
                    if (devices.Count == 0) throw new InvalidOperationException("no OpenCL device that ILGPU supports was found");
                    return new IlgpuBackend(context, devices[0].CreateAccelerator(context), kind, precision);
                }
                default:
                    throw new ArgumentException($"the ILGPU backend runs on cuda, opencl or ilgpu-cpu, not '{kind}' (use CpuBackend)");
            }
        }
        catch (Exception e) when (e is not ArgumentException)
        {
            context?.Dispose();
            if (e is InvalidOperationException or NotSupportedException) throw;
            throw new InvalidOperationException($"{kind} accelerator unavailable: {e.Message}", e);
        }
    }

    static readonly Lazy<bool> _cudaAvailable = new(() =>
    {
        try
        {
            using var ctx = Context.Create(b => b.Cuda());
            return ctx.GetCudaDevices().Count > 0;
        }
        catch (Exception)
        {
            return false; // no driver library, or it failed to initialise: either way there is no usable CUDA device
        }
    });

    /// <summary>True when a CUDA device is present and usable (checked once per process).</summary>
    public static bool CudaAvailable() => _cudaAvailable.Value;

    public Precision Precision { get; }
    public string Name => Kind switch { DeviceKind.Cuda => "cuda", DeviceKind.OpenCL => "opencl", _ => "ilgpu-cpu" };
    public DeviceKind Kind { get; }
    public string Description =>
        $"{_acc.Name} ({_acc.AcceleratorType}), warp {_warp}, up to {_acc.MaxNumThreadsPerGroup} threads per group, " +
        $"{_acc.NumMultiprocessors} multiprocessor(s)" + (Kind == DeviceKind.IlgpuCpu ? "" : $", {_acc.MemorySize >> 20} MiB") +
        $", {Precision.Name()} matmuls";
    public BufferPool Pool { get; } = new();

    /// <summary>Catalogue names of the kernels launched since creation (or the last <see cref="ClearLaunchedKernels"/>).</summary>
    public IReadOnlyCollection<string> LaunchedKernels => _launched.Keys.ToArray();

    /// <summary>Forgets which kernels were launched (tests use it to see what one op launches).</summary>
    public void ClearLaunchedKernels() => _launched.Clear();

    // ---- memory ----
    public DeviceBuffer<T> Allocate<T>(long length) where T : unmanaged
        => Pool.Rent<IlgpuBuffer<T>, T>(length, Factory<T>());

    // One allocation callback per element type, made once: renting from the pool then allocates nothing managed either.
    readonly ConcurrentDictionary<Type, Delegate> _factories = new();

    Func<long, IlgpuBuffer<T>> Factory<T>() where T : unmanaged =>
        (Func<long, IlgpuBuffer<T>>)_factories.GetOrAdd(typeof(T), static (_, self) =>
            new Func<long, IlgpuBuffer<T>>(cap => new IlgpuBuffer<T>(self, self._acc.Allocate1D<T>(cap), cap)), this);

    public void Release<T>(DeviceBuffer<T> buffer) where T : unmanaged => Pool.Return(Own(buffer));

    public void CopyFromHost<T>(ReadOnlySpan<T> source, DeviceBuffer<T> destination) where T : unmanaged
    {
        var d = Own(destination);
        if (source.Length != d.Length) throw new ArgumentException($"copy to device: {source.Length} elements into a buffer of {d.Length}");
        if (source.Length > 0) d.View.CopyFromCPU(_acc.DefaultStream, source);
    }

    public void CopyToHost<T>(DeviceBuffer<T> source, Span<T> destination) where T : unmanaged
    {
        var s = Own(source);
        if (destination.Length != s.Length) throw new ArgumentException($"copy to host: {s.Length} elements into a span of {destination.Length}");
        Synchronize();
        if (destination.Length > 0) s.View.CopyToCPU(_acc.DefaultStream, destination);
        _acc.Synchronize();
    }

    /// <summary>Waits for the launched kernels; on the CPU accelerator, throws if one of them failed a bounds check.</summary>
    public void Synchronize()
    {
        _acc.Synchronize();
        _faults?.ThrowIfFaulted();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _acc.Synchronize();
        Pool.Drain(b => ((IDisposable)b).Dispose());
        _acc.Dispose(); // also frees buffers still rented out
        _context.Dispose();
        _faults?.Dispose();
    }

    IlgpuBuffer<T> Own<T>(DeviceBuffer<T> b) where T : unmanaged
    {
        if (b is not IlgpuBuffer<T> ib || !ReferenceEquals(b.Owner, this))
            throw new ArgumentException($"buffer belongs to device '{b.Owner.Name}', not to this '{Name}' backend");
        if (b.Released) throw new ObjectDisposedException("buffer", "buffer was already returned to the pool");
        return ib;
    }

    ArrayView<float> F(DeviceBuffer<float> b) => Own(b).Flat;
    ArrayView<int> I(DeviceBuffer<int> b) => Own(b).Flat;

    // ---- kernel cache ----
    /// <summary>
    /// The one launch path of every ILGPU kernel: returns the launcher in <paramref name="slot"/>, compiling the
    /// catalogue kernel <paramref name="name"/> into it on first use, and records the launch. Kernels are looked up
    /// by catalogue name, so the names the tests check and the methods that run cannot drift apart. The slot's
    /// declared type is the launcher's signature (see <see cref="KernelLoad"/>).
    /// </summary>
    T Kernel<T>(ref T? slot, string name) where T : Delegate
    {
        Record(name);
        if (slot is not null) return slot;
        lock (_loadLock)
            return slot ??= KernelLoad.Stream<T>(_acc, KernelCatalog.Get(name));
    }

    /// <summary>
    /// As above, with a custom loader for kernels whose launcher is not a plain stream launch. <paramref name="load"/>
    /// is a static lambda (no allocation per launch).
    /// </summary>
    T Kernel<T>(ref T? slot, string name, Func<Accelerator, MethodInfo, T> load) where T : Delegate
    {
        Record(name);
        if (slot is not null) return slot;
        lock (_loadLock)
            return slot ??= load(_acc, KernelCatalog.Get(name).Method);
    }

    void Record(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _launched.TryAdd(name, 0);
        _faults?.Launched(name);
    }

    // ---- launch shapes ----
    /// <summary>Grid-stride kernels: one wave of full groups, fewer when n is small.</summary>
    KernelConfig Elementwise(long n)
    {
        long groups = Math.Clamp((n + _block - 1) / _block, 1, _waveGroups);
        return new KernelConfig((int)groups, _block);
    }

    /// <summary>One group per row (grid-stride over rows), sized to the row: a whole number of warps up to 256 threads.</summary>
    KernelConfig Rows(long rows, long cols)
    {
        long threads = Math.Clamp((cols + _warp - 1) / _warp * _warp, _warp, _block);
        return new KernelConfig((int)Math.Min(rows, 1 << 20), (int)threads);
    }

    /// <summary>Column reductions: groups over warp-wide bands of columns (see ColumnStrips) times row blocks.</summary>
    KernelConfig Columns(int cols, int rowBlocks) =>
        new(new Index2D((int)Math.Min((cols + _warp - 1) / _warp, 1 << 20), rowBlocks), new Index2D(_block, 1));

    /// <summary>
    /// The most elements a kernel indexes with 32-bit ints: a grid-stride index (below n) plus one grid's step must
    /// stay below 2^31, and a wave of groups is far smaller than the 2^30 margin.
    /// </summary>
    const long MaxElements = 1L << 30;

    /// <summary>n as an int for the 32-bit kernels, or a clear error naming the op.</summary>
    static int Elements32(long n, string op) => n <= MaxElements ? (int)n
        : throw new NotSupportedException($"{op}: {n} elements; the ILGPU kernels index with 32-bit ints and take at most {MaxElements} per call");
}
