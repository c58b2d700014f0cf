using Cleft.Kernels;

namespace Cleft.Autograd;

public static partial class Ops
{
    /// <summary>Sum of all elements, as a rank-0 tensor.</summary>
    public static Tensor Sum(Tensor x) => ReduceFn.Apply("Sum", x, null, false, mean: false);

    /// <summary>Sum over <paramref name="axis"/> (negative counts from the end); the axis is dropped unless <paramref name="keepDim"/>.</summary>
    public static Tensor Sum(Tensor x, int axis, bool keepDim = false) => ReduceFn.Apply("Sum", x, axis, keepDim, mean: false);

    /// <summary>Mean of all elements, as a rank-0 tensor.</summary>
    public static Tensor Mean(Tensor x) => ReduceFn.Apply("Mean", x, null, false, mean: true);

    /// <summary>Mean over <paramref name="axis"/>: the last axis for features, an inner one for mean pooling over tokens.</summary>
    public static Tensor Mean(Tensor x, int axis, bool keepDim = false) => ReduceFn.Apply("Mean", x, axis, keepDim, mean: true);

    /// <summary>
    /// <paramref name="times"/> copies of x stacked along a new leading axis: [times, ...x]. Shares one learned
    /// token (a CLS token, prompt context vectors) across a batch; the gradient sums over the copies.
    /// </summary>
    public static Tensor Repeat(Tensor x, int times)
    {
        Check.That(times >= 1, "Repeat", $"times must be at least 1, got {times} for {x.Describe()}");
        var y = Tensor.Empty(x.Device, [times, .. x.Shape]);
        x.Device.BroadcastTo(x.Buffer, y.Buffer, y.Length, Broadcast.Row(x.Length));
        return new RepeatFn(x).Attach(y);
    }

    sealed class RepeatFn(Tensor x) : Function("Repeat", x)
    {
        protected internal override Tensor?[] Backward(Tensor g)
        {
            var dx = Tensor.Empty(g.Device, x.Shape);
            g.Device.ReduceTo(g.Buffer, dx.Buffer, g.Length, Broadcast.Row(x.Length));
            return [dx];
        }
    }

    sealed class ReduceFn : Function
    {
        readonly int[] _inShape;
        readonly bool _all;
        readonly long _outer, _inner;
        readonly int _n;
        readonly float _scale;

        ReduceFn(string name, Tensor x, bool all, long outer, int n, long inner, float scale) : base(name, x)
        { _inShape = x.Shape; _all = all; _outer = outer; _n = n; _inner = inner; _scale = scale; }

        public static Tensor Apply(string op, Tensor x, int? axis, bool keepDim, bool mean)
        {
            var dev = x.Device;
            if (axis is null)
            {
                var s = Tensor.Empty(dev);
                dev.ReduceTo(x.Buffer, s.Buffer, x.Length, Broadcast.Scalar);
                float scaleAll = mean ? (float)(1.0 / x.Length) : 1f;
                if (mean) dev.Scale(scaleAll, s.Buffer, s.Buffer, 1);
                return new ReduceFn(op, x, true, 1, 1, 1, scaleAll).Attach(s);
            }
            int a = ShapeUtil.Axis(op, x, axis.Value);
            var (outer, n, inner) = AroundAxis(x.Shape, a);
            var y = Tensor.Empty(dev, keepDim ? WithAxis(x.Shape, a, 1) : WithoutAxis(x.Shape, a));
            if (inner == 1) dev.ReduceTo(x.Buffer, y.Buffer, x.Length, Broadcast.PerRow(outer, n));
            else if (outer == 1) dev.ReduceTo(x.Buffer, y.Buffer, x.Length, Broadcast.Row(inner));
            else
            {
                // No single broadcast period skips a middle axis: move it last, then it is a per-row sum.
                using var moved = Tensor.Create(dev, [(int)outer, (int)inner, n], scoped: false);
                dev.Permute(x.Buffer, moved.Buffer, x.Length, PermuteArgs.Create([(int)outer, n, (int)inner], [0, 2, 1]));
                dev.ReduceTo(moved.Buffer, y.Buffer, x.Length, Broadcast.PerRow(outer * inner, n));
            }
            float scale = mean ? 1f / n : 1f;
            if (mean) dev.Scale(scale, y.Buffer, y.Buffer, y.Length);
            return new ReduceFn(op, x, false, outer, n, inner, scale).Attach(y);
        }

        protected internal override Tensor?[] Backward(Tensor g)
        {
            var dev = g.Device;
            var dx = Tensor.Empty(dev, _inShape);
            if (_all) dev.BroadcastTo(g.Buffer, dx.Buffer, dx.Length, Broadcast.Scalar);
            else if (_inner == 1) dev.BroadcastTo(g.Buffer, dx.Buffer, dx.Length, Broadcast.PerRow(_outer, _n));
            else if (_outer == 1) dev.BroadcastTo(g.Buffer, dx.Buffer, dx.Length, Broadcast.Row(_inner));
            else
            {
                using var moved = Tensor.Create(dev, [(int)_outer, (int)_inner, _n], scoped: false);
                dev.BroadcastTo(g.Buffer, moved.Buffer, dx.Length, Broadcast.PerRow(_outer * _inner, _n));
                dev.Permute(moved.Buffer, dx.Buffer, dx.Length, PermuteArgs.Create([(int)_outer, (int)_inner, _n], [0, 2, 1]));
            }
            if (_scale != 1f) dev.Scale(_scale, dx.Buffer, dx.Buffer, dx.Length);
            return [dx];
        }
    }
}
