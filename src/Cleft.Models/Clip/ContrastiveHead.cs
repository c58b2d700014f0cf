using Cleft.Autograd;
using Cleft.Kernels;
using Cleft.Kernels.Distributed;

namespace Cleft.Models.Clip;

/// <summary>
/// The CLIP loss head: L2-normalises both embeddings and applies the fused symmetric InfoNCE with a learnable
/// <see cref="LogitScale"/>. <see cref="Sum"/> selects CLEFT's summed directions instead of open_clip's mean.
/// </summary>
public sealed class ContrastiveHead : Module
{
    public ContrastiveHead(IBackend device, bool sum = false, bool clamp = true, float? initScale = null)
    {
        Scale = AddModule("scale", new LogitScale(device, initScale, clamp));
        Sum = sum;
    }

    public LogitScale Scale { get; }
    public bool Sum { get; }

    /// <summary>
    /// img [N, D], txt [N, D] (raw projections) -> scalar loss. With a <paramref name="group"/> of several ranks the
    /// normalised embeddings of every rank are gathered first (<see cref="Ops.AllGather"/>), so the loss and its
    /// negatives are those of the global batch, the same value on every rank.
    /// </summary>
    public Tensor Forward(Tensor img, Tensor txt, ICommunicator? group = null)
    {
        // The loss saved what it reads; the normalised (and gathered) embeddings are ours to drop.
        using Tensor i = Ops.L2Normalize(img), t = Ops.L2Normalize(txt);
        if (group is not { Size: > 1 }) return Ops.ContrastiveLoss(i, t, Scale.Value, Sum);
        using Tensor gi = Ops.AllGather(i, group), gt = Ops.AllGather(t, group);
        return Ops.ContrastiveLoss(gi, gt, Scale.Value, Sum);
    }

    /// <summary>Stage 2: images [N, D] against class-prompt embeddings [K, D] with labels.</summary>
    public Tensor Classification(Tensor img, Tensor classes, IntTensor labels)
    {
        using Tensor i = Ops.L2Normalize(img), c = Ops.L2Normalize(classes);
        return Ops.ClassificationLoss(i, c, labels, Scale.Value);
    }
}
