using Cleft.Kernels.Distributed;

namespace Cleft.Autograd;

public static partial class Ops
{
    /// <summary>
    /// The rows of every rank's <paramref name="x"/>, rank after rank, on every rank ([Size * N, ...] from [N, ...];
    /// every rank must pass the same shape). It carries gradients as open_clip's gather_with_grad: each rank's loss
    /// on the gathered rows is a function of every rank's rows, so backward all-reduces (sums) the full incoming
    /// gradient over ranks and returns this rank's slice. When every rank computes the same global loss, that sum
    /// is Size times the one-process gradient of these rows; averaging the parameter gradients over ranks (DDP's
    /// rule, <see cref="Distributed.DataParallel.AverageGradients"/>) then leaves exactly the gradient one process
    /// would compute on the global batch. One rank: the identity.
    /// </summary>
    public static Tensor AllGather(Tensor x, ICommunicator group)
    {
        const string op = "AllGather";
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(group);
        Check.Rank(op, x, 1);
        if (group.Size == 1) return x;
        var y = Tensor.Empty(x.Device, WithAxis(x.Shape, 0, AsInt(op, (long)x.Dim(0) * group.Size, "rows")));
        group.AllGather(x.Buffer, y.Buffer, $"{op} of {x.Describe()}");
        return Function.NeedsGrad(x) ? new AllGatherFn(x, group).Attach(y) : y;
    }

    sealed class AllGatherFn(Tensor x, ICommunicator group) : Function("AllGather", x)
    {
        protected internal override Tensor?[] Backward(Tensor g)
        {
            var dev = g.Device;
            using var full = Tensor.Empty(dev, g.Shape);
            dev.CopyBlock(g.Buffer, 0, 0, full.Buffer, 0, 0, 1, g.Length);
            group.AllReduce([full.Buffer], ReduceOp.Sum, $"AllGather backward of {x.Describe()}");
            var dx = Tensor.Empty(dev, x.Shape);
            dev.CopyBlock(full.Buffer, group.Rank * x.Length, 0, dx.Buffer, 0, 0, 1, x.Length);
            return [dx];
        }
    }
}
