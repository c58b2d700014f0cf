namespace Cleft.Train.Data;

/// <summary>
/// A decoded image on the host: channel-major (CHW) floats. Values are in [0, 1] until
/// <see cref="Preprocess.Normalize"/>; 1 channel (grayscale) or 3 (RGB). Kept this simple on purpose: every
/// transform below is a plain loop over this layout, so geometry is easy to test.
/// </summary>
public sealed class HostImage
{
    public HostImage(int channels, int height, int width, float[]? data = null)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "1 or 3 channels");
        if (height <= 0 || width <= 0) throw new ArgumentOutOfRangeException(nameof(height), $"image size {height}x{width} must be positive");
        data ??= new float[channels * height * width];
        if (data.Length != channels * height * width)
            throw new ArgumentException($"data length {data.Length} != {channels}x{height}x{width}", nameof(data));
        Channels = channels; Height = height; Width = width; Data = data;
    }

    public int Channels { get; }
    public int Height { get; }
    public int Width { get; }
    public float[] Data { get; }

    public Span<float> Plane(int c) => Data.AsSpan(c * Height * Width, Height * Width);
    public float this[int c, int y, int x] { get => Data[(c * Height + y) * Width + x]; set => Data[(c * Height + y) * Width + x] = value; }

    public HostImage Clone() => new(Channels, Height, Width, (float[])Data.Clone());
}
