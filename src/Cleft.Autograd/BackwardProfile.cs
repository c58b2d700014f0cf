using System.Diagnostics;

namespace Cleft.Autograd;

/// <summary>
/// Opt-in wall-clock time of the backward pass per op (issue 10's profile): while a profile is recording on a
/// thread, <see cref="Autograd.Backward"/> charges each node's backward to its op name and the summing of
/// gradients into parents and leaves to "(accumulate)". Kernels run synchronously on the managed CPU backend, so
/// the times are the ops' own; on an asynchronous device they measure launch cost only.
/// </summary>
public sealed class BackwardProfile
{
    public const string Accumulate = "(accumulate)";
    [ThreadStatic] static BackwardProfile? _active;
    readonly Dictionary<string, (long Ticks, long Calls)> _ops = new(StringComparer.Ordinal);

    internal static BackwardProfile? Active => _active;

    /// <summary>Records every backward pass run on this thread until the returned scope is disposed.</summary>
    public IDisposable Record()
    {
        var previous = _active;
        _active = this;
        return new Restore(previous);
    }

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

    sealed class Restore(BackwardProfile? previous) : IDisposable
    {
        bool _done;
        public void Dispose() { if (!_done) { _done = true; _active = previous; } }
    }
}
