using Cleft.Autograd;
using Cleft.Kernels;

namespace Cleft.Models.Clip;

/// <summary>
/// The smallest CLIP: two MLP towers mapping image-like and text-like feature vectors into one joint space,
/// trained with <see cref="ContrastiveHead"/>. Used by the toy training test and as a template for the real
/// ViT/GPT-2 towers.
/// </summary>
public sealed class TwoTower : Module
{
    public TwoTower(IBackend device, Rng rng, int imageIn, int textIn, int hidden, int joint, bool sumLoss = false)
    {
        Image = AddModule("image", new Mlp(device, rng, imageIn, hidden, joint));
        Text = AddModule("text", new Mlp(device, rng, textIn, hidden, joint));
        Head = AddModule("head", new ContrastiveHead(device, sumLoss));
    }

    public Mlp Image { get; }
    public Mlp Text { get; }
    public ContrastiveHead Head { get; }

    public Tensor Loss(Tensor images, Tensor texts)
    {
        using Tensor img = Image.Forward(images), txt = Text.Forward(texts);
        return Head.Forward(img, txt);
    }
}
