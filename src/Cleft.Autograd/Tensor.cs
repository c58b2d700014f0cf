using Cleft.Kernels;

namespace Cleft.Autograd;

/// <summary>
/// A float32 tensor on a device: a shape over contiguous row-major storage, plus the autograd links
/// (<see cref="Creator"/>, <see cref="Grad"/>). Storage is shared by reshapes and returned to the device's
/// pool when the last tensor using it is disposed — directly, or by the <see cref="TensorScope"/> it was made in.
/// </summary>
public class Tensor : IDisposable
{
    readonly Storage _storage;
    bool _disposed;

    internal Tensor(Storage storage, int[] shape, bool scoped = true)
    {
        _storage = storage;
        Shape = shape;
        Length = ShapeUtil.Count(shape);
        if (scoped) TensorScope.Current?.Track(this);
    }

    /// <summary>Ref-counted device memory, shared by views.</summary>
    internal sealed class Storage(DeviceBuffer<float> buffer)
    {
        public readonly DeviceBuffer<float> Buffer = buffer;
        public int References = 1;
    }

    public IBackend Device => _storage.Buffer.Owner;
    public int[] Shape { get; }
    public int Rank => Shape.Length;
    public long Length { get; }
    public string? Name { get; set; }

    /// <summary>The device memory; throws once the tensor is disposed so a use-after-free names the tensor.</summary>
    public DeviceBuffer<float> Buffer => _disposed
        ? throw new ObjectDisposedException(Describe(), $"tensor {Describe()} was disposed (its scope ended or Dispose was called)")
        : _storage.Buffer;

    public bool IsDisposed => _disposed;

    /// <summary>Whether gradients flow to this tensor. Settable on leaves only; ops set it on their outputs.</summary>
    public bool RequiresGrad { get; set; }

    /// <summary>
    /// The gradient: accumulated here for leaves by <see cref="Backward"/>. After <see cref="Parameter.ZeroGrad"/> it is
    /// only marked zero (the next backward overwrites it instead of fill + add); reading it here writes the zeros first.
    /// </summary>
    public Tensor? Grad
    {
        get
        {
            if (GradMarkedZero) { GradMarkedZero = false; Device.Fill(_grad!.Buffer, _grad.Length, 0f); }
            return _grad;
        }
        internal set { _grad = value; GradMarkedZero = false; }
    }
    Tensor? _grad;

    /// <summary>The gradient's storage, without materialising a pending zero (see <see cref="GradMarkedZero"/>).</summary>
    internal Tensor? GradStorage => _grad;

    /// <summary>True while <see cref="GradStorage"/> holds stale values that stand for zeros.</summary>
    internal bool GradMarkedZero { get; set; }

    /// <summary>The op that produced this tensor, or null for a leaf.</summary>
    public Function? Creator { get; internal set; }
    public bool IsLeaf => Creator is null;

    public int Dim(int axis) => Shape[axis < 0 ? Shape.Length + axis : axis];

    public string ShapeString => ShapeUtil.Format(Shape);
    public string Describe() => Name is null ? ShapeString : $"'{Name}' {ShapeString}";
    public override string ToString() => $"Tensor{ShapeString} on {Device.Name}{(RequiresGrad ? ", requires grad" : "")}";

    // ---- creation ----
    /// <summary>Uninitialised tensor from the device pool.</summary>
    public static Tensor Empty(IBackend device, params int[] shape) => Create(device, shape, scoped: true);

    internal static Tensor Create(IBackend device, int[] shape, bool scoped)
    {
        ShapeUtil.Validate(shape);
        return new Tensor(new Storage(device.Allocate<float>(ShapeUtil.Count(shape))), (int[])shape.Clone(), scoped);
    }

    public static Tensor Full(IBackend device, float value, params int[] shape)
    {
        var t = Empty(device, shape);
        device.Fill(t.Buffer, t.Length, value);
        return t;
    }

    public static Tensor Zeros(IBackend device, params int[] shape) => Full(device, 0f, shape);
    public static Tensor Ones(IBackend device, params int[] shape) => Full(device, 1f, shape);

    /// <summary>Copies host data to the device (one of the edges where data enter).</summary>
    public static Tensor FromArray(IBackend device, ReadOnlySpan<float> data, params int[] shape)
    {
        ShapeUtil.Validate(shape);
        long n = ShapeUtil.Count(shape);
        if (n != data.Length)
            throw new ArgumentException($"FromArray: {data.Length} values do not fill shape {ShapeUtil.Format(shape)} ({n} elements)");
        var t = Empty(device, shape);
        device.CopyFromHost(data, t.Buffer);
        return t;
    }

    /// <summary>Normal(0, std) values from <paramref name="rng"/> (drawn on the host, so every device gets the same numbers).</summary>
    public static Tensor Randn(IBackend device, Rng rng, float std, params int[] shape)
    {
        var data = new float[ShapeUtil.Count(shape)];
        rng.FillNormal(data, 0f, std);
        return FromArray(device, data, shape);
    }

    public static Tensor Uniform(IBackend device, Rng rng, float low, float high, params int[] shape)
    {
        var data = new float[ShapeUtil.Count(shape)];
        rng.FillUniform(data, low, high);
        return FromArray(device, data, shape);
    }

    /// <summary>A tensor sharing this one's storage with another shape of the same element count (no autograd link).</summary>
    internal Tensor ViewAs(int[] shape)
    {
        _ = Buffer;
        _storage.References++;
        return new Tensor(_storage, shape);
    }

    // ---- reading back (the other edge) ----
    public float[] ToArray()
    {
        var host = new float[Length];
        Device.CopyToHost(Buffer, host);
        return host;
    }

    /// <summary>The value of a one-element tensor (a loss).</summary>
    public float Item()
    {
        if (Length != 1) throw new InvalidOperationException($"Item() needs a one-element tensor, got {ShapeString}");
        return ToArray()[0];
    }

    // ---- autograd ----
    /// <summary>
    /// Back-propagates from this tensor (a scalar loss unless <paramref name="gradient"/> is given). Gradients
    /// accumulate into the leaves' <see cref="Grad"/>. The graph is freed afterwards unless <paramref name="retainGraph"/>.
    /// <paramref name="leafDone"/> hears of each leaf whose gradient is final while the pass goes on (see Autograd.Backward).
    /// </summary>
    public void Backward(Tensor? gradient = null, bool retainGraph = false, Action<Tensor>? leafDone = null) =>
        Autograd.Backward(this, gradient, retainGraph, leafDone);

    /// <summary>A new leaf sharing this tensor's storage, cut from the graph.</summary>
    public Tensor Detach() => ViewAs(Shape);

    public virtual void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (--_storage.References == 0) Device.Release(_storage.Buffer);
        if (IsLeaf && _grad is { } g) { Grad = null; g.Dispose(); }
        GC.SuppressFinalize(this);
    }
}
