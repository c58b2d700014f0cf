namespace Cleft.Autograd;

public static partial class Ops
{
    /// <summary>GELU, tanh approximation (GPT-2's gelu_new).</summary>
    public static Tensor Gelu(Tensor x)
    {
        var y = Tensor.Empty(x.Device, x.Shape);
        x.Device.Gelu(x.Buffer, y.Buffer, x.Length);
        return Function.NeedsGrad(x) ? new GeluFn(x).Attach(y) : y;
    }

    /// <summary>
    /// Inverted dropout: zeroes each element with probability <paramref name="p"/> and scales the rest by
    /// 1/(1-p). The mask seed is drawn from <paramref name="rng"/> only when dropout is active, so evaluation
    /// does not advance the stream. With p = 0 or outside training the result is a view of x (no copy), not
    /// x itself, so disposing the result can never dispose the input.
    /// </summary>
    public static Tensor Dropout(Tensor x, float p, Rng rng, bool training = true)
    {
        ArgumentNullException.ThrowIfNull(rng);
        CheckDropout(x, p);
        return p == 0f || !training ? View("Dropout", x, x.Shape) : Dropout(x, p, rng.NextUInt64(), training);
    }

    /// <summary>Dropout with an explicit mask seed: the same (seed, shape) always drops the same elements.</summary>
    public static Tensor Dropout(Tensor x, float p, ulong seed, bool training = true)
    {
        CheckDropout(x, p);
        if (p == 0f || !training) return View("Dropout", x, x.Shape);
        var y = Tensor.Empty(x.Device, x.Shape);
        x.Device.Dropout(x.Buffer, y.Buffer, x.Length, p, seed);
        return new DropoutFn(x, p, seed).Attach(y);
    }

    static void CheckDropout(Tensor x, float p) =>
        Check.That(p >= 0f && p < 1f, "Dropout", $"probability must be in [0, 1), got {p} for {x.Describe()}");

    sealed class GeluFn : Function
    {
        readonly Tensor _x;

        public GeluFn(Tensor x) : base("Gelu", x) => _x = Save(x);

        protected internal override Tensor?[] Backward(Tensor g)
        {
            var dx = Tensor.Empty(g.Device, g.Shape);
            g.Device.GeluBackward(_x.Buffer, g.Buffer, dx.Buffer, g.Length);
            return [dx];
        }
    }

    sealed class DropoutFn(Tensor x, float p, ulong seed) : Function("Dropout", x)
    {
        // y = mask * x / (1-p) is linear in x with the same mask, and the mask is a pure function of
        // (seed, index): the forward call applied to dy is exactly the backward.
        protected internal override Tensor?[] Backward(Tensor g)
        {
            var dx = Tensor.Empty(g.Device, g.Shape);
            g.Device.Dropout(g.Buffer, dx.Buffer, g.Length, p, seed);
            return [dx];
        }
    }
}
