using System.Text.RegularExpressions;
using Cleft.Autograd;
using Cleft.Kernels.Cpu;
using Cleft.Kernels.Distributed;
using Cleft.Tests.Cli;

namespace Cleft.Tests.Distributed;

/// <summary>
/// The communicators on their own: the one-process one in this process, and Open MPI's under `mpirun -np 3` through
/// `cleft devices --dist-check mpi`, which checks every collective against values each rank can predict and the
/// gather-with-grad op plus gradient averaging against one process's gradients on the whole batch.
/// </summary>
public sealed class CommunicatorTests
{
    [Fact]
    public void SingleProcessCollectivesAreTheIdentityAndCheckTheirArguments()
    {
        using var dev = new CpuBackend();
        var comm = new SingleProcess();
        using var a = Tensor.FromArray(dev, [1f, 2f, 3f], 3);
        using var b = Tensor.Empty(dev, 3);
        comm.AllReduce([a.Buffer], ReduceOp.Average, "test");
        comm.AllGather(a.Buffer, b.Buffer, "test");
        Assert.Equal([1f, 2f, 3f], b.ToArray());
        Assert.Equal([1f, 2f, 3f], a.ToArray());
        using var wrong = Tensor.Empty(dev, 4);
        var e = Assert.Throws<ArgumentException>(() => comm.AllGather(a.Buffer, wrong.Buffer, "step 3: features"));
        Assert.Contains("step 3: features", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => comm.Broadcast([a.Buffer], 1, "test"));
    }

    [Fact]
    public void AllGatherOfOneRankPassesGradientsThrough()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        var x = Tensor.FromArray(dev, [1f, -2f, 3f, 4f], 2, 2);
        x.RequiresGrad = true;
        var y = Ops.AllGather(x, new SingleProcess());
        Assert.Equal(new[] { 2, 2 }, y.Shape);
        Ops.Sum(Ops.Mul(y, y)).Backward();
        Assert.Equal([2f, -4f, 6f, 8f], x.Grad!.ToArray());
    }

    [Fact]
    public void BackwardReportsEachLeafOnceWithItsFinalGradient()
    {
        using var dev = new CpuBackend();
        using var scope = new TensorScope();
        // w feeds two ops (two edges), x one, b none (not in the graph): the overlapped gradient mean
        // must see w only after both contributions.
        var x = Tensor.FromArray(dev, [1f, 2f, 3f], 3);
        var w = Tensor.FromArray(dev, [0.5f, -1f, 2f], 3);
        var b = Tensor.FromArray(dev, [4f], 1);
        foreach (var t in new[] { x, w, b }) t.RequiresGrad = true;
        var loss = Ops.Add(Ops.Sum(Ops.Mul(x, w)), Ops.Sum(Ops.Mul(w, w)));
        var seen = new List<(Tensor Leaf, float[] Grad)>();
        loss.Backward(leafDone: leaf => seen.Add((leaf, leaf.Grad!.ToArray())));
        Assert.Equal(2, seen.Count);
        Assert.Single(seen, s => ReferenceEquals(s.Leaf, x));
        Assert.Equal(w.Grad!.ToArray(), Assert.Single(seen, s => ReferenceEquals(s.Leaf, w)).Grad);
        Assert.Equal([2f, 0f, 7f], w.Grad!.ToArray()); // x + 2w
        Assert.Null(b.Grad);
    }

    [SkippableFact]
    public void MpiCollectivesAndGatherWithGradPassUnderThreeRanks()
    {
        string mpirun = MpiHarness.Require();
        using var job = new MpiHarness.Job(mpirun, 3, ["devices", "--dist-check", "mpi", "--device", "cpu"]);
        Assert.True(job.Wait(TimeSpan.FromSeconds(60)), "the check did not finish within 60 s:\n" + job.Output);
        Assert.True(job.Process.ExitCode == 0, $"exit {job.Process.ExitCode}:\n{job.Output}");
        Assert.Contains("mpi: 3 rank(s) on cpu", job.Output);
        foreach (var check in new[] { "all-reduce sum", "all-reduce average", "all-gather", "broadcast from rank 2", "broadcast bytes from rank 0", "barrier", "gather-with-grad + overlapped mean" })
            Assert.Matches($@"mpi rank 0 of 3: {Regex.Escape(check)} +max error \S+  ok", job.Output);
        Assert.DoesNotContain("FAILED", job.Output);
    }
}
