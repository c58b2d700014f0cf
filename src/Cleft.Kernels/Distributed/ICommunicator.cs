namespace Cleft.Kernels.Distributed;

/// <summary>How <see cref="ICommunicator.AllReduce"/> combines the ranks' values.</summary>
public enum ReduceOp { Sum, Average }

/// <summary>
/// The collectives data-parallel training needs, on flat device buffers (Kernels knows nothing of tensors; the
/// autograd op that gathers features and the gradient averaging sit above it in Cleft.Autograd). Every rank must
/// call the same collectives in the same order with the same sizes. <c>what</c> names the call in errors
/// ("step 12: gradient all-reduce"), so a job that stops says where. A rank that is lost (killed, crashed, hung)
/// makes the others throw <see cref="RankLostException"/> naming it instead of waiting forever.
/// Implementations: <see cref="SingleProcess"/> (one rank, no library), <see cref="MpiCommunicator"/> (Open MPI,
/// host buffers) and <see cref="NcclCommunicator"/> (NCCL on CUDA device buffers, bootstrapped over MPI).
/// </summary>
public interface ICommunicator : IDisposable
{
    /// <summary>"none", "mpi" or "nccl" (the console's --dist names).</summary>
    string Kind { get; }
    int Rank { get; }
    int Size { get; }

    /// <summary>
    /// In place on every buffer (each buffer's full <see cref="DeviceBuffer{T}.Length"/>): the element-wise sum, or
    /// the mean, over ranks. Implementations pack the buffers into a few large messages (buckets).
    /// </summary>
    void AllReduce(IReadOnlyList<DeviceBuffer<float>> buffers, ReduceOp op, string what);

    /// <summary>
    /// Starts an all-reduce like <see cref="AllReduce"/> (one message: the caller buckets) and returns at once, so
    /// compute can go on while it travels; the buffers must be left alone until <see cref="IPendingCollective.Wait"/>.
    /// Every rank must start the same collectives in the same order.
    /// </summary>
    IPendingCollective StartAllReduce(IReadOnlyList<DeviceBuffer<float>> buffers, ReduceOp op, string what);

    /// <summary>receive = the ranks' <paramref name="send"/> buffers one after another in rank order (receive.Length = Size * send.Length).</summary>
    void AllGather(DeviceBuffer<float> send, DeviceBuffer<float> receive, string what);

    /// <summary>Every buffer takes <paramref name="root"/>'s values.</summary>
    void Broadcast(IReadOnlyList<DeviceBuffer<float>> buffers, int root, string what);

    /// <summary>Host bytes take <paramref name="root"/>'s values (small control data: NCCL's id, fingerprints).</summary>
    void Broadcast(Span<byte> data, int root, string what);

    /// <summary>Returns once every rank has called it.</summary>
    void Barrier(string what);

    /// <summary>
    /// This rank is stopping with an error: <see cref="IDisposable.Dispose"/> will then release the library without
    /// waiting for the other ranks (MPI_Finalize would wait for ranks still training); the process's non-zero exit
    /// makes the launcher stop them.
    /// </summary>
    void Abandon();
}

/// <summary>A collective started by <see cref="ICommunicator.StartAllReduce"/>.</summary>
public interface IPendingCollective
{
    /// <summary>Returns when the collective is complete and its results are in the buffers (at most once).</summary>
    void Wait();
}

/// <summary>
/// A rank of the job stopped answering: killed, crashed or hung past the timeout. Raised on the ranks that are
/// still alive so they exit with this message instead of hanging in a collective. An IOException so the console
/// reports it as a failure of the work (exit code 1).
/// </summary>
public sealed class RankLostException(string message, IReadOnlyList<int> lostRanks) : IOException(message)
{
    /// <summary>The ranks that did not answer (empty when the library could not tell).</summary>
    public IReadOnlyList<int> LostRanks { get; } = lostRanks;
}

/// <summary>One process: every collective is the identity (a mean over one rank is the value itself).</summary>
public sealed class SingleProcess : ICommunicator
{
    public string Kind => "none";
    public int Rank => 0;
    public int Size => 1;

    public void AllReduce(IReadOnlyList<DeviceBuffer<float>> buffers, ReduceOp op, string what) { }
    public IPendingCollective StartAllReduce(IReadOnlyList<DeviceBuffer<float>> buffers, ReduceOp op, string what) => Collectives.Done;

    public void AllGather(DeviceBuffer<float> send, DeviceBuffer<float> receive, string what)
    {
        Collectives.CheckGather(this, send, receive, what);
        send.Owner.CopyBlock(send, 0, 0, receive, 0, 0, 1, send.Length);
    }

    public void Broadcast(IReadOnlyList<DeviceBuffer<float>> buffers, int root, string what) => Collectives.CheckRoot(this, root, what);
    public void Broadcast(Span<byte> data, int root, string what) => Collectives.CheckRoot(this, root, what);
    public void Barrier(string what) { }
    public void Abandon() { }
    public void Dispose() { }
}

/// <summary>Argument checks every implementation shares (a wrong size would corrupt or hang the job, so it fails here first).</summary>
public static class Collectives
{
    /// <summary>Gradient bucket size: PyTorch DDP's 25 MB, in floats.</summary>
    public const int BucketFloats = 25 << 18;

    /// <summary>A collective that had nothing to wait for.</summary>
    public static IPendingCollective Done { get; } = new Completed();

    sealed class Completed : IPendingCollective { public void Wait() { } }

    public static void CheckGather(ICommunicator c, DeviceBuffer<float> send, DeviceBuffer<float> receive, string what)
    {
        ArgumentNullException.ThrowIfNull(send);
        ArgumentNullException.ThrowIfNull(receive);
        if (receive.Length != send.Length * c.Size)
            throw new ArgumentException($"{what}: all-gather of {send.Length} values from each of {c.Size} ranks needs a receive buffer of {send.Length * c.Size}, got {receive.Length}");
        if (!ReferenceEquals(send.Owner, receive.Owner)) throw new ArgumentException($"{what}: all-gather buffers belong to different devices");
    }

    public static void CheckRoot(ICommunicator c, int root, string what)
    {
        if (root < 0 || root >= c.Size) throw new ArgumentOutOfRangeException(nameof(root), $"{what}: root rank {root} is not in [0, {c.Size})");
    }
}
