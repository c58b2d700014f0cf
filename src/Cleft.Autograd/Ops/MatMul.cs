using Cleft.Kernels;

namespace Cleft.Autograd;

public static partial class Ops
{
    /// <summary>
    /// op(a) @ op(b) over the last two axes. a is [..., M, K] ([..., K, M] with <paramref name="transA"/>);
    /// b is [..., K, N] ([..., N, K] with <paramref name="transB"/>) with the same leading axes, or a plain
    /// matrix shared by the whole batch (a weight).
    /// </summary>
    public static Tensor MatMul(Tensor a, Tensor b, bool transA = false, bool transB = false) => MatMulFn.Apply(a, b, transA, transB, null);

    /// <summary>
    /// A linear layer, y = x op(W) + bias, as one op: the backend adds the bias as it stores the GEMM's output
    /// (<see cref="IBackend.GemmBias"/>) and its gradient (column sums of dy) is taken in the same backward, where
    /// MatMul then Add would hold a second [rows, out] activation and pass over it twice more.
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias, bool transWeight = false) => MatMulFn.Apply(x, weight, false, transWeight, bias);

    sealed class MatMulFn : Function
    {
        // dA reads only B and dB only A: each is saved only when the other's gradient is wanted. The bias's
        // gradient reads only dC, so nothing of it is saved.
        readonly Tensor? _a, _b;
        readonly bool _ta, _tb, _sharedB;
        readonly int _batch, _m, _n, _k;

        MatMulFn(Tensor a, Tensor b, Tensor? bias, bool ta, bool tb, int batch, int m, int n, int k)
            : base(bias is null ? "MatMul" : "Linear", bias is null ? [a, b] : [a, b, bias])
        {
            if (b.RequiresGrad) _a = Save(a);
            if (a.RequiresGrad) _b = Save(b);
            _ta = ta; _tb = tb; _sharedB = b.Rank == 2; _batch = batch; _m = m; _n = n; _k = k;
        }

        public static Tensor Apply(Tensor a, Tensor b, bool ta, bool tb, Tensor? bias)
        {
            string op = bias is null ? "MatMul" : "Linear";
            Check.SameDevice(op, a, b);
            Check.Rank(op, a, 2);
            Check.Rank(op, b, 2);
            int m = ta ? a.Dim(-1) : a.Dim(-2), ka = ta ? a.Dim(-2) : a.Dim(-1);
            int kb = tb ? b.Dim(-1) : b.Dim(-2), n = tb ? b.Dim(-2) : b.Dim(-1);
            string Desc() => $"{a.Describe()}{(ta ? "^T" : "")} x {b.Describe()}{(tb ? "^T" : "")}";
            if (ka != kb) throw new ArgumentException($"{op}: inner dimensions differ ({ka} vs {kb}) in {Desc()}");
            var lead = a.Shape[..^2];
            if (b.Rank > 2 && !ShapeUtil.Same(lead, b.Shape[..^2]))
                throw new ArgumentException($"{op}: batch axes differ in {Desc()}");
            if (bias is not null)
            {
                Check.SameDevice(op, a, bias);
                if (bias.Rank != 1 || bias.Dim(0) != n) throw new ArgumentException($"{op}: bias must be [{n}], got {bias.Describe()} for {Desc()}");
            }
            int batch = (int)ShapeUtil.Count(lead);
            var y = Tensor.Empty(a.Device, [.. lead, m, n]);
            if (bias is not null && b.Rank == 2 && !ta)
                // One GEMM over all rows: the backend adds the bias as it stores C (same bits as GEMM then add).
                a.Device.GemmBias(a.Buffer, b.Buffer, bias.Buffer, y.Buffer, GemmShape.Contiguous(1, batch * m, n, ka, false, tb));
            else
            {
                Run(a.Device, a.Buffer, b.Buffer, y.Buffer, batch, m, n, ka, ta, tb, b.Rank == 2, 0f);
                if (bias is not null) a.Device.Binary(BinaryOp.Add, y.Buffer, bias.Buffer, y.Buffer, y.Length, Broadcast.Row(n));
            }
            bool record = bias is null ? Function.NeedsGrad(a, b) : Function.NeedsGrad(a, b, bias);
            return record ? new MatMulFn(a, b, bias, ta, tb, batch, m, n, ka).Attach(y) : y;
        }

        /// <summary>C = op(A) op(B) (+ beta C); a shared B with untransposed A folds the batch into M: one large GEMM.</summary>
        static void Run(IBackend dev, DeviceBuffer<float> a, DeviceBuffer<float> b, DeviceBuffer<float> c,
            int batch, int m, int n, int k, bool ta, bool tb, bool sharedB, float beta)
        {
            if (sharedB && !ta) dev.Gemm(a, b, c, GemmShape.Contiguous(1, batch * m, n, k, false, tb, beta: beta));
            else dev.Gemm(a, b, c, GemmShape.Contiguous(batch, m, n, k, ta, tb, broadcastB: sharedB, beta: beta));
        }

        protected internal override Tensor?[] Backward(Tensor g)
        {
            var dev = g.Device;
            bool sharedB = _sharedB;
            Tensor? da = null, db = null;
            if (Parents[0].RequiresGrad)
            {
                var b = _b!;
                // dA = dC op(B)^T, stored transposed when A was.
                da = Tensor.Empty(dev, Parents[0].Shape);
                if (!_ta) Run(dev, g.Buffer, b.Buffer, da.Buffer, _batch, _m, _k, _n, false, !_tb, sharedB, 0f);
                else dev.Gemm(b.Buffer, g.Buffer, da.Buffer, new GemmShape(_batch, _k, _m, _n, _tb, true,
                    sharedB ? 0 : (long)_k * _n, (long)_m * _n, (long)_k * _m));
            }
            if (Parents[1].RequiresGrad)
            {
                var a = _a!;
                db = Tensor.Empty(dev, Parents[1].Shape);
                if (sharedB && !_ta)
                {
                    // A shared weight sums its gradient over the batch: fold the batch into the GEMM's K.
                    int rows = _batch * _m;
                    if (!_tb) dev.Gemm(a.Buffer, g.Buffer, db.Buffer, GemmShape.Contiguous(1, _k, _n, rows, transA: true));
                    else dev.Gemm(g.Buffer, a.Buffer, db.Buffer, GemmShape.Contiguous(1, _n, _k, rows, transA: true));
                }
                else if (sharedB)
                {
                    // A transposed and B shared: accumulate batch by batch (one output, so no parallel writers).
                    for (int i = 0; i < _batch; i++)
                        GemmBatchSlice(dev, a, g, db, i);
                }
                else if (!_tb) dev.Gemm(a.Buffer, g.Buffer, db.Buffer, new GemmShape(_batch, _k, _n, _m, !_ta, false,
                    (long)_m * _k, (long)_m * _n, (long)_k * _n));
                else dev.Gemm(g.Buffer, a.Buffer, db.Buffer, new GemmShape(_batch, _n, _k, _m, true, _ta,
                    (long)_m * _n, (long)_m * _k, (long)_n * _k));
            }
            if (Parents.Length == 2) return [da, db]; // no bias
            Tensor? dbias = null;
            if (Parents[2].RequiresGrad)
            {
                dbias = Tensor.Empty(dev, Parents[2].Shape);
                dev.ReduceTo(g.Buffer, dbias.Buffer, g.Length, Broadcast.Row(_n));
            }
            return [da, db, dbias];
        }

        void GemmBatchSlice(IBackend dev, Tensor a, Tensor g, Tensor db, int i)
        {
            // Slices of batch i are addressed by copying into scratch: GEMM takes whole buffers.
            using var ai = Tensor.Create(dev, [_k, _m], scoped: false);
            using var gi = Tensor.Create(dev, [_m, _n], scoped: false);
            dev.CopyBlock(a.Buffer, (long)i * _k * _m, 0, ai.Buffer, 0, 0, 1, (long)_k * _m);
            dev.CopyBlock(g.Buffer, (long)i * _m * _n, 0, gi.Buffer, 0, 0, 1, (long)_m * _n);
            float beta = i == 0 ? 0f : 1f;
            if (!_tb) dev.Gemm(ai.Buffer, gi.Buffer, db.Buffer, GemmShape.Contiguous(1, _k, _n, _m, beta: beta));       // A_i [K,M] @ dC_i
            else dev.Gemm(gi.Buffer, ai.Buffer, db.Buffer, GemmShape.Contiguous(1, _n, _k, _m, transA: true, transB: true, beta: beta));
        }
    }
}
