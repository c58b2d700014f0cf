using Cleft.Kernels;

namespace Cleft.Autograd;

public static partial class Ops
{
    /// <summary>
    /// Multi-head attention whose heads stay side by side in [B, T, C] rows, as a linear layer writes them: q, k, v
    /// [B, T, C] (a ViT's or BERT's three projections) give o [B, T, C] with the heads merged - HF's split_heads,
    /// <see cref="Attention"/>, merge_heads in one op. Where the backend reads operand layouts
    /// (<see cref="IBackend.AttentionTakesLayouts"/>) nothing is split or merged: the kernel packs each head's rows
    /// straight from the projections and writes o (and dq, dk, dv) in place, so the four [B, T, C] copies each way
    /// are gone. Elsewhere it runs exactly that split / attention / merge. The same values either way, to the bit on
    /// the managed CPU backend.
    /// </summary>
    public static Tensor AttentionTokens(Tensor q, Tensor k, Tensor v, int heads, bool causal = false, IntTensor? keyPaddingMask = null, int? layerIdx = null)
    {
        const string op = "AttentionTokens";
        Check.SameDevice(op, q, k);
        Check.SameDevice(op, q, v);
        string Desc() => $"q {q.Describe()}, k {k.Describe()}, v {v.Describe()} with {heads} heads";
        Check.That(q.Rank == 3 && ShapeUtil.Same(q.Shape, k.Shape) && ShapeUtil.Same(q.Shape, v.Shape), op,
            $"q, k and v must be [batch, T, heads * head_dim] of one shape, got {Desc()}");
        Check.That(heads > 0 && q.Dim(2) % heads == 0, op, $"the width must split into the heads, got {Desc()}");
        if (!q.Device.AttentionTakesLayouts)
        {
            using Tensor qh = SplitHeads(q, heads), kh = SplitHeads(k, heads), vh = SplitHeads(v, heads);
            using var o = Attention(qh, kh, vh, causal, keyPaddingMask, layerIdx);
            return MergeHeads(o);
        }
        return TokenAttentionFn.Apply(op, [q, k, v], q.Dim(0), q.Dim(1), q.Dim(2), heads, causal, keyPaddingMask, layerIdx, Desc);
    }

    /// <summary>
    /// <see cref="AttentionTokens"/> over GPT-2's fused c_attn output qkv [B, T, 3C] (q, k, v at columns 0, C, 2C):
    /// o [B, T, C]. With layouts the three parts are read in place and their gradients written into one
    /// [B, T, 3C] gradient, so the three slices, their splits and the slices' zero-filled gradients are gone too.
    /// </summary>
    public static Tensor AttentionPacked(Tensor qkv, int heads, bool causal = true, IntTensor? keyPaddingMask = null, int? layerIdx = null)
    {
        const string op = "AttentionPacked";
        string Desc() => $"qkv {qkv.Describe()} with {heads} heads";
        Check.That(qkv.Rank == 3 && heads > 0 && qkv.Dim(2) % (3 * heads) == 0, op,
            $"expected qkv [batch, T, 3 * heads * head_dim], got {Desc()}");
        int c = qkv.Dim(2) / 3;
        if (!qkv.Device.AttentionTakesLayouts)
        {
            Tensor Part(int i)
            {
                using var part = Slice(qkv, -1, i * c, c);
                return SplitHeads(part, heads);
            }
            using Tensor qh = Part(0), kh = Part(1), vh = Part(2);
            using var o = Attention(qh, kh, vh, causal, keyPaddingMask, layerIdx);
            return MergeHeads(o);
        }
        return TokenAttentionFn.Apply(op, [qkv], qkv.Dim(0), qkv.Dim(1), c, heads, causal, keyPaddingMask, layerIdx, Desc);
    }

    /// <summary>[B, T, H * D] -> [B, H, T, D] (HF's split_heads).</summary>
    static Tensor SplitHeads(Tensor x, int heads)
    {
        using var split = Reshape(x, x.Dim(0), x.Dim(1), heads, x.Dim(2) / heads);
        return Permute(split, 0, 2, 1, 3);
    }

    /// <summary>[B, H, T, D] -> [B, T, H * D] (HF's merge_heads).</summary>
    static Tensor MergeHeads(Tensor o)
    {
        using var permuted = Permute(o, 0, 2, 1, 3);
        return Reshape(permuted, o.Dim(0), o.Dim(2), o.Dim(1) * o.Dim(3));
    }

    /// <summary>
    /// The fused attention on token-major operands: parents are q, k, v [B, T, C] or one qkv [B, T, 3C]; the output
    /// is [B, T, C]. The kernel's <see cref="AttentionLayout"/>s say where each head's rows are.
    /// </summary>
    sealed class TokenAttentionFn : Function
    {
        readonly Tensor[] _inputs;
        readonly Tensor _o;
        Tensor? _lse;
        readonly IntTensor? _mask;
        readonly AttentionShape _shape;

        TokenAttentionFn(string op, Tensor[] inputs, Tensor o, Tensor lse, IntTensor? mask, AttentionShape shape) : base(op, inputs)
        {
            _inputs = [.. inputs.Select(Save)];
            _o = Save(o); _lse = lse; _mask = mask; _shape = shape;
        }

        public static Tensor Apply(string op, Tensor[] inputs, int b, int t, int c, int heads, bool causal, IntTensor? mask, int? layerIdx, Func<string> desc)
        {
            Check.That(b > 0 && t > 0 && c > 0, op, $"empty axis in {desc()}");
            AsInt(op, inputs[0].Length, "element count");
            int d = c / heads;
            float scale = AttentionScale(op, inputs[0].Device, mask, b, t, d, layerIdx, desc);
            var shape = Layouts(new AttentionShape(b, heads, t, d, scale, causal, mask is not null), inputs.Length == 1, c);

            var dev = inputs[0].Device;
            var y = Tensor.Empty(dev, b, t, c);
            var lse = Scratch(dev, b, heads, t);
            var (q, k, v) = Operands(inputs);
            WithAttentionMask(dev, mask, m => dev.AttentionForward(q.Buffer, k.Buffer, v.Buffer, m, y.Buffer, lse.Buffer, shape));
            if (!Function.NeedsGrad(inputs)) { lse.Dispose(); return y; }
            return new TokenAttentionFn(op, inputs, y, lse, mask, shape).Attach(y);
        }

        /// <summary>Heads side by side in [B, T, C] rows, or for one packed input in [B, T, 3C] at columns 0, C, 2C.</summary>
        static AttentionShape Layouts(AttentionShape s, bool packed, int c)
        {
            int width = packed ? 3 * c : c;
            return s with
            {
                QLayout = AttentionLayout.TokensMajor(s.T, width, s.D, 0),
                KLayout = AttentionLayout.TokensMajor(s.T, width, s.D, packed ? c : 0),
                VLayout = AttentionLayout.TokensMajor(s.T, width, s.D, packed ? 2 * c : 0),
                OLayout = AttentionLayout.TokensMajor(s.T, c, s.D),
            };
        }

        static (Tensor Q, Tensor K, Tensor V) Operands(Tensor[] x) => x.Length == 1 ? (x[0], x[0], x[0]) : (x[0], x[1], x[2]);

        protected internal override Tensor?[] Backward(Tensor g)
        {
            var dev = g.Device;
            // Every element of each gradient is written (each head's rows, all T of them), so none is zero-filled.
            var grads = _inputs.Select(x => Tensor.Empty(dev, x.Shape)).ToArray();
            var (q, k, v) = Operands(_inputs);
            var (dq, dk, dv) = Operands(grads);
            var s = _shape;
            WithAttentionMask(dev, _mask, m => dev.AttentionBackward(q.Buffer, k.Buffer, v.Buffer, m, _o.Buffer, _lse!.Buffer, g.Buffer,
                dq.Buffer, dk.Buffer, dv.Buffer, s));
            return [.. grads.Select((grad, i) => KeepGrad(grad, Parents[i]))];
        }

        protected override void ReleaseSaved() { _lse?.Dispose(); _lse = null; }
    }
}
