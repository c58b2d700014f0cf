using Cleft.Kernels;

namespace Cleft.Autograd;

public static partial class Ops
{
    /// <summary>
    /// Multi-head scaled dot-product attention, fused (flash-attention tiling on both backends: no T x T
    /// matrix is ever stored). q, k, v are [B, H, T, D] (heads already split from GPT-2's fused c_attn output
    /// with Reshape/Permute); the result is [B, H, T, D].
    /// </summary>
    /// <param name="causal">Query t attends to keys 0..t only (GPT-2); false for bidirectional attention.</param>
    /// <param name="keyPaddingMask">Optional [B, T] of 0/1 (HF attention_mask): keys with 0 are excluded for every
    /// query, so a pad/EOS query attends to the real tokens only. A query that sees no key at all gets 0.</param>
    /// <param name="layerIdx">GPT-2's scale_attn_by_inverse_layer_idx: when given (0-based, as HF's layer_idx),
    /// scores are further divided by layerIdx + 1. The base scale is 1/sqrt(D).</param>
    public static Tensor Attention(Tensor q, Tensor k, Tensor v, bool causal = true, IntTensor? keyPaddingMask = null, int? layerIdx = null)
        => AttentionFn.Apply(q, k, v, causal, keyPaddingMask, layerIdx);

    sealed class AttentionFn : Function
    {
        readonly Tensor _q, _k, _v, _o;
        Tensor? _lse;
        readonly IntTensor? _mask;
        readonly AttentionShape _shape;

        // The backward needs o itself (for Delta = rowsum(do * o)) besides q, k, v.
        AttentionFn(Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse, IntTensor? mask, AttentionShape shape) : base("Attention", q, k, v)
        { _q = Save(q); _k = Save(k); _v = Save(v); _o = Save(o); _lse = lse; _mask = mask; _shape = shape; }

        public static Tensor Apply(Tensor q, Tensor k, Tensor v, bool causal, IntTensor? mask, int? layerIdx)
        {
            const string op = "Attention";
            Check.SameDevice(op, q, k);
            Check.SameDevice(op, q, v);
            string Desc() => $"q {q.Describe()}, k {k.Describe()}, v {v.Describe()}";
            Check.That(q.Rank == 4, op, $"expected q, k, v of rank 4 [batch, heads, T, head_dim], got {Desc()}");
            Check.That(ShapeUtil.Same(q.Shape, k.Shape) && ShapeUtil.Same(q.Shape, v.Shape), op, $"q, k and v must have the same shape, got {Desc()}");
            int b = q.Dim(0), h = q.Dim(1), t = q.Dim(2), d = q.Dim(3);
            Check.That(b > 0 && h > 0 && t > 0 && d > 0, op, $"empty axis in {Desc()}");
            AsInt(op, q.Length, "element count");
            float scale = AttentionScale(op, q.Device, mask, b, t, d, layerIdx, Desc);
            var shape = new AttentionShape(b, h, t, d, scale, causal, mask is not null);

            var dev = q.Device;
            var y = Tensor.Empty(dev, q.Shape);
            var lse = Scratch(dev, b, h, t);
            WithAttentionMask(dev, mask, m => dev.AttentionForward(q.Buffer, k.Buffer, v.Buffer, m, y.Buffer, lse.Buffer, shape));
            if (!Function.NeedsGrad(q, k, v)) { lse.Dispose(); return y; }
            return new AttentionFn(q, k, v, y, lse, mask, shape).Attach(y);
        }

        protected internal override Tensor?[] Backward(Tensor g)
        {
            var dev = g.Device;
            var dq = Tensor.Empty(dev, _q.Shape);
            var dk = Tensor.Empty(dev, _q.Shape);
            var dv = Tensor.Empty(dev, _q.Shape);
            var s = _shape;
            WithAttentionMask(dev, _mask, m => dev.AttentionBackward(_q.Buffer, _k.Buffer, _v.Buffer, m, _o.Buffer, _lse!.Buffer, g.Buffer,
                dq.Buffer, dk.Buffer, dv.Buffer, s));
            return [KeepGrad(dq, Parents[0]), KeepGrad(dk, Parents[1]), KeepGrad(dv, Parents[2])];
        }

        protected override void ReleaseSaved() { _lse?.Dispose(); _lse = null; }
    }

    /// <summary>
    /// Checks the key padding mask against [batch, T] and the layer index, and returns the score scale: 1/sqrt(D),
    /// further divided by layerIdx + 1 for GPT-2's scale_attn_by_inverse_layer_idx.
    /// </summary>
    static float AttentionScale(string op, Cleft.Kernels.IBackend device, IntTensor? mask, int b, int t, int d, int? layerIdx, Func<string> describe)
    {
        if (mask is not null)
        {
            Check.That(ReferenceEquals(mask.Device, device), op,
                $"key padding mask {mask.ShapeString} is on {mask.Device.Name}, the inputs on {device.Name}");
            Check.That(mask.Shape.Length == 2 && mask.Shape[0] == b && mask.Shape[1] == t, op,
                $"key padding mask must be [batch, T] = [{b},{t}], got {mask.ShapeString} for {describe()}");
            Check.That(mask.Min >= 0 && mask.Max <= 1, op,
                $"key padding mask {mask.ShapeString} must hold 0/1, found values in [{mask.Min}, {mask.Max}] (token ids passed by mistake?)");
        }
        Check.That(layerIdx is null or >= 0, op, $"layerIdx must be >= 0 (HF's 0-based layer_idx), got {layerIdx}");
        return (float)(1.0 / Math.Sqrt(d) / ((layerIdx ?? 0) + 1));
    }

    // Backends ignore the mask buffer without a mask but take a real one: a one-element placeholder.
    static void WithAttentionMask(Cleft.Kernels.IBackend dev, IntTensor? mask, Action<DeviceBuffer<int>> run)
    {
        if (mask is not null) { run(mask.Buffer); return; }
        var dummy = dev.Allocate<int>(1);
        try { run(dummy); } finally { dev.Release(dummy); }
    }

    /// <summary>The gradient if its input wants one; otherwise it is returned to the pool now.</summary>
    static Tensor? KeepGrad(Tensor grad, Tensor input)
    {
        if (input.RequiresGrad) return grad;
        grad.Dispose();
        return null;
    }
}
