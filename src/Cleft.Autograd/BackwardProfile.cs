using System.Diagnostics;

namespace Cleft.Autograd;

/// <summary>Wall-clock ticks and call counts per op name: the table behind both step profiles.</summary>
public abstract class OpTimes
{
    readonly Dictionary<string, (long Ticks, long Calls)> _ops = new(StringComparer.Ordinal);

    internal void Add(string op, long ticks)
    {
        _ops.TryGetValue(op, out var e);
        _ops[op] = (e.Ticks + ticks, e.Calls + 1);
    }

    public void Clear() => _ops.Clear();

    public double TotalSeconds => _ops.Values.Sum(e => e.Ticks) / (double)Stopwatch.Frequency;

    /// <summary>Per op: seconds and calls, largest first.</summary>
    public IReadOnlyList<(string Op, double Seconds, long Calls)> Entries =>
        _ops.Select(kv => (kv.Key, kv.Value.Ticks / (double)Stopwatch.Frequency, kv.Value.Calls))
            .OrderByDescending(e => e.Item2).ThenBy(e => e.Key, StringComparer.Ordinal).ToList();

    /// <summary>Undoes a Record when disposed (once): puts the thread's previous profile back.</summary>
    private protected sealed class Restore(Action undo) : IDisposable
    {
        bool _done;
        public void Dispose() { if (!_done) { _done = true; undo(); } }
    }
}

/// <summary>
/// Opt-in wall-clock time of the backward pass per op (issue 10's profile): while a profile is recording on a
/// thread, <see cref="Autograd.Backward"/> charges each node's backward to its op name and the summing of
/// gradients into parents and leaves to "(accumulate)". Kernels run synchronously on the managed CPU backend, so
/// the times are the ops' own; on an asynchronous device they measure launch cost only.
/// </summary>
public sealed class BackwardProfile : OpTimes
{
    public const string Accumulate = "(accumulate)";
    [ThreadStatic] static BackwardProfile? _active;

    internal static BackwardProfile? Active => _active;

    /// <summary>Records every backward pass run on this thread until the returned scope is disposed.</summary>
    public IDisposable Record()
    {
        var previous = _active;
        _active = this;
        return new Restore(() => _active = previous);
    }
}

/// <summary>
/// Opt-in wall-clock time of the forward pass per op: while recording on a thread, each op that records itself in
/// the graph (<see cref="Function.Attach"/>) is charged the time since the previous one did, or since
/// <see cref="Mark"/>. So an op's line includes the model code just before it (shape checks, allocation) and the
/// work of ops that record nothing (inputs without gradients), which is where that time goes. Call
/// <see cref="Mark"/> when a forward pass starts, so the time before it is not charged to its first op.
/// </summary>
public sealed class ForwardProfile : OpTimes
{
    [ThreadStatic] static ForwardProfile? _active;
    long _last = Stopwatch.GetTimestamp();

    /// <summary>Records every op attached to a graph on this thread until the returned scope is disposed.</summary>
    public IDisposable Record()
    {
        Mark();
        var previous = _active;
        _active = this;
        return new Restore(() => _active = previous);
    }

    /// <summary>Starts the clock for the next op.</summary>
    public void Mark() => _last = Stopwatch.GetTimestamp();

    internal static void Recorded(string op)
    {
        if (_active is not { } p) return;
        long now = Stopwatch.GetTimestamp();
        p.Add(op, now - p._last);
        p._last = now;
    }

}
