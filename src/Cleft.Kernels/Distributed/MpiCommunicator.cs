using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text;

namespace Cleft.Kernels.Distributed;

/// <summary>
/// MPI_COMM_WORLD of Open MPI on host buffers: device buffers are staged through pinned host arrays (a CUDA-aware
/// MPI could take device pointers, but Open MPI's CUDA support is a build option that Debian's package lacks, and
/// NCCL is the better path on GPUs: <see cref="NcclCommunicator"/>). Every collective is nonblocking
/// (MPI_Iallreduce, MPI_Iallgather, MPI_Ibcast, MPI_Ibarrier) and polled with MPI_Test under a watchdog: when it
/// makes no progress for <see cref="Timeout"/>, or MPI reports an error (the communicator returns errors instead
/// of aborting), this rank pings every other rank and throws <see cref="RankLostException"/> naming those that do
/// not answer. Under mpirun a rank killed outright makes the launcher end the job with SIGTERM; the SIGTERM
/// handler then prints which peer on this host has exited, so either way the surviving ranks say who was lost.
/// </summary>
public sealed unsafe class MpiCommunicator : ICommunicator
{
    const int PingTag = 0x7c1e, PongTag = 0x7c1f, HostBytes = 60;
    static readonly TimeSpan ProbeTime = TimeSpan.FromSeconds(3);

    readonly MpiLibrary _mpi;
    readonly (int Pid, string Host)[] _peers;
    readonly PosixSignalRegistration? _sigterm;
    readonly int[] _ping = GC.AllocateArray<int>(2, pinned: true), _pong = GC.AllocateArray<int>(1, pinned: true);
    readonly List<IntPtr> _pongsSent = [];
    int[]? _answers;
    float[][] _staging = [];
    readonly Stack<float[]> _spare = new(); // host buckets of started all-reduces, reused step after step
    readonly List<Pending> _started = [];
    volatile string _inFlight = "startup";
    bool _broken, _disposed;

    MpiCommunicator(MpiLibrary mpi, TimeSpan timeout)
    {
        _mpi = mpi;
        Timeout = timeout;
        int rank, size;
        Check(_mpi.CommRank(_mpi.CommWorld, &rank), "MPI_Comm_rank");
        Check(_mpi.CommSize(_mpi.CommWorld, &size), "MPI_Comm_size");
        Rank = rank;
        Size = size;
        _peers = ExchangePeers();
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => Console.Error.WriteLine(TerminatedMessage()));
    }

    /// <summary>
    /// Initialises MPI (once per process; MPI_THREAD_FUNNELED: only the training thread calls it) on
    /// MPI_COMM_WORLD with errors returned rather than fatal, and exchanges each rank's pid and host for messages.
    /// </summary>
    public static MpiCommunicator Initialize(TimeSpan timeout)
    {
        if (timeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(timeout), $"the collective timeout must be positive, got {timeout}");
        // Open MPI traps SIGSEGV/SIGBUS/SIGFPE to print its own backtrace, replacing the .NET runtime's handlers
        // that turn a null dereference into a NullReferenceException; an empty list keeps the runtime's.
        MpiLibrary.DefaultEnvironment("OMPI_MCA_opal_signal", "");
        var mpi = MpiLibrary.Load();
        int initialized, finalized, provided;
        mpi.Initialized(&initialized);
        mpi.Finalized(&finalized);
        if (finalized != 0) throw new InvalidOperationException("MPI was already finalized in this process; it cannot be initialised again");
        if (initialized == 0)
        {
            int rc = mpi.InitThread(null, null, MpiLibrary.ThreadFunneled, &provided);
            if (rc != MpiLibrary.Success) throw new InvalidOperationException($"MPI_Init_thread failed: {mpi.Describe(rc)} ({mpi.Path})");
        }
        int set = mpi.CommSetErrhandler(mpi.CommWorld, mpi.ErrorsReturn);
        if (set != MpiLibrary.Success) throw new InvalidOperationException($"MPI_Comm_set_errhandler failed: {mpi.Describe(set)}");
        return new MpiCommunicator(mpi, timeout);
    }

    public string Kind => "mpi";
    public int Rank { get; }
    public int Size { get; }
    /// <summary>How long a collective may make no progress before the job is declared broken.</summary>
    public TimeSpan Timeout { get; }
    /// <summary>A rank's process id and host, as exchanged at start-up.</summary>
    public (int Pid, string Host) Peer(int rank) => _peers[rank];

    public void AllReduce(IReadOnlyList<DeviceBuffer<float>> buffers, ReduceOp op, string what)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        float scale = op == ReduceOp.Average ? 1f / Size : 1f;
        Bucketed(buffers, what, pack: true, unpack: true, scale, (p, n, r) => _mpi.Iallreduce((void*)1 /* MPI_IN_PLACE */, (void*)p, n, _mpi.Float, _mpi.OpSum, _mpi.CommWorld, r));
    }

    public IPendingCollective StartAllReduce(IReadOnlyList<DeviceBuffer<float>> buffers, ReduceOp op, string what)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        int floats = 0;
        foreach (var b in buffers) floats = Count(floats + b.Length, what);
        var host = _spare.Count > 0 && _spare.Peek().Length >= floats ? _spare.Pop() : GC.AllocateUninitializedArray<float>(floats, pinned: true);
        for (int i = 0, at = 0; i < buffers.Count; at += (int)buffers[i].Length, i++)
            buffers[i].Owner.CopyToHost(buffers[i], host.AsSpan(at, (int)buffers[i].Length));
        var pending = new Pending(this, buffers, host, floats, op == ReduceOp.Average ? 1f / Size : 1f, what);
        Check(_mpi.Iallreduce((void*)1 /* MPI_IN_PLACE */, (void*)Marshal.UnsafeAddrOfPinnedArrayElement(host, 0), floats, _mpi.Float, _mpi.OpSum,
            _mpi.CommWorld, pending.Request), what);
        // Without a progress thread, MPI moves nonblocking messages only inside MPI calls: test the others now.
        foreach (var other in _started) { int done; _mpi.Test(other.Request, &done, null); }
        _started.Add(pending);
        return pending;
    }

    sealed class Pending(MpiCommunicator comm, IReadOnlyList<DeviceBuffer<float>> buffers, float[] host, int floats, float scale, string what) : IPendingCollective
    {
        readonly IntPtr[] _request = GC.AllocateArray<IntPtr>(1, pinned: true);
        bool _waited;
        public IntPtr* Request => (IntPtr*)Marshal.UnsafeAddrOfPinnedArrayElement(_request, 0);

        public void Wait()
        {
            if (_waited) return;
            _waited = true;
            comm.Wait(Request, what);
            Unpack(buffers, (0, buffers.Count, floats), host, scale);
            comm._started.Remove(this);
            comm._spare.Push(host);
        }
    }

    public void Broadcast(IReadOnlyList<DeviceBuffer<float>> buffers, int root, string what)
    {
        ArgumentNullException.ThrowIfNull(buffers);
        Collectives.CheckRoot(this, root, what);
        Bucketed(buffers, what, pack: Rank == root, unpack: Rank != root, 1f, (p, n, r) => _mpi.Ibcast((void*)p, n, _mpi.Float, root, _mpi.CommWorld, r));
    }

    public void AllGather(DeviceBuffer<float> send, DeviceBuffer<float> receive, string what)
    {
        Collectives.CheckGather(this, send, receive, what);
        int n = Count(send.Length, what);
        var host = Staging(0, checked(n * Size));
        var dev = send.Owner;
        dev.CopyToHost(send, host.AsSpan(Rank * n, n));
        fixed (float* p = host)
        {
            IntPtr request;
            Check(_mpi.Iallgather((void*)1 /* MPI_IN_PLACE */, 0, _mpi.Float, p, n, _mpi.Float, _mpi.CommWorld, &request), what);
            Wait(&request, what);
        }
        dev.CopyFromHost<float>(host.AsSpan(0, n * Size), receive);
    }

    public void Broadcast(Span<byte> data, int root, string what)
    {
        Collectives.CheckRoot(this, root, what);
        fixed (byte* p = data)
        {
            IntPtr request;
            Check(_mpi.Ibcast(p, data.Length, _mpi.Byte, root, _mpi.CommWorld, &request), what);
            Wait(&request, what);
        }
    }

    public void Barrier(string what)
    {
        IntPtr request;
        Check(_mpi.Ibarrier(_mpi.CommWorld, &request), what);
        Wait(&request, what);
    }

    /// <summary>
    /// Runs one nonblocking collective per bucket (buffers packed whole, up to <see cref="Collectives.BucketFloats"/>) with two
    /// host buckets in turn, so the device-to-host copy of bucket k+1 overlaps the network transfer of bucket k.
    /// </summary>
    void Bucketed(IReadOnlyList<DeviceBuffer<float>> buffers, string what, bool pack, bool unpack, float scale,
        StartCollective start)
    {
        var buckets = new List<(int From, int To, int Floats)>();
        for (int i = 0; i < buffers.Count;)
        {
            int from = i, floats = 0;
            while (i < buffers.Count && (i == from || floats + buffers[i].Length <= Collectives.BucketFloats)) floats = Count(floats + buffers[i++].Length, what);
            buckets.Add((from, i, floats));
        }
        var requests = stackalloc IntPtr[2];
        for (int k = 0; k <= buckets.Count + 1; k++)
        {
            int slot = k % 2;
            if (k >= 2) // finish bucket k - 2, which used this slot
            {
                Wait(&requests[slot], what);
                if (unpack) Unpack(buffers, buckets[k - 2], _staging[slot], scale);
            }
            if (k >= buckets.Count) continue;
            var (from, to, floats) = buckets[k];
            var host = Staging(slot, floats);
            if (pack)
                for (int i = from, at = 0; i < to; at += (int)buffers[i].Length, i++)
                    buffers[i].Owner.CopyToHost(buffers[i], host.AsSpan(at, (int)buffers[i].Length));
            // Staging arrays live on the pinned object heap: MPI may hold their address until the request completes.
            Check(start(Marshal.UnsafeAddrOfPinnedArrayElement(host, 0), floats, &requests[slot]), what);
        }
    }

    /// <summary>Starts one nonblocking collective on <paramref name="count"/> floats of pinned host memory.</summary>
    delegate int StartCollective(IntPtr data, int count, IntPtr* request);

    static void Unpack(IReadOnlyList<DeviceBuffer<float>> buffers, (int From, int To, int Floats) bucket, float[] host, float scale)
    {
        var values = host.AsSpan(0, bucket.Floats);
        if (scale != 1f) TensorPrimitives.Multiply(values, scale, values);
        for (int i = bucket.From, at = 0; i < bucket.To; at += (int)buffers[i].Length, i++)
            buffers[i].Owner.CopyFromHost<float>(values.Slice(at, (int)buffers[i].Length), buffers[i]);
    }

    float[] Staging(int slot, int floats)
    {
        if (_staging.Length <= slot) Array.Resize(ref _staging, slot + 1);
        if (_staging[slot] is not { } a || a.Length < floats) _staging[slot] = GC.AllocateUninitializedArray<float>(floats, pinned: true);
        return _staging[slot];
    }

    static int Count(long n, string what) => n <= int.MaxValue ? (int)n
        : throw new ArgumentException($"{what}: {n} values exceed MPI's int count; split the buffer");

    /// <summary>Polls one request until it completes, answering other ranks' pings; throws <see cref="RankLostException"/> on timeout or an MPI error.</summary>
    void Wait(IntPtr* request, string what)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_broken) throw new InvalidOperationException($"{what}: the MPI job already lost a rank; no further collectives");
        _inFlight = what;
        var clock = Stopwatch.StartNew();
        for (int polls = 0; ; polls++)
        {
            int done;
            MpiLibrary.Status status;
            int rc = _mpi.Test(request, &done, &status);
            if (rc != MpiLibrary.Success) throw Lost(what, $"MPI reported {_mpi.Describe(rc)}");
            if (done != 0) break;
            AnswerPings();
            if (clock.Elapsed > Timeout) throw Lost(what, $"no progress for {Timeout.TotalSeconds:0} s");
            // Spinning would take a core from a rank still computing on the same machine.
            if (polls < 50) Thread.Yield(); else Thread.Sleep(1);
        }
        _inFlight = "compute between collectives";
    }

    void AnswerPings()
    {
        int flag;
        MpiLibrary.Status status;
        if (_mpi.Iprobe(MpiLibrary.AnySource, PingTag, _mpi.CommWorld, &flag, &status) != MpiLibrary.Success || flag == 0) return;
        fixed (int* ping = _ping) fixed (int* pong = _pong)
        {
            _mpi.Recv(ping, 1, _mpi.Int, status.Source, PingTag, _mpi.CommWorld, null);
            IntPtr request;
            if (_mpi.Isend(pong, 1, _mpi.Int, status.Source, PongTag, _mpi.CommWorld, &request) == MpiLibrary.Success) _pongsSent.Add(request);
        }
    }

    /// <summary>Marks the job broken, finds the ranks that no longer answer and builds the error naming them.</summary>
    RankLostException Lost(string what, string reason)
    {
        var lost = Unresponsive().Union(GoneOnThisHost()).Distinct().Order().ToList();
        _broken = true;
        string who = lost.Count > 0
            ? $"lost rank {string.Join(", ", lost.Select(DescribeRank))} (no answer within {ProbeTime.TotalSeconds:0} s: killed, crashed or hung)"
            : "every other rank still answers, so one is stuck outside a collective (see its own error) or far slower";
        return new RankLostException($"MPI rank {Rank} of {Size}: {what}: {reason}; {who}; stopping", lost);
    }

    /// <summary>Pings every other rank and returns those that do not answer within <see cref="ProbeTime"/>.</summary>
    List<int> Unresponsive()
    {
        // A field, not a local: a late answer lands here after this method has given up on its sender.
        var answers = _answers ??= GC.AllocateArray<int>(Size, pinned: true);
        var pending = new IntPtr[Size];
        var waiting = new HashSet<int>();
        fixed (int* token = _ping) fixed (int* into = answers)
        {
            for (int r = 0; r < Size; r++)
            {
                if (r == Rank) continue;
                IntPtr send, recv;
                if (_mpi.Isend(token, 1, _mpi.Int, r, PingTag, _mpi.CommWorld, &send) != MpiLibrary.Success) continue; // unreachable: stays in waiting
                _pongsSent.Add(send);
                if (_mpi.Irecv(into + r, 1, _mpi.Int, r, PongTag, _mpi.CommWorld, &recv) == MpiLibrary.Success) pending[r] = recv;
                waiting.Add(r);
            }
            var clock = Stopwatch.StartNew();
            while (waiting.Count > 0 && clock.Elapsed < ProbeTime)
            {
                foreach (int r in waiting.ToList())
                {
                    if (pending[r] == IntPtr.Zero) continue;
                    int done;
                    IntPtr request = pending[r];
                    if (_mpi.Test(&request, &done, null) == MpiLibrary.Success && done != 0) waiting.Remove(r);
                }
                AnswerPings();
                Thread.Sleep(1);
            }
        }
        return [.. waiting];
    }

    /// <summary>Peers on this host whose process no longer runs (exited, or a zombie awaiting its launcher).</summary>
    List<int> GoneOnThisHost()
    {
        var gone = new List<int>();
        for (int r = 0; r < Size; r++)
        {
            if (r == Rank || _peers[r].Host != _peers[Rank].Host) continue;
            string stat = $"/proc/{_peers[r].Pid}/stat";
            string? text = null;
            try { text = File.ReadAllText(stat); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            int close = text?.LastIndexOf(')') ?? -1;
            if (text is null || close < 0 || close + 2 >= text.Length || text[close + 2] is 'Z' or 'X') gone.Add(r);
        }
        return gone;
    }

    string DescribeRank(int r) => $"{r} (pid {_peers[r].Pid} on {_peers[r].Host})";

    string TerminatedMessage()
    {
        var gone = GoneOnThisHost();
        string who = gone.Count > 0
            ? $"lost rank {string.Join(", ", gone.Select(DescribeRank))}: its process has exited"
            : "a rank on another host failed or the job was cancelled (see the launcher's message)";
        return $"cleft: MPI rank {Rank} of {Size}: stopped by the launcher (SIGTERM) during {_inFlight}; {who}";
    }

    /// <summary>Every rank's pid and host name (fixed-size records in one all-gather).</summary>
    (int, string)[] ExchangePeers()
    {
        const int record = 4 + HostBytes;
        var all = GC.AllocateArray<byte>(record * Size, pinned: true);
        var mine = all.AsSpan(Rank * record, record);
        BitConverter.TryWriteBytes(mine, Environment.ProcessId);
        Encoding.UTF8.GetBytes(Environment.MachineName.Length > HostBytes ? Environment.MachineName[..HostBytes] : Environment.MachineName, mine[4..]);
        fixed (byte* p = all)
        {
            IntPtr request;
            Check(_mpi.Iallgather((void*)1, 0, _mpi.Byte, p, record, _mpi.Byte, _mpi.CommWorld, &request), "start-up: exchanging process ids");
            Wait(&request, "start-up: exchanging process ids");
        }
        return [.. Enumerable.Range(0, Size).Select(r => (BitConverter.ToInt32(all, r * record),
            Encoding.UTF8.GetString(all, r * record + 4, HostBytes).TrimEnd('\0')))];
    }

    void Check(int rc, string what)
    {
        if (rc != MpiLibrary.Success) throw new InvalidOperationException($"MPI rank {Rank}: {what}: {_mpi.Describe(rc)}");
    }

    public void Abandon() => _broken = true;

    /// <summary>
    /// MPI_Finalize when the job is healthy. After a lost rank it is skipped (it would wait for the dead rank); the
    /// process then exits non-zero without finalising, which makes mpirun stop the remaining ranks.
    /// </summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _sigterm?.Dispose();
        if (_broken) return;
        foreach (var r in _pongsSent) { var x = r; _mpi.RequestFree(&x); }
        _mpi.Finalize();
    }
}
