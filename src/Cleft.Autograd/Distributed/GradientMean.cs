using Cleft.Kernels.Distributed;

namespace Cleft.Autograd.Distributed;

/// <summary>
/// The gradient mean of one step, overlapped with its backward pass as PyTorch DDP does it: parameters are put in
/// buckets of about 25 MB in reverse order (backward reaches the last layers first); pass <see cref="LeafDone"/>
/// to <see cref="Tensor.Backward"/>, and a bucket's all-reduce starts as soon as the last of its gradients is
/// final, while the backward pass goes on. <see cref="Finish"/> starts the buckets that were never completed
/// (parameters reached only through parts of the graph no gradient flowed into) and waits for all of them.
/// Every rank runs the same graph, so buckets start in the same order everywhere.
/// </summary>
public sealed class GradientMean
{
    readonly ICommunicator _comm;
    readonly string _what;
    readonly List<Parameter[]> _buckets = [];
    readonly Dictionary<Tensor, int> _bucketOf = new(ReferenceEqualityComparer.Instance);
    readonly int[] _waiting;
    readonly bool[] _started;
    readonly List<IPendingCollective> _inFlight = [];

    internal GradientMean(ICommunicator comm, IEnumerable<Parameter> parameters, string what, int bucketFloats)
    {
        if (bucketFloats <= 0) throw new ArgumentOutOfRangeException(nameof(bucketFloats), $"bucket size must be positive, got {bucketFloats}");
        _comm = comm;
        _what = what;
        var current = new List<Parameter>();
        long floats = 0;
        foreach (var p in parameters.Reverse())
        {
            if (current.Count > 0 && floats + p.Length > bucketFloats) { _buckets.Add([.. current]); current.Clear(); floats = 0; }
            current.Add(p);
            floats += p.Length;
        }
        if (current.Count > 0) _buckets.Add([.. current]);
        for (int k = 0; k < _buckets.Count; k++)
            foreach (var p in _buckets[k]) _bucketOf[p] = k;
        _waiting = [.. _buckets.Select(b => b.Length)];
        _started = new bool[_buckets.Count];
    }

    /// <summary>Buckets of this step, in the order their all-reduces are started when nothing is late.</summary>
    public int Buckets => _buckets.Count;

    /// <summary>The backward pass's callback: <paramref name="leaf"/>'s gradient is final.</summary>
    public void LeafDone(Tensor leaf)
    {
        if (_bucketOf.TryGetValue(leaf, out int k) && --_waiting[k] == 0) Start(k);
    }

    /// <summary>Starts what is left, then waits for every bucket; afterwards each gradient is its mean over ranks.</summary>
    public void Finish()
    {
        for (int k = 0; k < _buckets.Count; k++) if (!_started[k]) Start(k);
        foreach (var pending in _inFlight) pending.Wait();
        _inFlight.Clear();
    }

    void Start(int k)
    {
        _started[k] = true;
        string what = $"{_what} (bucket {k + 1} of {_buckets.Count})";
        var grads = _buckets[k].Where(p => p.Grad is not null).Select(p => DataParallel.Whole(p.Grad!, what)).ToList();
        if (grads.Count > 0) _inFlight.Add(_comm.StartAllReduce(grads, ReduceOp.Average, what));
    }
}
