using Cleft.Kernels;

namespace Cleft.Autograd;

public static partial class Ops
{
    /// <summary>
    /// x + m * scale, with scale [C] over the last axis of m (x and m one shape): a residual stream plus a LayerScale'd
    /// branch (DINOv2's x + ls(f(x))) as one op, equal bit for bit to Add(x, Mul(m, scale)) forward and backward. It
    /// writes the sum in one pass; its backward hands dy to x as it is (the Add before gave x a copy, as dy also went to
    /// the Mul) and takes m's and scale's gradients in one backend pass (<see cref="IBackend.MulRowBackward"/>).
    /// </summary>
    public static Tensor AddScaled(Tensor x, Tensor m, Tensor scale) => AddScaledFn.Apply(x, m, scale);

    sealed class AddScaledFn : Function
    {
        // m for scale's gradient, scale for m's: saved only where a wanted gradient reads them.
        readonly Tensor? _m, _scale;
        readonly int _rows, _cols;

        AddScaledFn(Tensor x, Tensor m, Tensor scale, int rows, int cols) : base("AddScaled", x, m, scale)
        {
            if (scale.RequiresGrad) _m = Save(m);
            if (m.RequiresGrad || scale.RequiresGrad) _scale = Save(scale);
            _rows = rows; _cols = cols;
        }

        public static Tensor Apply(Tensor x, Tensor m, Tensor scale)
        {
            const string op = "AddScaled";
            Check.SameDevice(op, x, m);
            Check.SameDevice(op, x, scale);
            Check.Rank(op, x, 1);
            Check.That(ShapeUtil.Same(x.Shape, m.Shape), op, $"residual {x.Describe()} and branch {m.Describe()} must have one shape");
            Check.That(scale.Rank == 1 && scale.Dim(0) == x.Dim(-1), op, $"scale must be [{x.Dim(-1)}] for {x.Describe()}, got {scale.Describe()}");
            int cols = x.Dim(-1), rows = cols == 0 ? 0 : AsInt(op, x.Length / cols, "rows");
            var y = Tensor.Empty(x.Device, x.Shape);
            x.Device.AddScaledRows(x.Buffer, m.Buffer, scale.Buffer, y.Buffer, rows, cols);
            return NeedsGrad(x, m, scale) ? new AddScaledFn(x, m, scale, rows, cols).Attach(y) : y;
        }

        protected internal override Tensor?[] Backward(Tensor g)
        {
            var dev = g.Device;
            Tensor x = Parents[0], m = Parents[1], scale = Parents[2];
            Tensor? dm = m.RequiresGrad ? Tensor.Empty(dev, m.Shape) : null, dscale = null;
            if (scale.RequiresGrad)
            {
                dscale = Tensor.Empty(dev, scale.Shape);
                dev.MulRowBackward(_m!.Buffer, _scale!.Buffer, g.Buffer, dm?.Buffer, dscale.Buffer, _rows, _cols);
            }
            else if (dm is not null) dev.Binary(BinaryOp.Mul, g.Buffer, _scale!.Buffer, dm.Buffer, g.Length, Broadcast.Row(_cols));
            return [x.RequiresGrad ? g : null, dm, dscale];
        }
    }
}
