using Cleft.Kernels.Cpu;

namespace Cleft.Tests.Cpu;

/// <summary>The CPU backend's loop runner: every item exactly once, nesting and concurrent callers safe, errors surfaced.</summary>
public sealed class CpuParallelTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(17)]
    [InlineData(1000)]
    [InlineData(100_003)]
    public void EveryItemRunsExactlyOnce(int count)
    {
        for (int repeat = 0; repeat < 20; repeat++)
        {
            var hits = new int[count];
            CpuParallel.For(count, i => Interlocked.Increment(ref hits[i]));
            int bad = Array.FindIndex(hits, h => h != 1);
            Assert.True(bad < 0, $"count {count}, repeat {repeat}: item {bad} ran {(bad < 0 ? 0 : hits[bad])} times");
        }
    }

    [Fact]
    public void ANestedLoopRunsOnItsCallerAndCompletes()
    {
        var hits = new int[16 * 300];
        CpuParallel.For(16, i => CpuParallel.For(300, j => Interlocked.Increment(ref hits[i * 300 + j])));
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void ConcurrentCallersEachGetTheirWholeLoop()
    {
        const int callers = 4, loops = 200, count = 257;
        var sums = new long[callers];
        var threads = Enumerable.Range(0, callers).Select(t => new Thread(() =>
        {
            for (int l = 0; l < loops; l++)
            {
                var hits = new int[count];
                CpuParallel.For(count, i => Interlocked.Increment(ref hits[i]));
                sums[t] += hits.Sum();
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.All(sums, s => Assert.Equal((long)loops * count, s));
    }

    [Fact]
    public void AnExceptionReachesTheCallerAndTheRunnerKeepsWorking()
    {
        var e = Assert.Throws<InvalidOperationException>(() =>
            CpuParallel.For(100, i => { if (i == 57) throw new InvalidOperationException("item 57 failed"); }));
        Assert.Equal("item 57 failed", e.Message);
        var hits = new int[1000];
        CpuParallel.For(hits.Length, i => Interlocked.Increment(ref hits[i]));
        Assert.All(hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void TheWorkersTakePartWhenThereAreCores()
    {
        if (Environment.ProcessorCount < 2) return;
        // Another test may hold the runner (its loop then runs serially here), so try a few times.
        for (int attempt = 0; attempt < 50; attempt++)
        {
            var ids = new int[64];
            CpuParallel.For(ids.Length, i =>
            {
                ids[i] = Environment.CurrentManagedThreadId;
                var until = DateTime.UtcNow.AddTicks(2_000); // 0.2 ms of work per item
                while (DateTime.UtcNow < until) { }
            });
            if (ids.Distinct().Count() > 1) return;
        }
        Assert.Fail("64 items of 0.2 ms ran on one thread in 50 loops out of 50: the workers never joined");
    }
}
