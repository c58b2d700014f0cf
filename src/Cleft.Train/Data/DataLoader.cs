using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace Cleft.Train.Data;

/// <summary>
/// One batch on the host: <see cref="Pixels"/> is [Count, 3, Size, Size] normalised floats, with the caption,
/// label and manifest index of each row. Rows of skipped images are left out, so Count can be below the batch size.
/// </summary>
public sealed record ImageBatch(float[] Pixels, int Count, int Size, string[] Captions, int[] Labels, int[] Indices)
{
    /// <summary>The batch's index within its epoch (batches dropped because every image was skipped leave gaps).</summary>
    public int Batch { get; init; }
}

/// <param name="Shuffle">Reshuffle every epoch with a permutation seeded by (Seed, epoch).</param>
/// <param name="Augment">Train augmentation (seeded per sample) instead of the eval transform.</param>
/// <param name="Prefetch">Batches decoded ahead of the consumer (bounded queue).</param>
/// <param name="Workers">Images decoded in parallel inside a batch (the machine has 2 cores).</param>
/// <param name="ShardIndex">Data parallel: this rank decodes only part <paramref name="ShardIndex"/> of <paramref name="ShardCount"/>
/// equal, consecutive parts of every batch (the batch size is the global batch); order, seeds and augmentation stay those
/// of the whole batch, so the ranks' parts together are exactly one process's batch.</param>
public sealed record LoaderOptions(int BatchSize, bool Shuffle = true, ulong Seed = 42, bool Augment = false,
    bool DropLast = false, int Prefetch = 2, int Workers = 2, int ShardIndex = 0, int ShardCount = 1)
{
    public void Validate()
    {
        if (BatchSize <= 0) throw new ArgumentException($"batch size must be positive, got {BatchSize}");
        if (Prefetch <= 0 || Workers <= 0) throw new ArgumentException($"prefetch ({Prefetch}) and workers ({Workers}) must be positive");
        if (ShardCount <= 0 || ShardIndex < 0 || ShardIndex >= ShardCount)
            throw new ArgumentException($"shard {ShardIndex} of {ShardCount} is not a valid shard");
        if (BatchSize % ShardCount != 0)
            throw new ArgumentException($"a global batch of {BatchSize} does not split evenly over {ShardCount} ranks; use a multiple of {ShardCount}");
    }
}

/// <summary>
/// Batches over an <see cref="ImageDataset"/>. A background task decodes up to <c>Prefetch</c> batches ahead
/// (each batch decoded by <c>Workers</c> threads); batches come out in order, and because every sample's
/// augmentation has its own seeded Rng, the pixels do not depend on thread timing. A batch is never empty
/// (see <see cref="DroppedBatches"/>), so an epoch can yield fewer than BatchesPerEpoch. Errors on the producer
/// side are rethrown to the consumer. Stopping the enumeration early cancels the producer.
/// </summary>
public sealed class DataLoader(ImageDataset dataset, LoaderOptions options)
{
    public ImageDataset Dataset { get; } = dataset;
    public LoaderOptions Options { get; } = Checked(options);

    static LoaderOptions Checked(LoaderOptions o) { o.Validate(); return o; }

    int _droppedBatches;

    /// <summary>
    /// Batches <see cref="Epoch"/> left out because every image in them was skipped (only with skipBadImages),
    /// over all epochs so far. The remaining batches keep their order.
    /// </summary>
    public int DroppedBatches => Volatile.Read(ref _droppedBatches);

    public int BatchesPerEpoch => Options.DropLast ? Dataset.Count / Options.BatchSize : (Dataset.Count + Options.BatchSize - 1) / Options.BatchSize;

    /// <summary>Sample order for an epoch: identity, or a permutation seeded by (seed, epoch).</summary>
    public int[] Order(int epoch) => Options.Shuffle
        ? Splits.Permutation(Dataset.Count, Options.Seed * 0x9E3779B97F4A7C15UL + (ulong)(uint)epoch)
        : Enumerable.Range(0, Dataset.Count).ToArray();

    /// <summary>The batches of <paramref name="epoch"/> from batch <paramref name="startBatch"/> on (a resumed run starts mid-epoch).</summary>
    public IEnumerable<ImageBatch> Epoch(int epoch, int startBatch = 0)
    {
        if (startBatch < 0 || startBatch > BatchesPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(startBatch), startBatch, $"an epoch has {BatchesPerEpoch} batches");
        var order = Order(epoch);
        int batches = BatchesPerEpoch;
        using var queue = new BlockingCollection<ImageBatch>(Options.Prefetch);
        using var cts = new CancellationTokenSource();
        ExceptionDispatchInfo? failure = null;
        // LongRunning: a dedicated producer thread, so a busy thread pool (training on 2 cores) cannot starve the prefetcher.
        var producer = Task.Factory.StartNew(() =>
        {
            try
            {
                for (int b = startBatch; b < batches && !cts.IsCancellationRequested; b++)
                {
                    var batch = MakeBatch(order, b, epoch);
                    // Every image of the batch was skipped: an empty batch would reach the model as a zero-row
                    // GEMM and a 0/0 mean loss, so it is left out (and counted) instead.
                    if (batch.Count > 0) queue.Add(batch, cts.Token);
                    else Interlocked.Increment(ref _droppedBatches);
                }
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested) { }
            catch (Exception e) { failure = ExceptionDispatchInfo.Capture(Unwrap(e)); }
            finally { queue.CompleteAdding(); }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            foreach (var batch in queue.GetConsumingEnumerable()) yield return batch;
            producer.Wait();
            failure?.Throw();
        }
        finally
        {
            cts.Cancel();
            try { producer.Wait(); } catch (AggregateException) { } // already reported through 'failure'
        }
    }

    static Exception Unwrap(Exception e) => e is AggregateException { InnerExceptions.Count: > 0 } a ? a.Flatten().InnerExceptions[0] : e;

    /// <summary>
    /// Runs body(0..n) on the calling thread plus workers - 1 fresh threads. Not Parallel.For: its helper tasks
    /// wait in the thread pool queue, and when the pool is busy (a test host; before CpuParallel, training's own loops)
    /// a batch stalled for the pool's ~1 s thread injection. Thread start-up is microseconds; a decode is
    /// milliseconds. The first error stops the remaining work and is rethrown as is.
    /// </summary>
    static void OnDedicatedThreads(int n, int workers, Action<int> body)
    {
        int next = -1;
        Exception? error = null;
        void Work()
        {
            try
            {
                int i;
                while (Volatile.Read(ref error) is null && (i = Interlocked.Increment(ref next)) < n) body(i);
            }
            catch (Exception e) { Interlocked.CompareExchange(ref error, e, null); }
        }
        var threads = new List<Thread>();
        for (int t = 1; t < Math.Min(workers, n); t++)
        {
            var th = new Thread(Work) { IsBackground = true, Name = "cleft-decode" };
            th.Start();
            threads.Add(th);
        }
        Work();
        foreach (var th in threads) th.Join();
        if (error is not null) ExceptionDispatchInfo.Throw(error);
    }

    /// <summary>Decodes batch <paramref name="b"/> of an epoch synchronously (the prefetcher calls this).</summary>
    public ImageBatch MakeBatch(int[] order, int b, int epoch)
    {
        int start = b * Options.BatchSize, n = Math.Min(Options.BatchSize, order.Length - start);
        if (Options.ShardCount > 1)
        {
            // Full batches split evenly (Validate checks the batch size), as feature gathers need; only the last,
            // short batch of a loader without DropLast can split unevenly (or leave a rank nothing: no batch).
            int from = (int)((long)n * Options.ShardIndex / Options.ShardCount), to = (int)((long)n * (Options.ShardIndex + 1) / Options.ShardCount);
            start += from;
            n = to - from;
        }
        int per = Dataset.SampleFloats;
        var pixels = new float[n * per];
        var ok = new bool[n];
        OnDedicatedThreads(n, Options.Workers, i =>
        {
            int index = order[start + i];
            var rng = Options.Augment ? ImageDataset.SampleRng(Options.Seed, epoch, index) : null;
            ok[i] = Dataset.TryLoad(index, pixels.AsSpan(i * per, per), rng);
        });
        int kept = ok.Count(x => x);
        if (kept < n) // compact: move the good rows to the front, in order
        {
            int w = 0;
            for (int i = 0; i < n; i++)
                if (ok[i]) { if (w != i) pixels.AsSpan(i * per, per).CopyTo(pixels.AsSpan(w * per, per)); w++; }
            Array.Resize(ref pixels, kept * per);
        }
        var indices = Enumerable.Range(0, n).Where(i => ok[i]).Select(i => order[start + i]).ToArray();
        var entries = indices.Select(i => Dataset.Manifest.Entries[i]).ToArray();
        return new ImageBatch(pixels, kept, Dataset.Preprocess.CropSize,
            entries.Select(e => e.Caption).ToArray(), entries.Select(e => e.Label).ToArray(), indices) { Batch = b };
    }
}
