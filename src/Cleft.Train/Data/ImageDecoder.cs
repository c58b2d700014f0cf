using StbImageSharp;

namespace Cleft.Train.Data;

/// <summary>
/// PNG/JPEG (and the other formats stb_image reads) -> <see cref="HostImage"/> with values in [0, 1].
/// Grayscale and gray+alpha stay 1 channel (X-rays: the 3-channel copy is made only at the very end of
/// preprocessing, so the float work is done once); RGB and RGBA become 3 channels; alpha is dropped.
/// 16-bit PNGs are read at 8 bits (stb's default), which is what the reference pipeline's PIL "L" mode sees too.
/// </summary>
public static class ImageDecoder
{
    public static HostImage Load(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (FileNotFoundException e) { throw new ImageLoadException(path, "file not found", e); }
        catch (DirectoryNotFoundException e) { throw new ImageLoadException(path, "directory not found", e); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ImageLoadException(path, e.Message, e); }
        return Decode(bytes, path);
    }

    /// <param name="name">Used only in error messages.</param>
    public static HostImage Decode(byte[] bytes, string name)
    {
        if (bytes.Length == 0) throw new ImageLoadException(name, "file is empty");
        if (DicomReader.LooksLikeDicom(bytes, name)) return DicomReader.Decode(bytes, name);
        ImageResult img;
        try
        {
            // Ask for the file's own component count; stb converts palette/16-bit to 8-bit per component.
            img = ImageResult.FromMemory(bytes, ColorComponents.Default);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new ImageLoadException(name, $"not a decodable image ({e.Message})", e);
        }
        if (img?.Data is null || img.Width <= 0 || img.Height <= 0) throw new ImageLoadException(name, "decoder returned no pixels");

        int w = img.Width, h = img.Height, n = w * h;
        int comp = img.Comp switch
        {
            ColorComponents.Grey => 1,
            ColorComponents.GreyAlpha => 2,
            ColorComponents.RedGreenBlue => 3,
            ColorComponents.RedGreenBlueAlpha => 4,
            _ => throw new ImageLoadException(name, $"unsupported component layout {img.Comp}"),
        };
        if (img.Data.Length < n * comp) throw new ImageLoadException(name, "truncated pixel data");
        int channels = comp <= 2 ? 1 : 3;
        var result = new HostImage(channels, h, w);
        const float inv = 1f / 255f;
        for (int c = 0; c < channels; c++)
        {
            var plane = result.Plane(c);
            for (int i = 0; i < n; i++) plane[i] = img.Data[i * comp + c] * inv;
        }
        return result;
    }
}
