namespace Cleft.Autograd;

public static partial class Ops
{
    /// <summary>
    /// Exact GELU, x Phi(x) (torch.nn.GELU() / HF "gelu", as in DINOv2's MLP). Differs from the tanh form
    /// <see cref="Gelu"/> by up to ~5e-4, which is why a ViT loaded from DINOv2 weights must use this one.
    /// </summary>
    public static Tensor GeluErf(Tensor x)
    {
        var y = Tensor.Empty(x.Device, x.Shape);
        x.Device.GeluErf(x.Buffer, y.Buffer, x.Length);
        return Function.NeedsGrad(x) ? new GeluErfFn(x).Attach(y) : y;
    }

    sealed class GeluErfFn : Function
    {
        readonly Tensor _x;

        public GeluErfFn(Tensor x) : base("GeluErf", x) => _x = Save(x);

        protected internal override Tensor?[] Backward(Tensor g)
        {
            var dx = Tensor.Empty(g.Device, g.Shape);
            g.Device.GeluErfBackward(_x.Buffer, g.Buffer, dx.Buffer, g.Length);
            return [dx];
        }
    }
}
