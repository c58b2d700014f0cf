namespace Cleft.Autograd;

public static partial class Ops
{
    /// <summary>Token embedding: weight [V, C] looked up at ids [...] gives [..., C]; ids must lie in [0, V).</summary>
    public static Tensor Embedding(Tensor weight, IntTensor ids)
    {
        Check.Rank("Embedding", weight, 2, 2);
        return IndexSelectFn.Apply("Embedding", weight, ids);
    }

    /// <summary>
    /// Rows of x picked by index along axis 0: x [R, ...] and index [...] give [...index, ...rest of x].
    /// Gathers one position per sequence (the EOS token) from hidden states reshaped to [B*T, C] with
    /// index b*T + pos[b]; the gradient scatter-adds back, so repeated indices accumulate.
    /// </summary>
    public static Tensor IndexSelect(Tensor x, IntTensor index) => IndexSelectFn.Apply("IndexSelect", x, index);

    sealed class IndexSelectFn : Function
    {
        readonly Tensor _x;
        readonly IntTensor _index;
        readonly int _count, _dim;

        IndexSelectFn(string name, Tensor x, IntTensor index, int count, int dim) : base(name, x)
        { _x = x; _index = index; _count = count; _dim = dim; }

        public static Tensor Apply(string op, Tensor x, IntTensor index)
        {
            ArgumentNullException.ThrowIfNull(index);
            Check.Rank(op, x, 1);
            SameDevice(op, x, index);
            int rows = x.Shape[0];
            if (index.Min < 0 || index.Max >= rows)
                throw new ArgumentException($"{op}: ids {index.ShapeString} range over [{index.Min}, {index.Max}], outside [0, {rows}) for {x.Describe()}");
            int dim = AsInt(op, x.Length / rows, "row length");
            int count = AsInt(op, index.Length, "index count");
            var y = Tensor.Empty(x.Device, [.. index.Shape, .. x.Shape[1..]]);
            x.Device.EmbeddingForward(x.Buffer, index.Buffer, y.Buffer, count, dim);
            return new IndexSelectFn(op, x, index, count, dim).Attach(y);
        }

        protected internal override Tensor?[] Backward(Tensor g)
        {
            var dev = g.Device;
            var dx = Tensor.Empty(dev, _x.Shape);
            dev.Fill(dx.Buffer, dx.Length, 0f);
            dev.EmbeddingBackward(g.Buffer, _index.Buffer, dx.Buffer, _count, _dim);
            return [dx];
        }
    }
}
