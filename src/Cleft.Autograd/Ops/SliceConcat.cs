namespace Cleft.Autograd;

public static partial class Ops
{
    /// <summary>
    /// Elements [start, start + length) along <paramref name="axis"/> (a copy). Splits a fused QKV projection
    /// [.., 3C] into its three [.., C] parts.
    /// </summary>
    public static Tensor Slice(Tensor x, int axis, int start, int length)
    {
        const string op = "Slice";
        int a = ShapeUtil.Axis(op, x, axis);
        int n = x.Shape[a];
        if (start < 0 || length < 1 || (long)start + length > n)
            throw new ArgumentException($"{op}: [{start}, {(long)start + length}) along axis {axis} is not inside [0, {n}) of {x.Describe()}");
        var (outer, _, inner) = AroundAxis(x.Shape, a);
        var y = Tensor.Empty(x.Device, WithAxis(x.Shape, a, length));
        x.Device.CopyBlock(x.Buffer, start * inner, n * inner, y.Buffer, 0, length * inner, outer, length * inner);
        return new SliceFn(x, start, length, outer, n, inner).Attach(y);
    }

    /// <summary>Joins tensors along <paramref name="axis"/>; all other axes must agree (prompt tokens before text tokens).</summary>
    public static Tensor Concat(int axis, params Tensor[] tensors)
    {
        const string op = "Concat";
        ArgumentNullException.ThrowIfNull(tensors);
        if (tensors.Length == 0) throw new ArgumentException($"{op}: no tensors to join");
        var first = tensors[0];
        int a = ShapeUtil.Axis(op, first, axis);
        int total = 0;
        foreach (var t in tensors)
        {
            Check.SameDevice(op, first, t);
            bool match = t.Rank == first.Rank;
            for (int i = 0; match && i < t.Rank; i++) match = i == a || t.Shape[i] == first.Shape[i];
            if (!match)
                throw new ArgumentException($"{op}: shapes {string.Join(", ", tensors.Select(x => x.Describe()))} differ outside axis {axis}");
            total += t.Shape[a];
        }
        var shape = WithAxis(first.Shape, a, total);
        var (outer, _, inner) = AroundAxis(shape, a);
        var y = Tensor.Empty(first.Device, shape);
        long offset = 0;
        foreach (var t in tensors)
        {
            long run = t.Shape[a] * inner;
            first.Device.CopyBlock(t.Buffer, 0, run, y.Buffer, offset, total * inner, outer, run);
            offset += run;
        }
        return new ConcatFn(tensors, a, total, outer, inner).Attach(y);
    }

    sealed class SliceFn(Tensor x, int start, int length, long outer, int n, long inner) : Function("Slice", x)
    {
        protected internal override Tensor?[] Backward(Tensor g)
        {
            var dev = g.Device;
            var dx = Tensor.Empty(dev, x.Shape);
            dev.Fill(dx.Buffer, dx.Length, 0f);
            dev.CopyBlock(g.Buffer, 0, length * inner, dx.Buffer, start * inner, n * inner, outer, length * inner);
            return [dx];
        }
    }

    sealed class ConcatFn(Tensor[] parts, int axis, int total, long outer, long inner) : Function("Concat", parts)
    {
        readonly Tensor[] _parts = (Tensor[])parts.Clone();

        protected internal override Tensor?[] Backward(Tensor g)
        {
            var grads = new Tensor?[_parts.Length];
            long offset = 0;
            for (int i = 0; i < _parts.Length; i++)
            {
                var t = _parts[i];
                long run = t.Shape[axis] * inner;
                if (t.RequiresGrad)
                {
                    var d = Tensor.Empty(g.Device, t.Shape);
                    g.Device.CopyBlock(g.Buffer, offset, total * inner, d.Buffer, 0, run, outer, run);
                    grads[i] = d;
                }
                offset += run;
            }
            return grads;
        }
    }
}
