using Cleft.Kernels;
using Half = ILGPU.Half;

namespace Cleft.Autograd;

/// <summary>
/// A frozen tensor stored as fp16 on a device: half the bytes of a float32 <see cref="Tensor"/>. It takes no
/// gradient and is never scoped (frozen weights live as long as their module); ops widen it to fp32 as they
/// read it (<see cref="IBackend.GemmHalfB"/>), so sums stay fp32. Values are rounded to nearest-even once,
/// when they are stored.
/// </summary>
public sealed class HalfTensor : IDisposable
{
    DeviceBuffer<Half>? _buffer;

    /// <summary>Rounds <paramref name="data"/> to fp16 on the host and uploads it.</summary>
    public HalfTensor(IBackend device, ReadOnlySpan<float> data, params int[] shape)
    {
        ShapeUtil.Validate(shape);
        Shape = (int[])shape.Clone();
        Length = ShapeUtil.Count(shape);
        if (data.Length != Length)
            throw new ArgumentException($"HalfTensor: {data.Length} values do not fill shape {ShapeUtil.Format(shape)}");
        Device = device;
        _buffer = device.Allocate<Half>(Length);
        Load(data);
    }

    public IBackend Device { get; }
    public int[] Shape { get; }
    public long Length { get; }
    public int Rank => Shape.Length;
    public string? Name { get; set; }
    public string ShapeString => ShapeUtil.Format(Shape);
    public string Describe() => Name is null ? $"fp16 {ShapeString}" : $"'{Name}' fp16 {ShapeString}";
    public int Dim(int axis) => Shape[axis < 0 ? Shape.Length + axis : axis];

    /// <summary>Device bytes held (by requested length; the pool reports its size-class bytes).</summary>
    public long Bytes => Length * 2;

    public DeviceBuffer<Half> Buffer => _buffer ?? throw new ObjectDisposedException(Describe(), $"fp16 tensor {Describe()} was disposed");

    /// <summary>Overwrites the values from float32 host data (rounded to fp16).</summary>
    public void Load(ReadOnlySpan<float> data)
    {
        if (data.Length != Length) throw new ArgumentException($"HalfTensor {Describe()}: {data.Length} values given");
        Device.CopyFromHost<Half>(HalfConvert.ToHalf(data), Buffer);
    }

    /// <summary>The stored fp16 values widened to float32 (exact).</summary>
    public float[] ToArray()
    {
        var h = new Half[Length];
        Device.CopyToHost(Buffer, h.AsSpan());
        return HalfConvert.ToSingle(h);
    }

    public void Dispose()
    {
        if (_buffer is { } b) { _buffer = null; Device.Release(b); }
    }
}
