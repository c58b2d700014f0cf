using Cleft.Kernels;

namespace Cleft.Autograd;

/// <summary>
/// Integer data on a device: token ids and class targets. They come from the host, so the range is known at
/// creation and ops can reject an out-of-range id with a message instead of reading outside a table.
/// </summary>
public sealed class IntTensor : IDisposable
{
    DeviceBuffer<int>? _buffer;

    IntTensor(DeviceBuffer<int> buffer, int[] shape, int min, int max)
    {
        _buffer = buffer;
        Shape = shape;
        Length = ShapeUtil.Count(shape);
        Min = min;
        Max = max;
    }

    public int[] Shape { get; }
    public long Length { get; }
    /// <summary>Smallest and largest value, read on the host at creation.</summary>
    public int Min { get; }
    public int Max { get; }
    public IBackend Device => Buffer.Owner;
    public DeviceBuffer<int> Buffer => _buffer ?? throw new ObjectDisposedException($"IntTensor{ShapeUtil.Format(Shape)}");
    public string ShapeString => ShapeUtil.Format(Shape);

    public static IntTensor FromArray(IBackend device, ReadOnlySpan<int> data, params int[] shape)
    {
        ShapeUtil.Validate(shape);
        if (ShapeUtil.Count(shape) != data.Length)
            throw new ArgumentException($"IntTensor.FromArray: {data.Length} values do not fill shape {ShapeUtil.Format(shape)}");
        int min = int.MaxValue, max = int.MinValue;
        foreach (int v in data) { if (v < min) min = v; if (v > max) max = v; }
        var buffer = device.Allocate<int>(data.Length);
        device.CopyFromHost(data, buffer);
        return new IntTensor(buffer, (int[])shape.Clone(), min, max);
    }

    public int[] ToArray()
    {
        var host = new int[Length];
        Device.CopyToHost(Buffer, host);
        return host;
    }

    public void Dispose()
    {
        if (_buffer is null) return;
        _buffer.Owner.Release(_buffer);
        _buffer = null;
    }
}
