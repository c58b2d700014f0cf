using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Cleft.Kernels.Cpu;

/// <summary>
/// Parallel loops for the CPU backend on workers that stay awake between loops, the way OpenMP runtimes and
/// OpenBLAS's thread server do. Written by hand because no served package offers it: the .NET thread pool parks a
/// worker after a ~70-spin wait, and a training step issues hundreds of loops a few milliseconds apart; on our
/// 2-vCPU VMs a parked worker wakes late enough that Parallel.For often ran a two-part GEMM on one core, or the
/// woken core started its half well after the caller (docs/PERFORMANCE.md, fifth round).
/// <para>
/// One loop runs at a time: the calling thread publishes it, takes items with the workers from a shared counter,
/// and waits (spinning) for the last item. A loop started while another runs - from inside a loop body, or from a
/// second caller thread - runs serially on its caller, so nesting cannot deadlock. Workers spin for
/// <see cref="SpinTicks"/> after their last item, then block until the next loop. Which thread runs an item never
/// changes what the item computes, so results stay independent of scheduling.
/// </para>
/// </summary>
public static class CpuParallel
{
    // How long an idle worker keeps polling before it blocks: long enough to cover the gaps between the ops of a
    // step (an op's bookkeeping between two loops is a few to a few hundred microseconds), short enough that an
    // idle process stops using the cores within a millisecond.
    static readonly long SpinTicks = Stopwatch.Frequency / 1000;

    sealed class Loop(int count, int grain, Action<int> body)
    {
        public readonly int Count = count;
        public readonly Action<int> Body = body;
        public int Next;
        public int Done;
        public Exception? Error;

        /// <summary>Takes runs of <c>grain</c> items and runs them until none are left.</summary>
        public void Work()
        {
            int start;
            while ((start = Interlocked.Add(ref Next, grain) - grain) < Count)
            {
                int end = Math.Min(Count, start + grain);
                try { for (int i = start; i < end; i++) Body(i); }
                catch (Exception e) { Interlocked.CompareExchange(ref Error, e, null); }
                Interlocked.Add(ref Done, end - start);
            }
        }
    }

    sealed class Worker
    {
        public readonly SemaphoreSlim Wake = new(0);
        public int Sleeping;
    }

    // The loop workers should join; Idle between loops, so the last loop's closure (and the arrays it holds) is let go.
    // Declared before Workers: static fields initialise in this order, and the workers read Idle as they start.
    static readonly Loop Idle = new(0, 1, _ => { });
    static Loop current = Idle;
    static int busy;
    static readonly Worker[] Workers = StartWorkers(Environment.ProcessorCount - 1);

    /// <summary>
    /// False runs every loop on .NET's Parallel.For instead: the baseline the workers were measured against
    /// (docs/PERFORMANCE.md, fifth round). Results are the same either way.
    /// </summary>
    public static bool UseWorkers { get; set; } = true;

    /// <summary>Number of threads a loop can use (the caller and the workers).</summary>
    public static int Threads => Workers.Length + 1;

    /// <summary>Runs body(0) .. body(count - 1), each once, on the caller and the workers.</summary>
    public static void For(int count, Action<int> body)
    {
        if (count <= 0) return;
        if (!UseWorkers) { Parallel.For(0, count, body); return; }
        if (count == 1 || Workers.Length == 0 || Interlocked.CompareExchange(ref busy, 1, 0) != 0)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        // Runs of items, so that thousands of row items do not each pay a contended increment, yet ~16 runs per
        // thread leave room to even out when one core is slowed.
        var loop = new Loop(count, Math.Max(1, count / (16 * Threads)), body);
        try
        {
            Interlocked.Exchange(ref current, loop);
            foreach (var w in Workers)
                if (Interlocked.Exchange(ref w.Sleeping, 0) == 1) w.Wake.Release();
            loop.Work();
            var spin = new SpinWait();
            while (Volatile.Read(ref loop.Done) < count) spin.SpinOnce(sleep1Threshold: -1);
        }
        finally
        {
            Interlocked.Exchange(ref current, Idle);
            Volatile.Write(ref busy, 0);
        }
        if (loop.Error is { } error) ExceptionDispatchInfo.Capture(error).Throw();
    }

    static Worker[] StartWorkers(int n)
    {
        var workers = new Worker[n];
        for (int i = 0; i < n; i++)
        {
            var w = workers[i] = new Worker();
            new Thread(() => Run(w)) { IsBackground = true, Name = $"cleft-cpu-{i + 1}" }.Start();
        }
        return workers;
    }

    static void Run(Worker w)
    {
        Loop seen = Idle;
        while (true)
        {
            long idleSince = Stopwatch.GetTimestamp();
            Loop loop;
            while ((loop = Volatile.Read(ref current)) == seen)
            {
                if (Stopwatch.GetTimestamp() - idleSince < SpinTicks) { Thread.SpinWait(20); continue; }
                // Announce the nap, then look once more: either we see the new loop here or its publisher sees
                // Sleeping = 1 and wakes us (a stale wake-up only costs one extra pass round this loop).
                Interlocked.Exchange(ref w.Sleeping, 1);
                if (Volatile.Read(ref current) == seen) w.Wake.Wait();
                Interlocked.Exchange(ref w.Sleeping, 0);
                idleSince = Stopwatch.GetTimestamp();
            }
            seen = loop;
            loop.Work();
        }
    }
}
