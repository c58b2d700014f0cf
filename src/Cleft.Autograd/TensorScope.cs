namespace Cleft.Autograd;

/// <summary>
/// Owns every tensor created on this thread while it is the innermost scope, and disposes them when it
/// ends — which returns their storage to the pool. Wrap each training step in one and the next step reuses
/// the same buffers: steady state allocates no device memory. Parameters and leaf gradients are never scoped.
/// </summary>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic] static TensorScope? _current;

    readonly TensorScope? _parent;
    readonly List<Tensor> _tensors = new();
    bool _disposed;

    public TensorScope()
    {
        _parent = _current;
        _current = this;
    }

    public static TensorScope? Current => _current;

    internal void Track(Tensor t) => _tensors.Add(t);

    /// <summary>Moves <paramref name="t"/> out of this scope into the enclosing one (or none), so it survives.</summary>
    public T Keep<T>(T t) where T : Tensor
    {
        int i = _tensors.FindIndex(x => ReferenceEquals(x, t));
        if (i >= 0)
        {
            _tensors.RemoveAt(i);
            _parent?.Track(t);
        }
        return t;
    }

    public int Count => _tensors.Count;

    public void Dispose()
    {
        if (_disposed) return;
        if (!ReferenceEquals(_current, this))
            throw new InvalidOperationException("TensorScope disposed out of order: dispose inner scopes first");
        _disposed = true;
        _current = _parent;
        for (int i = _tensors.Count - 1; i >= 0; i--) _tensors[i].Dispose();
        _tensors.Clear();
    }
}
