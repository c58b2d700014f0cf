using ILGPU;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Up to <see cref="Capacity"/> float tensors as one kernel argument, for the multi-tensor kernels (global norm,
/// AdamW). ILGPU kernels take neither arrays of views nor views of views, and have no pointers, so a table of
/// tensors in device memory is out of reach; views as fields of a value-type argument are allowed (they travel in
/// the launch's parameter space, like PyTorch's multi_tensor_apply chunks). A launch covers <see cref="Count"/>
/// tensors, the grid's Y axis picks one (a uniform branch per group), and longer lists take several launches.
/// </summary>
public struct TensorList
{
    public const int Capacity = 8;

    public ArrayView<float> T0, T1, T2, T3, T4, T5, T6, T7;
    public int Count;

    public readonly ArrayView<float> this[int i] => i switch
    {
        0 => T0, 1 => T1, 2 => T2, 3 => T3, 4 => T4, 5 => T5, 6 => T6, _ => T7,
    };

    /// <summary>Sets tensor <paramref name="i"/> (host side, while filling a launch).</summary>
    public void Set(int i, ArrayView<float> view)
    {
        switch (i)
        {
            case 0: T0 = view; break;
            case 1: T1 = view; break;
            case 2: T2 = view; break;
            case 3: T3 = view; break;
            case 4: T4 = view; break;
            case 5: T5 = view; break;
            case 6: T6 = view; break;
            case 7: T7 = view; break;
            default: throw new ArgumentOutOfRangeException(nameof(i), $"a TensorList holds at most {Capacity} tensors");
        }
        Count = Math.Max(Count, i + 1);
    }
}
