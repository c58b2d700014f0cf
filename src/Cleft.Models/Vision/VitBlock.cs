using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Models.Layers;

namespace Cleft.Models.Vision;

/// <summary>LayerScale: a learned per-channel gain (lambda1, initialised to layerscale_value) on a residual branch.</summary>
public sealed class LayerScale : Module
{
    public LayerScale(IBackend device, VitConfig config) =>
        Lambda = AddParameter("lambda1", Parameter.Full(device, config.LayerScaleInit, config.HiddenSize));

    public Parameter Lambda { get; }

    /// <summary>residual + x lambda in one op (the block's residual adds): the values of Add(residual, Mul(x, lambda)).</summary>
    public Tensor AddTo(Tensor residual, Tensor x) => Ops.AddScaled(residual, x, Lambda);
}

/// <summary>The ViT MLP: fc1 (hidden -> hidden * mlp_ratio), GELU (exact erf form for DINOv2), fc2.</summary>
public sealed class VitMlp : Module
{
    readonly bool _exact;

    public VitMlp(IBackend device, Rng rng, VitConfig config)
    {
        _exact = config.ExactGelu;
        Fc1 = AddModule("fc1", new Linear(device, rng, config.HiddenSize, config.MlpHidden));
        Fc2 = AddModule("fc2", new Linear(device, rng, config.MlpHidden, config.HiddenSize));
    }

    public Linear Fc1 { get; }
    public Linear Fc2 { get; }

    public Tensor Forward(Tensor x)
    {
        using var h = Fc1.Forward(x);
        using var a = _exact ? Ops.GeluErf(h) : Ops.Gelu(h);
        return Fc2.Forward(a);
    }
}

/// <summary>
/// One pre-norm DINOv2 block (HF Dinov2WithRegistersLayer, encoder.layer.{i}):
/// x = x + ls1(attn(norm1(x))); x = x + ls2(mlp(norm2(x))). Drop-path is not implemented (rate 0 in DINOv2's
/// released configs and in CLEFT).
/// </summary>
public sealed class VitBlock : Module
{
    public VitBlock(IBackend device, Rng rng, VitConfig config)
    {
        Norm1 = AddModule("norm1", new LayerNorm(device, config.HiddenSize, config.LayerNormEps));
        Attention = AddModule("attention", new VitAttention(device, rng, config));
        LayerScale1 = AddModule("layer_scale1", new LayerScale(device, config));
        Norm2 = AddModule("norm2", new LayerNorm(device, config.HiddenSize, config.LayerNormEps));
        Mlp = AddModule("mlp", new VitMlp(device, rng, config));
        LayerScale2 = AddModule("layer_scale2", new LayerScale(device, config));
    }

    public LayerNorm Norm1 { get; }
    public VitAttention Attention { get; }
    public LayerScale LayerScale1 { get; }
    public LayerNorm Norm2 { get; }
    public VitMlp Mlp { get; }
    public LayerScale LayerScale2 { get; }

    /// <summary>x [B, T, hidden] -> [B, T, hidden].</summary>
    public Tensor Forward(Tensor x)
    {
        // LayerScale and the residual add are one op; the branch outputs go as soon as they are added (LayerScale's
        // gradient keeps what it needs).
        Tensor mid;
        using (var attn = Branch(x, Norm1, Attention.Forward)) mid = LayerScale1.AddTo(x, attn);
        using (mid)
        using (var mlp = Branch(mid, Norm2, Mlp.Forward))
            return LayerScale2.AddTo(mid, mlp);
    }

    static Tensor Branch(Tensor x, LayerNorm norm, Func<Tensor, Tensor> body)
    {
        using var normed = norm.Forward(x);
        return body(normed);
    }
}
