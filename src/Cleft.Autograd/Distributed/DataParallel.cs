using Cleft.Kernels.Distributed;

namespace Cleft.Autograd.Distributed;

/// <summary>
/// What data-parallel training does besides gathering features: start every rank from rank 0's weights and,
/// after each backward, replace every gradient by its mean over ranks (PyTorch DDP's rule), so the optimizer step
/// that follows is the same on every rank: after the backward (<see cref="AverageGradients"/>: the communicator
/// buckets the list) or overlapping it (<see cref="BeginGradientMean"/>: 25 MB buckets started as they fill).
/// Parameters are walked in the module's fixed order, so every rank sends the same buffers in the same order.
/// </summary>
public sealed class DataParallel(ICommunicator communicator)
{
    public ICommunicator Communicator { get; } = communicator ?? throw new ArgumentNullException(nameof(communicator));
    public int Rank => Communicator.Rank;
    public int Size => Communicator.Size;
    /// <summary>Rank 0: the rank that writes the run folder, checkpoints and metrics.</summary>
    public bool IsRoot => Communicator.Rank == 0;

    /// <summary>Every rank takes rank 0's values of <paramref name="parameters"/>.</summary>
    public void BroadcastParameters(IEnumerable<Parameter> parameters, string what = "start-up: broadcasting rank 0's weights")
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (Size > 1) Communicator.Broadcast([.. parameters.Select(p => Whole(p, what))], 0, what);
    }

    /// <summary>Each parameter's gradient becomes its mean over ranks (parameters without one are skipped on every rank alike).</summary>
    public void AverageGradients(IEnumerable<Parameter> parameters, string what)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (Size > 1) Communicator.AllReduce([.. parameters.Where(p => p.Grad is not null).Select(p => Whole(p.Grad!, what))], ReduceOp.Average, what);
    }

    /// <summary>
    /// A gradient mean that overlaps the backward pass: pass its <see cref="GradientMean.LeafDone"/> to
    /// <see cref="Tensor.Backward"/>, then call <see cref="GradientMean.Finish"/>. Null with one rank.
    /// </summary>
    /// <param name="bucketFloats">Bucket size (default: DDP's 25 MB); smaller in checks, to have several buckets.</param>
    public GradientMean? BeginGradientMean(IEnumerable<Parameter> parameters, string what, int bucketFloats = Collectives.BucketFloats)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        return Size > 1 ? new GradientMean(Communicator, parameters, what, bucketFloats) : null;
    }

    /// <summary>Each value summed over ranks (losses, counts: a few numbers, through one small device buffer).</summary>
    public float[] SumOverRanks(Kernels.IBackend device, params float[] values)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (Size == 1) return values;
        using var t = Tensor.Create(device, [values.Length], scoped: false);
        device.CopyFromHost<float>(values, t.Buffer);
        Communicator.AllReduce([t.Buffer], Kernels.Distributed.ReduceOp.Sum, "sum over ranks");
        return t.ToArray();
    }

    // A collective works on whole buffers; a tensor sharing a larger one would send the neighbour's values too.
    internal static Kernels.DeviceBuffer<float> Whole(Tensor t, string what) => t.Buffer.Length == t.Length ? t.Buffer
        : throw new InvalidOperationException($"{what}: {t.Describe()} is a view of a larger buffer ({t.Buffer.Length} values); collectives need whole buffers");
}
