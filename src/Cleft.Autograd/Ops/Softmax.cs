namespace Cleft.Autograd;

public static partial class Ops
{
    /// <summary>Softmax over the last axis.</summary>
    public static Tensor Softmax(Tensor x) => SoftmaxFn.Apply(x, log: false);

    /// <summary>Log-softmax over the last axis (stable: the row maximum is subtracted first).</summary>
    public static Tensor LogSoftmax(Tensor x) => SoftmaxFn.Apply(x, log: true);

    sealed class SoftmaxFn : Function
    {
        // The backward needs the output, not the input.
        readonly Tensor _y;
        readonly int _rows, _cols;
        readonly bool _log;

        SoftmaxFn(string name, Tensor x, Tensor y, int rows, int cols, bool log) : base(name, x)
        { _y = Save(y); _rows = rows; _cols = cols; _log = log; }

        public static Tensor Apply(Tensor x, bool log)
        {
            string op = log ? "LogSoftmax" : "Softmax";
            Check.Rank(op, x, 1);
            int cols = x.Dim(-1);
            int rows = AsInt(op, x.Length / cols, "row count");
            var y = Tensor.Empty(x.Device, x.Shape);
            x.Device.Softmax(x.Buffer, y.Buffer, rows, cols, log);
            if (!Function.NeedsGrad(x)) return y;
            return new SoftmaxFn(op, x, y, rows, cols, log).Attach(y);
        }

        protected internal override Tensor?[] Backward(Tensor g)
        {
            var dx = Tensor.Empty(g.Device, g.Shape);
            g.Device.SoftmaxBackward(_y.Buffer, g.Buffer, dx.Buffer, _rows, _cols, _log);
            return [dx];
        }
    }
}
