using Cleft.Kernels;

namespace Cleft.Autograd;

public static partial class Ops
{
    /// <summary>
    /// The same elements under another shape, sharing x's storage (no copy). One axis may be -1: it takes
    /// whatever size makes the element counts match.
    /// </summary>
    public static Tensor Reshape(Tensor x, params int[] shape)
    {
        var target = ResolveShape(x, shape);
        return View("Reshape", x, target);
    }

    /// <summary>A recorded view: new shape, shared storage, the gradient viewed back.</summary>
    static Tensor View(string op, Tensor x, int[] shape) => new ViewFn(op, x).Attach(x.ViewAs(shape));

    static int[] ResolveShape(Tensor x, int[] shape)
    {
        const string op = "Reshape";
        ArgumentNullException.ThrowIfNull(shape);
        var s = (int[])shape.Clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == -1)
            {
                if (infer >= 0) throw new ArgumentException($"{op}: {x.Describe()} to {ShapeUtil.Format(shape)}: only one axis may be -1");
                infer = i;
            }
            else if (s[i] <= 0) throw new ArgumentException($"{op}: {x.Describe()} to {ShapeUtil.Format(shape)}: sizes must be positive or -1");
            else known *= s[i];
        }
        if (infer >= 0)
        {
            if (x.Length % known != 0)
                throw new ArgumentException($"{op}: cannot infer the -1 axis of {ShapeUtil.Format(shape)} from {x.Describe()} ({x.Length} elements)");
            s[infer] = (int)(x.Length / known);
            known *= s[infer];
        }
        if (known != x.Length)
            throw new ArgumentException($"{op}: {x.Describe()} has {x.Length} elements, {ShapeUtil.Format(shape)} has {known}");
        return s;
    }

    /// <summary>Swaps two axes (a copy: every tensor is contiguous).</summary>
    public static Tensor Transpose(Tensor x, int axis0, int axis1)
    {
        int a = ShapeUtil.Axis("Transpose", x, axis0), b = ShapeUtil.Axis("Transpose", x, axis1);
        var perm = Enumerable.Range(0, x.Rank).ToArray();
        (perm[a], perm[b]) = (perm[b], perm[a]);
        return PermuteFn.Apply("Transpose", x, perm);
    }

    /// <summary>Reorders axes: output axis k is input axis perm[k] (negative entries count from the end).</summary>
    public static Tensor Permute(Tensor x, params int[] perm) => PermuteFn.Apply("Permute", x, perm);

    sealed class ViewFn(string name, Tensor x) : Function(name, x)
    {
        // A view of the incoming gradient; the engine owns each gradient it receives exclusively, and this
        // one has a single consumer, so sharing storage with g is safe.
        protected internal override Tensor?[] Backward(Tensor g) => [g.ViewAs(x.Shape)];
    }

    sealed class PermuteFn : Function
    {
        readonly int[] _outShape, _inverse;

        PermuteFn(string name, Tensor x, int[] outShape, int[] inverse) : base(name, x) { _outShape = outShape; _inverse = inverse; }

        public static Tensor Apply(string op, Tensor x, int[] perm)
        {
            ArgumentNullException.ThrowIfNull(perm);
            if (x.Rank > PermuteArgs.MaxRank)
                throw new ArgumentException($"{op}: {x.Describe()} has more than {PermuteArgs.MaxRank} axes");
            if (perm.Length != x.Rank)
                throw new ArgumentException($"{op}: permutation {ShapeUtil.Format(perm)} has {perm.Length} axes for {x.Describe()}");
            var p = new int[perm.Length];
            var inverse = new int[perm.Length];
            var seen = new bool[perm.Length];
            for (int k = 0; k < perm.Length; k++)
            {
                int a = perm[k] < 0 ? perm[k] + x.Rank : perm[k];
                if (a < 0 || a >= x.Rank || seen[a])
                    throw new ArgumentException($"{op}: {ShapeUtil.Format(perm)} is not a permutation of the axes of {x.Describe()}");
                seen[a] = true;
                p[k] = a;
                inverse[a] = k;
            }
            var outShape = p.Select(a => x.Shape[a]).ToArray();
            var y = Tensor.Empty(x.Device, outShape);
            x.Device.Permute(x.Buffer, y.Buffer, x.Length, PermuteArgs.Create(x.Shape, p));
            return new PermuteFn(op, x, outShape, inverse).Attach(y);
        }

        protected internal override Tensor?[] Backward(Tensor g)
        {
            var dx = Tensor.Empty(g.Device, _inverse.Select(a => _outShape[a]).ToArray());
            g.Device.Permute(g.Buffer, dx.Buffer, g.Length, PermuteArgs.Create(_outShape, _inverse));
            return [dx];
        }
    }
}
