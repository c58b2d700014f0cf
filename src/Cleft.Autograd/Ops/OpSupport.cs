namespace Cleft.Autograd;

public static partial class Ops
{
    /// <summary>
    /// Views a shape as [outer, n, inner] around <paramref name="axis"/>: every axis-wise op (reduce, slice,
    /// concat) is a strided walk over that three-axis picture, whatever the rank.
    /// </summary>
    static (long Outer, int N, long Inner) AroundAxis(int[] shape, int axis)
    {
        long outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= shape[i];
        for (int i = axis + 1; i < shape.Length; i++) inner *= shape[i];
        return (outer, shape[axis], inner);
    }

    static int[] WithAxis(int[] shape, int axis, int size)
    {
        var s = (int[])shape.Clone();
        s[axis] = size;
        return s;
    }

    static int[] WithoutAxis(int[] shape, int axis) => [.. shape[..axis], .. shape[(axis + 1)..]];

    static void SameDevice(string op, Tensor t, IntTensor ids)
    {
        if (!ReferenceEquals(t.Device, ids.Device))
            throw new ArgumentException($"{op}: tensors are on different devices: {t.Describe()} on {t.Device.Name}, ids {ids.ShapeString} on {ids.Device.Name}");
    }

    /// <summary>Row counts go to backend methods as int; a tensor too large for that must fail here, not overflow there.</summary>
    static int AsInt(string op, long value, string what)
    {
        if (value > int.MaxValue) throw new ArgumentException($"{op}: {what} {value} exceeds the backend limit of {int.MaxValue}");
        return (int)value;
    }

    /// <summary>
    /// A tensor an op keeps for its backward: scoped, so a scope reclaims it if backward never runs, and
    /// disposed by the op's ReleaseSaved so a finished backward returns it to the pool at once.
    /// </summary>
    static Tensor Scratch(Cleft.Kernels.IBackend device, params int[] shape) => Tensor.Create(device, shape, scoped: true);
}
