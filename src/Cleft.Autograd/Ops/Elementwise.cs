using Cleft.Kernels;

namespace Cleft.Autograd;

public static partial class Ops
{
    /// <summary>A copy with its own storage (recorded as identity for autograd unless <paramref name="record"/> is false).</summary>
    public static Tensor Copy(Tensor x, bool record = true)
    {
        var y = Tensor.Empty(x.Device, x.Shape);
        x.Device.CopyBlock(x.Buffer, 0, 0, y.Buffer, 0, 0, 1, x.Length);
        return record ? new CopyFn(x).Attach(y) : y;
    }

    public static Tensor Add(Tensor a, Tensor b) => BinaryFn.Apply(BinaryOp.Add, a, b);
    public static Tensor Sub(Tensor a, Tensor b) => BinaryFn.Apply(BinaryOp.Sub, a, b);
    public static Tensor Mul(Tensor a, Tensor b) => BinaryFn.Apply(BinaryOp.Mul, a, b);
    public static Tensor Div(Tensor a, Tensor b) => BinaryFn.Apply(BinaryOp.Div, a, b);

    /// <summary>y = alpha * x.</summary>
    public static Tensor Scale(Tensor x, float alpha)
    {
        var y = Tensor.Empty(x.Device, x.Shape);
        x.Device.Scale(alpha, x.Buffer, y.Buffer, x.Length);
        return new ScaleFn(x, alpha).Attach(y);
    }

    sealed class CopyFn(Tensor x) : Function("Copy", x)
    {
        protected internal override Tensor?[] Backward(Tensor g) => [g];
    }

    sealed class ScaleFn(Tensor x, float alpha) : Function("Scale", x)
    {
        protected internal override Tensor?[] Backward(Tensor g) => [Scale(g, alpha)];
    }

    /// <summary>
    /// a op b where b is a's shape, a trailing part of it (a bias or row: [.., C] with [C]), a per-row value
    /// ([R, C] with [R, 1]) or a single element. The gradient of b sums over the broadcast.
    /// </summary>
    sealed class BinaryFn : Function
    {
        readonly BinaryOp _op;
        // Add and Sub read no input data in backward. Mul and Div read b for either gradient (the backend's
        // gradient-of-b pass takes b's buffer too) and a for b's gradient: save only those, as torch does.
        readonly Tensor? _a, _b;
        readonly Broadcast _bc;

        BinaryFn(BinaryOp op, Tensor a, Tensor b, Broadcast bc) : base(op.ToString(), a, b)
        {
            _op = op; _bc = bc;
            if (op is BinaryOp.Add or BinaryOp.Sub) return;
            if (b.RequiresGrad) _a = Save(a);
            if (a.RequiresGrad || b.RequiresGrad) _b = Save(b);
        }

        public static Tensor Apply(BinaryOp op, Tensor a, Tensor b)
        {
            string name = op.ToString();
            Check.SameDevice(name, a, b);
            var bc = BroadcastOf(name, a, b);
            var y = Tensor.Empty(a.Device, a.Shape);
            a.Device.Binary(op, a.Buffer, b.Buffer, y.Buffer, a.Length, bc);
            return Function.NeedsGrad(a, b) ? new BinaryFn(op, a, b, bc).Attach(y) : y;
        }

        /// <summary>How b lines up with a, or a message naming both shapes.</summary>
        internal static Broadcast BroadcastOf(string op, Tensor a, Tensor b)
        {
            if (ShapeUtil.Same(a.Shape, b.Shape)) return Broadcast.Same(a.Length);
            if (b.Length == 1) return Broadcast.Scalar;
            // b matches a trailing run of a's axes: a row/bias repeated over the leading axes.
            var sb = b.Shape.AsSpan();
            while (sb.Length > 1 && sb[0] == 1) sb = sb[1..];
            if (sb.Length <= a.Rank && a.Shape.AsSpan(a.Rank - sb.Length).SequenceEqual(sb)) return Broadcast.Row(b.Length);
            // b is a's shape with the last axis 1: one value per row.
            if (b.Rank == a.Rank && b.Shape[^1] == 1 && a.Shape.AsSpan(0, a.Rank - 1).SequenceEqual(b.Shape.AsSpan(0, b.Rank - 1)))
                return Broadcast.PerRow(b.Length, a.Shape[^1]);
            throw new ArgumentException($"{op}: cannot broadcast {b.Describe()} onto {a.Describe()} " +
                "(b must match a, a trailing part of a's shape, a's shape with last axis 1, or be a single value)");
        }

        protected internal override Tensor?[] Backward(Tensor g)
        {
            var dev = g.Device;
            Tensor a = Parents[0], b = Parents[1];
            Tensor? da = null, db = null;
            if (_op == BinaryOp.Mul && b.RequiresGrad && _bc.Divisor == 1 && _bc.Modulus < g.Length)
            {
                // b repeats over a's rows (LayerScale): both gradients in one backend call, no [rows, cols] contribution.
                int cols = (int)_bc.Modulus;
                if (a.RequiresGrad) da = Tensor.Empty(dev, a.Shape);
                db = Tensor.Empty(dev, b.Shape);
                dev.MulRowBackward(_a!.Buffer, _b!.Buffer, g.Buffer, da?.Buffer, db.Buffer, AsInt(Name, g.Length / cols, "rows"), cols);
                return [da, db];
            }
            if (a.RequiresGrad)
            {
                if (_op is BinaryOp.Add or BinaryOp.Sub) da = g;
                else
                {
                    da = Tensor.Empty(dev, a.Shape);
                    dev.Binary(_op, g.Buffer, _b!.Buffer, da.Buffer, g.Length, _bc); // dy*b or dy/b
                }
            }
            if (b.RequiresGrad)
            {
                // d(a + b)/db is dy itself: same-shape b shares g (the engine copies where a parent would keep it), and a
                // broadcast b (a bias) is the reduction of dy, with no per-element contribution pass in between.
                if (_op == BinaryOp.Add && _bc.IsIdentity(g.Length)) db = g;
                else if (_op is BinaryOp.Add or BinaryOp.Sub)
                {
                    // Sub's -dy needs no input data; negating the sum is exact, so it equals the sum of -dy bit for bit.
                    db = Tensor.Empty(dev, b.Shape);
                    if (_bc.IsIdentity(g.Length)) dev.CopyBlock(g.Buffer, 0, 0, db.Buffer, 0, 0, 1, g.Length);
                    else dev.ReduceTo(g.Buffer, db.Buffer, g.Length, _bc);
                    if (_op == BinaryOp.Sub) dev.Scale(-1f, db.Buffer, db.Buffer, db.Length);
                }
                else
                {
                    db = Tensor.Empty(dev, b.Shape);
                    using var contrib = Tensor.Create(dev, g.Shape, scoped: false);
                    dev.BinaryGradB(_op, _a!.Buffer, _b!.Buffer, g.Buffer, contrib.Buffer, g.Length, _bc);
                    if (_bc.IsIdentity(g.Length)) dev.CopyBlock(contrib.Buffer, 0, 0, db.Buffer, 0, 0, 1, g.Length);
                    else dev.ReduceTo(contrib.Buffer, db.Buffer, g.Length, _bc);
                }
            }
            return [da, db];
        }
    }
}
