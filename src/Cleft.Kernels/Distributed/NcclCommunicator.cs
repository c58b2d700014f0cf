using System.Diagnostics;
using Cleft.Kernels.Ilgpu;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Cleft.Kernels.Distributed;

/// <summary>
/// NCCL on CUDA device buffers of the ILGPU backend: collectives run on the accelerator's default stream, after
/// the kernels already queued there and before those queued next, so nothing is copied through the host. The
/// communicator is set up the standard way: rank 0 makes an ncclUniqueId and <paramref name="bootstrap"/> (MPI, or
/// <see cref="SingleProcess"/> for one rank) broadcasts it. Small host data and barriers go over the bootstrap.
/// An all-reduce over many buffers is one NCCL group (NCCL fuses the calls of a group, its own bucketing). The
/// watchdog polls the stream (cuStreamQuery) and NCCL's asynchronous error; past <see cref="Timeout"/> it aborts
/// the NCCL communicator and throws <see cref="RankLostException"/>.
/// </summary>
public sealed unsafe class NcclCommunicator : ICommunicator
{
    readonly NcclLibrary _nccl;
    readonly ICommunicator _bootstrap;
    readonly IntPtr _comm;
    readonly IntPtr _stream;
    readonly Accelerator _accelerator;
    bool _broken, _disposed;

    public NcclCommunicator(IBackend device, ICommunicator bootstrap, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(device);
        _bootstrap = bootstrap ?? throw new ArgumentNullException(nameof(bootstrap));
        Timeout = timeout;
        if (device is not IlgpuBackend { Kind: DeviceKind.Cuda })
            throw new ArgumentException($"--dist nccl needs the cuda device, not {device.Name}; use --dist mpi on the CPU");
        _nccl = NcclLibrary.Load();
        // Any buffer tells us the accelerator, whose default stream every kernel of the backend is queued on.
        var probe = (IlgpuBuffer<float>)device.Allocate<float>(1);
        _accelerator = ArrayViewExtensions.GetAccelerator(probe.View);
        _stream = ((CudaStream)_accelerator.DefaultStream).StreamPtr;
        device.Release(probe);
        _accelerator.Bind();

        NcclLibrary.UniqueId id;
        var bytes = new Span<byte>(&id, sizeof(NcclLibrary.UniqueId));
        if (bootstrap.Rank == 0) Check(_nccl.GetUniqueId(&id), "ncclGetUniqueId");
        bootstrap.Broadcast(bytes, 0, "start-up: broadcasting the NCCL id");
        IntPtr comm;
        Check(_nccl.CommInitRank(&comm, bootstrap.Size, id, bootstrap.Rank), "ncclCommInitRank");
        _comm = comm;
    }

    public string Kind => "nccl";
    public int Rank => _bootstrap.Rank;
    public int Size => _bootstrap.Size;
    public TimeSpan Timeout { get; }
    /// <summary>The library loaded and its version (e.g. 21903 = 2.19.3).</summary>
    public string Library => $"{_nccl.Path} (NCCL {_nccl.Version / 10000}.{_nccl.Version / 100 % 100}.{_nccl.Version % 100})";

    public void AllReduce(IReadOnlyList<DeviceBuffer<float>> buffers, ReduceOp op, string what) => StartAllReduce(buffers, op, what).Wait();

    /// <summary>
    /// Queues the all-reduce on the backend's stream, after the kernels already queued: it runs in order with the
    /// compute rather than beside it (a second stream with events would let it overlap; not done yet).
    /// </summary>
    public IPendingCollective StartAllReduce(IReadOnlyList<DeviceBuffer<float>> buffers, ReduceOp op, string what)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        Check(_nccl.GroupStart(), what);
        foreach (var b in buffers)
            Check(_nccl.AllReduce(Pointer(b), Pointer(b), (nuint)b.Length, NcclLibrary.Float32, op == ReduceOp.Average ? NcclLibrary.OpAvg : NcclLibrary.OpSum, _comm, _stream), what);
        Check(_nccl.GroupEnd(), what);
        return new Queued(this, what);
    }

    sealed class Queued(NcclCommunicator comm, string what) : IPendingCollective
    {
        public void Wait() => comm.Wait(what);
    }

    public void AllGather(DeviceBuffer<float> send, DeviceBuffer<float> receive, string what)
    {
        Collectives.CheckGather(this, send, receive, what);
        Check(_nccl.AllGather(Pointer(send), Pointer(receive), (nuint)send.Length, NcclLibrary.Float32, _comm, _stream), what);
        Wait(what);
    }

    public void Broadcast(IReadOnlyList<DeviceBuffer<float>> buffers, int root, string what)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        Collectives.CheckRoot(this, root, what);
        Check(_nccl.GroupStart(), what);
        foreach (var b in buffers) Check(_nccl.Broadcast(Pointer(b), Pointer(b), (nuint)b.Length, NcclLibrary.Float32, root, _comm, _stream), what);
        Check(_nccl.GroupEnd(), what);
        Wait(what);
    }

    public void Broadcast(Span<byte> data, int root, string what) => _bootstrap.Broadcast(data, root, what);
    public void Barrier(string what) => _bootstrap.Barrier(what);

    static IntPtr Pointer(DeviceBuffer<float> b) => b is IlgpuBuffer<float> g ? ArrayViewExtensions.LoadEffectiveAddressAsPtr(g.View.BaseView)
        : throw new ArgumentException($"NCCL works on CUDA buffers of the ILGPU backend, not {b.GetType().Name}");

    /// <summary>Polls the stream until the queued collectives are done; aborts NCCL on an asynchronous error or after the timeout.</summary>
    void Wait(string what)
    {
        if (_broken) throw new InvalidOperationException($"{what}: the NCCL communicator was aborted after a lost rank");
        var clock = Stopwatch.StartNew();
        for (int polls = 0; ; polls++)
        {
            int rc = _nccl.StreamQuery(_stream);
            if (rc == 0) return;
            if (rc != NcclLibrary.CudaNotReady) throw new InvalidOperationException($"NCCL rank {Rank}: {what}: cuStreamQuery failed with CUDA error {rc}");
            int async;
            _nccl.CommGetAsyncError(_comm, &async);
            if (async != NcclLibrary.Success) throw Abort(what, _nccl.Describe(async));
            if (clock.Elapsed > Timeout) throw Abort(what, $"no progress for {Timeout.TotalSeconds:0} s");
            if (polls < 50) Thread.Yield(); else Thread.Sleep(1);
        }
    }

    RankLostException Abort(string what, string reason)
    {
        Abandon();
        return new RankLostException($"NCCL rank {Rank} of {Size}: {what}: {reason}; a rank was lost or hung (NCCL cannot tell which: " +
            "the launcher's message names the rank that exited); stopping", []);
    }

    void Check(int rc, string what)
    {
        if (rc != NcclLibrary.Success) throw new InvalidOperationException($"NCCL rank {_bootstrap.Rank}: {what}: {_nccl.Describe(rc)} ({_nccl.Path})");
    }

    public void Abandon()
    {
        if (!_broken) _nccl.CommAbort(_comm);
        _broken = true;
        _bootstrap.Abandon();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_broken) _nccl.CommDestroy(_comm);
        _bootstrap.Dispose();
    }
}
