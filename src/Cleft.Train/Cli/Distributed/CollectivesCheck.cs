using System.Globalization;
using Cleft.Autograd;
using Cleft.Autograd.Distributed;
using Cleft.Kernels;
using Cleft.Kernels.Distributed;

namespace Cleft.Train.Cli;

/// <summary>
/// `cleft devices --dist-check mpi|nccl`: every collective of a communicator against values each rank can
/// predict, then data parallel itself — a contrastive loss over gathered features (<see cref="Ops.AllGather"/>) with
/// averaged gradients must give the gradients one process computes on the whole batch. Run it under
/// `mpirun -np N` (any N) or alone (one rank); scripts/gpu-check.sh runs it with NCCL on a GPU.
/// </summary>
public static class CollectivesCheck
{
    const int N = 5, Rows = 3, Dim = 8;

    /// <summary>Writes one line per check (rank 0 only); returns how many failed on this rank.</summary>
    public static int Run(IBackend device, ICommunicator comm, TextWriter output)
    {
        int failed = 0;
        void Report(string name, double error, double tolerance)
        {
            bool ok = error <= tolerance;
            if (!ok) failed++;
            if (comm.Rank == 0 || !ok)
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{comm.Kind} rank {comm.Rank} of {comm.Size}: {name,-34} max error {error:0.##e+00}  {(ok ? "ok" : "FAILED")}"));
        }
        int r = comm.Rank, s = comm.Size;

        var mine = Enumerable.Range(0, N).Select(i => (r + 1f) * (i + 1)).ToArray();
        Report("all-reduce sum", Error(AllReduce(device, comm, mine, ReduceOp.Sum), i => (i + 1) * s * (s + 1) / 2.0), 0);
        Report("all-reduce average", Error(AllReduce(device, comm, mine, ReduceOp.Average), i => (i + 1) * (s + 1) / 2.0), 1e-6);

        using (var send = Tensor.FromArray(device, [.. Enumerable.Range(0, N).Select(i => r * 100f + i)], N))
        using (var all = Tensor.Empty(device, N * s))
        {
            comm.AllGather(send.Buffer, all.Buffer, "check: all-gather");
            Report("all-gather", Error(all.ToArray(), i => i / N * 100 + i % N), 0);
        }
        using (var b = Tensor.FromArray(device, mine, N))
        {
            comm.Broadcast([b.Buffer], s - 1, "check: broadcast");
            Report($"broadcast from rank {s - 1}", Error(b.ToArray(), i => s * (i + 1.0)), 0);
        }
        Span<byte> bytes = [(byte)(r + 7), (byte)r];
        comm.Broadcast(bytes, 0, "check: broadcast bytes");
        Report("broadcast bytes from rank 0", Math.Abs(bytes[0] - 7) + bytes[1], 0);
        comm.Barrier("check: barrier");
        Report("barrier", 0, 0);

        var (dataParallel, oneProcess) = (Gradients(device, comm, s), Gradients(device, new SingleProcess(), s));
        // Relative to the largest gradient: the sum over ranks and the 1/N of the mean round differently from one process's sums.
        double largest = oneProcess.Max(e => Math.Abs((double)e));
        Report("gather-with-grad + overlapped mean", dataParallel.Zip(oneProcess, (a, e) => Math.Abs(a - e) / largest).Max(), 1e-5);
        return failed;
    }

    static float[] AllReduce(IBackend device, ICommunicator comm, float[] values, ReduceOp op)
    {
        using var t = Tensor.FromArray(device, values, values.Length);
        comm.AllReduce([t.Buffer], op, $"check: all-reduce {op}");
        return t.ToArray();
    }

    static double Error(float[] actual, Func<int, double> expected) => actual.Select((v, i) => Math.Abs(v - expected(i))).Max();

    /// <summary>
    /// Gradients of two shared projections and the logit scale for a CLIP loss over <paramref name="ranks"/> x Rows
    /// seeded rows (the same data on every rank): with a <paramref name="comm"/> of several ranks each rank takes its
    /// Rows rows, gathers the features and averages the gradients (what the stage-1 trainer does); with one rank it
    /// takes all of them, as one process would.
    /// </summary>
    static float[] Gradients(IBackend device, ICommunicator comm, int ranks)
    {
        var rng = new Rng(2024);
        var x = new float[ranks * Rows * Dim];
        var y = new float[x.Length];
        rng.FillNormal(x, 0f, 1f);
        rng.FillNormal(y, 0f, 1f);
        using var scope = new TensorScope();
        using var w = Parameter.Normal(device, rng, 0.3f, Dim, Dim);
        using var v = Parameter.Normal(device, rng, 0.3f, Dim, Dim);
        using var scale = Parameter.Full(device, 2.6f, 1);
        int rows = comm.Size > 1 ? Rows : ranks * Rows, from = comm.Size > 1 ? comm.Rank * Rows : 0;
        var xs = Tensor.FromArray(device, x.AsSpan(from * Dim, rows * Dim), rows, Dim);
        var ys = Tensor.FromArray(device, y.AsSpan(from * Dim, rows * Dim), rows, Dim);
        var img = Ops.L2Normalize(Ops.MatMul(xs, w));
        var txt = Ops.L2Normalize(Ops.MatMul(ys, v));
        if (comm.Size > 1) (img, txt) = (Ops.AllGather(img, comm), Ops.AllGather(txt, comm));
        Parameter[] ps = [w, v, scale];
        // Buckets of 64 floats: three, started one by one during the backward pass as the trainer's are.
        var mean = new DataParallel(comm).BeginGradientMean(ps, "check: gradient mean", bucketFloats: Dim * Dim);
        Ops.ContrastiveLoss(img, txt, scale).Backward(leafDone: mean is null ? null : mean.LeafDone);
        mean?.Finish();
        return [.. ps.SelectMany(p => p.Grad!.ToArray())];
    }
}
