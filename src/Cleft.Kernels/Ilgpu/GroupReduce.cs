using ILGPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Shared-memory tree reductions for groups of exactly <see cref="Size"/> threads (a power of two): the one
/// reduction every row-wise kernel of the contrastive and optimizer families uses. Every thread returns the
/// result; the scratch view holds Size floats and may be reused right after a call returns.
/// </summary>
public static class GroupReduce
{
    public const int Size = 128;

    public static float Sum(float value, ArrayView<float> scratch)
    {
        int t = Group.IdxX;
        scratch[t] = value;
        Group.Barrier();
        for (int half = Size / 2; half > 0; half >>= 1)
        {
            if (t < half) scratch[t] += scratch[t + half];
            Group.Barrier();
        }
        float result = scratch[0];
        Group.Barrier(); // everyone has read slot 0 before the caller writes the scratch again
        return result;
    }

    public static float Max(float value, ArrayView<float> scratch)
    {
        int t = Group.IdxX;
        scratch[t] = value;
        Group.Barrier();
        for (int half = Size / 2; half > 0; half >>= 1)
        {
            if (t < half) scratch[t] = MathF.Max(scratch[t], scratch[t + half]);
            Group.Barrier();
        }
        float result = scratch[0];
        Group.Barrier();
        return result;
    }
}
