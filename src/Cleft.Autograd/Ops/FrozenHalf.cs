using Cleft.Kernels;

namespace Cleft.Autograd;

public static partial class Ops
{
    /// <summary>
    /// y = x W (+ b) with a frozen fp16 weight W [in, out] (Conv1D layout), fp32 accumulation. The gradient
    /// flows to x (dx = g W^T, W widened on the fly) and to b if it requires one; never to W.
    /// </summary>
    public static Tensor LinearHalf(Tensor x, HalfTensor weight, Tensor? bias = null) => LinearHalfFn.Apply(x, weight, bias);

    /// <summary>
    /// IA3 scaling (PEFT): y[..., j] = x[..., j] l[j] with a learnable l over the last (feature) axis. Used on
    /// c_attn's output and on mlp.c_proj's input. Backward: dx = dy l and dl = column sums of dy x, fused so no
    /// [rows, features] product is materialised.
    /// </summary>
    public static Tensor Ia3(Tensor x, Tensor l) => Ia3Fn.Apply(x, l);

    // Saves nothing: dx needs only the frozen weight (owned by its module) and db only g, so the input can go as
    // soon as its owner is done with it (a GELU output feeding a frozen c_proj).
    sealed class LinearHalfFn(Tensor x, HalfTensor w, Tensor? bias, int rows) : Function("LinearHalf", bias is null ? [x] : [x, bias])
    {
        public static Tensor Apply(Tensor x, HalfTensor w, Tensor? bias)
        {
            const string op = "LinearHalf";
            var dev = x.Device;
            Check.That(ReferenceEquals(w.Device, dev), op, $"weight {w.Describe()} is on {w.Device.Name}, input {x.Describe()} on {dev.Name}");
            Check.Rank(op, x, 1);
            Check.That(w.Rank == 2, op, $"weight must be [in, out], got {w.Describe()}");
            int inF = w.Dim(0), outF = w.Dim(1);
            Check.That(x.Dim(-1) == inF, op, $"input {x.Describe()} has last axis {x.Dim(-1)}, weight {w.Describe()} expects {inF}");
            if (bias is not null)
            {
                Check.SameDevice(op, x, bias);
                Check.That(bias.Rank == 1 && bias.Dim(0) == outF, op, $"bias must be [{outF}], got {bias.Describe()}");
            }
            int rows = AsInt(op, x.Length / inF, "rows");
            var y = Tensor.Empty(dev, [.. x.Shape[..^1], outF]);
            new BaseWeight(null, w).Gemm(dev, x.Buffer, y.Buffer, GemmShape.Contiguous(1, rows, outF, inF), bias);
            return new LinearHalfFn(x, w, bias, rows).Attach(y);
        }

        protected internal override Tensor?[] Backward(Tensor g)
        {
            var dev = g.Device;
            int inF = w.Dim(0), outF = w.Dim(1);
            Tensor? dx = null, db = null;
            if (x.RequiresGrad)
            {
                dx = Tensor.Empty(dev, x.Shape);
                dev.GemmHalfB(g.Buffer, w.Buffer, dx.Buffer, GemmShape.Contiguous(1, rows, inF, outF, transB: true));
            }
            if (bias is { RequiresGrad: true })
            {
                db = Tensor.Empty(dev, bias.Shape);
                dev.ReduceTo(g.Buffer, db.Buffer, g.Length, Broadcast.Row(outF));
            }
            return bias is null ? [dx] : [dx, db];
        }
    }

    sealed class Ia3Fn : Function
    {
        readonly Tensor _x, _l;

        Ia3Fn(Tensor x, Tensor l) : base("Ia3", x, l) { _x = Save(x); _l = Save(l); }

        public static Tensor Apply(Tensor x, Tensor l)
        {
            const string op = "Ia3";
            Check.SameDevice(op, x, l);
            Check.Rank(op, x, 1);
            Check.That(l.Rank == 1 && l.Dim(0) == x.Dim(-1), op, $"scaling vector must be [{x.Dim(-1)}] for input {x.Describe()}, got {l.Describe()}");
            var y = Tensor.Empty(x.Device, x.Shape);
            x.Device.Binary(BinaryOp.Mul, x.Buffer, l.Buffer, y.Buffer, x.Length, Broadcast.Row(l.Length));
            return NeedsGrad(x, l) ? new Ia3Fn(x, l).Attach(y) : y;
        }

        protected internal override Tensor?[] Backward(Tensor g)
        {
            var dev = g.Device;
            int cols = (int)_l.Length, rows = AsInt("Ia3", _x.Length / cols, "rows");
            var dx = Tensor.Empty(dev, _x.Shape);
            var dl = Tensor.Empty(dev, _l.Shape);
            dev.Ia3Backward(_x.Buffer, _l.Buffer, g.Buffer, dx.Buffer, dl.Buffer, rows, cols);
            return [dx, dl];
        }
    }
}
