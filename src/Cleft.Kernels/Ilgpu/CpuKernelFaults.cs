using System.Diagnostics;
using System.Reflection;
using System.Text;
using ILGPU.Runtime;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Turns a failed bounds check inside a kernel on ILGPU's CPU accelerator into an exception on the thread that
/// waits for the kernel, instead of a dead process.
/// <para>On the CPU accelerator every view access is checked with Trace.Assert ("Index out of range"). The
/// assertion fails on one of the accelerator's own worker threads, where nothing can catch it: the default
/// listener fails fast, and the test host's listener throws, which kills the process just the same. The
/// worker threads are named "ILGPU_{accelerator id}_CPU_...", so a listener installed in front of the others
/// can tell them apart: it records the failure against the accelerator that runs the kernel and returns, and
/// the backend throws at its next synchronisation (<see cref="Slot.ThrowIfFaulted"/>). Throwing on the worker
/// instead would also leave the group's other threads waiting at a barrier forever.</para>
/// <para>After returning, the faulting access goes ahead (one element past a view reads or writes neighbouring
/// memory, as a GPU would), so the launch's results are garbage and the message says so; an index far outside
/// any allocation can still crash the process. Assertions on every other thread go to the listeners that were
/// installed before, unchanged.</para>
/// </summary>
static class CpuKernelFaults
{
    static readonly object Gate = new();
    static readonly List<Slot> Slots = [];
    static FaultListener? _listener;

    /// <summary>Starts recording the failed assertions of a CPU accelerator's worker threads.</summary>
    public static Slot Register(Accelerator accelerator, string device)
    {
        string threadPrefix = ThreadPrefix(accelerator);
        lock (Gate)
        {
            if (_listener is null || !Trace.Listeners.Contains(_listener))
            {
                var previous = Trace.Listeners.Cast<TraceListener>().Where(l => l is not FaultListener).ToArray();
                _listener = new FaultListener(previous);
                Trace.Listeners.Clear();
                Trace.Listeners.Add(_listener);
            }
            var slot = new Slot(threadPrefix, device);
            Slots.Add(slot);
            return slot;
        }
    }

    /// <summary>
    /// ILGPU 1.5 names the CPU accelerator's workers "ILGPU_{accelerator id}_CPU_{processor}_{thread}"; the id is
    /// internal, hence reflection. Should a later ILGPU drop it, every CPU accelerator's workers match "ILGPU_", and
    /// a fault is reported by whichever CPU-accelerator backend synchronises first.
    /// </summary>
    static string ThreadPrefix(Accelerator accelerator)
    {
        var id = typeof(Accelerator).GetProperty("InstanceId", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)?.GetValue(accelerator);
        return id is null ? "ILGPU_" : $"ILGPU_{id}_CPU_";
    }

    static Slot? Find(string? threadName)
    {
        if (threadName is null) return null;
        lock (Gate) return Slots.FirstOrDefault(s => threadName.StartsWith(s.ThreadPrefix, StringComparison.Ordinal));
    }

    /// <summary>The failed assertions of one accelerator, and the kernels it launched, since its last synchronisation.</summary>
    public sealed class Slot(string threadPrefix, string device) : IDisposable
    {
        readonly object _lock = new();
        readonly SortedSet<string> _launched = new(StringComparer.Ordinal);
        string? _first;
        int _count;

        public string ThreadPrefix { get; } = threadPrefix;

        /// <summary>Notes a launch: frames of JIT-inlined kernel code are not reliable, the launch list is.</summary>
        public void Launched(string kernel)
        {
            lock (_lock) _launched.Add(kernel);
        }

        internal void Record(string? message)
        {
            lock (_lock)
            {
                if (_count++ == 0) _first = Describe(message);
            }
        }

        /// <summary>
        /// Call after the accelerator synchronised: throws if a kernel failed an assertion since the last call
        /// (then forgets it, so the next work on the accelerator starts clean).
        /// </summary>
        public void ThrowIfFaulted()
        {
            string first, kernels;
            int count;
            lock (_lock)
            {
                kernels = string.Join(", ", _launched);
                _launched.Clear();
                if (_count == 0) return;
                (first, count) = (_first!, _count);
                (_first, _count) = (null, 0);
            }
            throw new InvalidOperationException(
                $"{device}: a kernel failed a bounds check ({count} failed check{(count == 1 ? "" : "s")}; the outputs of this work are invalid). " +
                $"Kernels launched since the last synchronisation: {kernels}. First failure: {first}");
        }

        public void Dispose()
        {
            lock (Gate) Slots.Remove(this);
        }
    }

    /// <summary>The message, the simulated GPU thread's position, and the kernel frames (ILGPU's own frames dropped).</summary>
    static string Describe(string? message)
    {
        var text = new StringBuilder($"'{message}'");
        try
        {
            // On a CPU-accelerator worker these read the simulated thread's indices.
            text.Append($" at grid index {ILGPU.Grid.Index}, group index {ILGPU.Group.Index}");
        }
        catch (Exception)
        {
            // Not inside a kernel launch after all: the message and the frames still say what failed.
        }
        var frames = new StackTrace(1, false).GetFrames()
            .Select(f => f.GetMethod())
            .Where(m => m?.DeclaringType is { Namespace: { } ns } t && !ns.StartsWith("System", StringComparison.Ordinal)
                && !ns.StartsWith("ILGPU", StringComparison.Ordinal) && t != typeof(CpuKernelFaults) && t.DeclaringType != typeof(CpuKernelFaults))
            .Select(m => $"{m!.DeclaringType!.Name}.{m.Name}")
            .Distinct()
            .Take(4)
            .ToList();
        text.Append(frames.Count > 0 ? $", in {string.Join(" <- ", frames)}" : ", no kernel frames (inlined by the JIT)");
        return text.ToString();
    }

    sealed class FaultListener(TraceListener[] previous) : TraceListener
    {
        public override void Fail(string? message, string? detailMessage)
        {
            if (Find(Thread.CurrentThread.Name) is { } slot) slot.Record(message);
            else foreach (var l in previous) l.Fail(message, detailMessage);
        }

        public override void Fail(string? message) => Fail(message, null);

        public override void Write(string? message)
        {
            foreach (var l in previous) l.Write(message);
        }

        public override void WriteLine(string? message)
        {
            foreach (var l in previous) l.WriteLine(message);
        }

        public override void Flush()
        {
            foreach (var l in previous) l.Flush();
        }
    }
}
