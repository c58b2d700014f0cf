using ILGPU;
using ILGPU.Runtime;

namespace Cleft.Kernels.Ilgpu;

/// <summary>
/// Loads the attention kernels on one accelerator and launches them on its default stream: the part of
/// IlgpuBackend's attention methods that only needs views (so the kernels can be driven and tested
/// without the rest of the backend).
/// </summary>
public sealed class IlgpuAttention
{
    readonly Accelerator _acc;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, AttentionArgs> _forward;
    readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int> _delta;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionArgs> _dkdv;
    readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>,
        ArrayView<float>, ArrayView<float>, AttentionArgs> _dq;

    public IlgpuAttention(Accelerator accelerator)
    {
        _acc = accelerator;
        _forward = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, AttentionArgs>(AttentionKernels.Forward);
        _delta = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(AttentionKernels.Delta);
        _dkdv = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionArgs>(AttentionKernels.BackwardKeyValue);
        _dq = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, AttentionArgs>(AttentionKernels.BackwardQuery);
    }

    /// <summary>The kernels hold rows of at most <see cref="AttentionTiles.MaxD"/> floats in shared memory.</summary>
    public static void CheckSupported(in AttentionShape s)
    {
        if (s.D > AttentionTiles.MaxD)
            throw new NotSupportedException($"Attention: the ILGPU kernels support head dim <= {AttentionTiles.MaxD}, got D = {s.D} (use the cpu device)");
        if (s.Batch * (long)s.Heads > int.MaxValue / 2) throw new NotSupportedException($"Attention: {s.Batch} x {s.Heads} heads exceed the grid");
    }

    KernelConfig Config(in AttentionShape s) =>
        new(new Index2D((s.T + AttentionTiles.Tile - 1) / AttentionTiles.Tile, s.Batch * s.Heads), new Index2D(AttentionTiles.Threads, 1));

    public void Forward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> mask,
        ArrayView<float> o, ArrayView<float> lse, in AttentionShape s)
    {
        CheckSupported(s);
        _forward(Config(s), q, k, v, mask, o, lse, AttentionArgs.From(s));
    }

    /// <summary><paramref name="delta"/> is scratch of <see cref="AttentionShape.Rows"/> floats (rowsum(dO * O)).</summary>
    public void Backward(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> mask, ArrayView<float> o,
        ArrayView<float> lse, ArrayView<float> dO, ArrayView<float> dq, ArrayView<float> dk, ArrayView<float> dv,
        ArrayView<float> delta, in AttentionShape s)
    {
        CheckSupported(s);
        var args = AttentionArgs.From(s);
        _delta((int)s.Rows, o, dO, delta, s.D);
        _dkdv(Config(s), q, k, v, mask, lse, delta, dO, dk, dv, args);
        _dq(Config(s), q, k, v, mask, lse, delta, dO, dq, args);
    }

    public void Synchronize() => _acc.Synchronize();
}
