using System.Reflection;
using ILGPU;
using ILGPU.Runtime;
using AttentionForwardLauncher = System.Action<ILGPU.KernelConfig, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<int>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, Cleft.Kernels.Ilgpu.AttentionArgs>;
using AttentionDeltaLauncher = System.Action<ILGPU.Index1D, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, int>;
using AttentionKeyValueLauncher = System.Action<ILGPU.KernelConfig, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<int>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    Cleft.Kernels.Ilgpu.AttentionArgs>;
using AttentionQueryLauncher = System.Action<ILGPU.KernelConfig, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>,
    ILGPU.ArrayView<int>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, ILGPU.ArrayView<float>, Cleft.Kernels.Ilgpu.AttentionArgs>;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Launch logic of the attention kernels over plain views: how each is loaded, the launch shape, the
/// supported sizes and the order of the backward's three launches. IlgpuBackend's attention methods (with
/// its kernel cache) and the kernel-level tests both go through it, so there is one copy of that logic.
/// </summary>
public static class IlgpuAttention
{
    public static AttentionForwardLauncher LoadForward(Accelerator acc, MethodInfo m) =>
        acc.LoadStreamKernel(m.CreateDelegate<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, AttentionArgs>>());

    public static AttentionDeltaLauncher LoadDelta(Accelerator acc, MethodInfo m) =>
        acc.LoadAutoGroupedStreamKernel(m.CreateDelegate<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>>());

    public static AttentionKeyValueLauncher LoadKeyValue(Accelerator acc, MethodInfo m) =>
        acc.LoadStreamKernel(m.CreateDelegate<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionArgs>>());

    public static AttentionQueryLauncher LoadQuery(Accelerator acc, MethodInfo m) =>
        acc.LoadStreamKernel(m.CreateDelegate<Action<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, AttentionArgs>>());

    /// <summary>The kernels hold rows of at most <see cref="AttentionTiles.MaxD"/> floats in shared memory.</summary>
    public static void CheckSupported(in AttentionShape s)
    {
        if (s.D > AttentionTiles.MaxD)
            throw new NotSupportedException($"Attention: the ILGPU kernels support head dim <= {AttentionTiles.MaxD}, got D = {s.D} (use the cpu device)");
        if ((long)s.Batch * s.Heads > 65535) throw new NotSupportedException($"Attention: {s.Batch} x {s.Heads} heads exceed the grid's y limit of 65535");
    }

    /// <summary>Grid (16-row blocks, batch x heads), 256 threads per group.</summary>
    public static KernelConfig Config(in AttentionShape s) =>
        new(new Index2D((s.T + AttentionTiles.Tile - 1) / AttentionTiles.Tile, s.Batch * s.Heads), new Index2D(AttentionTiles.Threads, 1));

    public static void Forward(AttentionForwardLauncher forward, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> mask,
        ArrayView<float> o, ArrayView<float> lse, in AttentionShape s)
    {
        CheckSupported(s);
        forward(Config(s), q, k, v, mask, o, lse, AttentionArgs.From(s));
    }

    /// <summary><paramref name="delta"/> is scratch of <see cref="AttentionShape.Rows"/> floats (rowsum(dO * O)).</summary>
    public static void Backward(AttentionDeltaLauncher rowDelta, AttentionKeyValueLauncher keyValue, AttentionQueryLauncher query, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> mask, ArrayView<float> o,
        ArrayView<float> lse, ArrayView<float> dO, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv,
        ArrayView<float> delta, in AttentionShape s)
    {
        CheckSupported(s);
        var args = AttentionArgs.From(s);
        rowDelta((int)s.Rows, o, dO, delta, s.D);
        keyValue(Config(s), q, k, v, mask, lse, delta, dO, dk, dv, args);
        query(Config(s), q, k, v, mask, lse, delta, dO, dq, args);
    }
}
