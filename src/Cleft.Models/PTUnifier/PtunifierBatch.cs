using Cleft.Autograd;
using Cleft.Kernels;

namespace Cleft.Models.PTUnifier;

/// <summary>
/// The integer tensors one forward pass makes (token ids, attention masks, prompt selections, MLM labels): ops such
/// as the embedding lookup and attention read them again in backward, after the forward returned, so they live
/// until this batch is disposed — after backward, like a <see cref="Gpt2.Gpt2TextBatch"/>.
/// </summary>
public sealed class PtunifierBatch(IBackend device) : IDisposable
{
    readonly List<IntTensor> _owned = [];

    public IBackend Device { get; } = device;

    /// <summary>Host data as a device IntTensor owned by this batch.</summary>
    public IntTensor Ints(ReadOnlySpan<int> data, params int[] shape)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var t = IntTensor.FromArray(Device, data, shape);
        _owned.Add(t);
        return t;
    }

    bool _disposed;

    public void Dispose()
    {
        _disposed = true;
        foreach (var t in _owned) t.Dispose();
        _owned.Clear();
    }
}

/// <summary>
/// Tokenized captions: device ids and mask [B, T] plus the host copies the model reads (the pool query's token
/// weights, attention masks of concatenated sequences, whole-word masking).
/// </summary>
public sealed record TextInput(IntTensor Ids, IntTensor Mask, int[] HostIds, int[] HostMask, int Batch, int Length)
{
    public static TextInput Create(PtunifierBatch owner, int[] ids, int[] mask, int batch, int length) =>
        new(owner.Ints(ids, batch, length), owner.Ints(mask, batch, length), ids, mask, batch, length);

    /// <summary>Rows <paramref name="rows"/> of this batch, in that order (ITM's swapped captions).</summary>
    public TextInput Rows(PtunifierBatch owner, IReadOnlyList<int> rows)
    {
        var ids = new int[rows.Count * Length];
        var mask = new int[rows.Count * Length];
        for (int i = 0; i < rows.Count; i++)
        {
            HostIds.AsSpan(rows[i] * Length, Length).CopyTo(ids.AsSpan(i * Length));
            HostMask.AsSpan(rows[i] * Length, Length).CopyTo(mask.AsSpan(i * Length));
        }
        return Create(owner, ids, mask, rows.Count, Length);
    }
}
