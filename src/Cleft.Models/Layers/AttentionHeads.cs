using Cleft.Autograd;

namespace Cleft.Models.Layers;

/// <summary>
/// The head layout changes around <see cref="Ops.Attention"/> that every transformer here makes (HF's
/// split_heads / merge_heads). The input stays the caller's; the intermediate view is dropped at once.
/// </summary>
public static class AttentionHeads
{
    /// <summary>[B, T, H * D] -> [B, H, T, D].</summary>
    public static Tensor Split(Tensor x, int heads)
    {
        if (x.Rank != 3 || x.Dim(2) % heads != 0)
            throw new ArgumentException($"AttentionHeads.Split: expected [batch, T, heads * head_dim] with {heads} heads, got {x.Describe()}");
        using var split = Ops.Reshape(x, x.Dim(0), x.Dim(1), heads, x.Dim(2) / heads);
        return Ops.Permute(split, 0, 2, 1, 3);
    }

    /// <summary>[B, H, T, D] -> [B, T, H * D].</summary>
    public static Tensor Merge(Tensor o)
    {
        if (o.Rank != 4) throw new ArgumentException($"AttentionHeads.Merge: expected [batch, heads, T, head_dim], got {o.Describe()}");
        using var permuted = Ops.Permute(o, 0, 2, 1, 3);
        return Ops.Reshape(permuted, o.Dim(0), o.Dim(2), o.Dim(1) * o.Dim(3));
    }
}
