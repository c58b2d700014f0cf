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
    /// <summary>
    /// The default pixel limit: 100 megapixels, ten times a large chest X-ray (3000x3000), so a real image is
    /// never refused while a bomb (a few KB of PNG claiming 15000x15000) is, before stb allocates for it.
    /// </summary>
    public const long DefaultMaxPixels = 100_000_000;

    /// <param name="maxPixels">Width x height above this is refused from the header, before decoding.</param>
    public static HostImage Load(string path, long maxPixels = DefaultMaxPixels)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (FileNotFoundException e) { throw new ImageLoadException(path, "file not found", e); }
        catch (DirectoryNotFoundException e) { throw new ImageLoadException(path, "directory not found", e); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ImageLoadException(path, Describe(e), e); }
        return Decode(bytes, path, maxPixels);
    }

    /// <param name="name">Used only in error messages.</param>
    /// <param name="maxPixels">Width x height above this is refused from the header, before decoding.</param>
    public static HostImage Decode(byte[] bytes, string name, long maxPixels = DefaultMaxPixels)
    {
        if (maxPixels <= 0) throw new ArgumentOutOfRangeException(nameof(maxPixels), maxPixels, "must be positive");
        if (bytes.Length == 0) throw new ImageLoadException(name, "file is empty");
        // DICOM pixels are stored uncompressed, so their count is bounded by the file's length already.
        if (DicomReader.LooksLikeDicom(bytes, name)) return DicomReader.Decode(bytes, name);
        CheckHeader(bytes, name, maxPixels);
        ImageResult img;
        try
        {
            // Ask for the file's own component count; stb converts palette/16-bit to 8-bit per component.
            img = ImageResult.FromMemory(bytes, ColorComponents.Default);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new ImageLoadException(name, $"not a decodable image ({Describe(e)})", e);
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

    /// <summary>
    /// The size limit first (a bomb is refused even when its body is also broken), then the container's
    /// integrity. PNG and JPEG are walked here; other formats stb reads get the limit from stb's header-only info.
    /// </summary>
    static void CheckHeader(byte[] bytes, string name, long maxPixels)
    {
        var structure = ImageStructure.Inspect(bytes);
        long width = structure?.Width ?? -1, height = structure?.Height ?? -1;
        if (structure is null)
        {
            ImageInfo? info;
            try { info = ImageInfo.FromStream(new MemoryStream(bytes, writable: false)); }
            catch (Exception e) when (e is not OutOfMemoryException) { throw new ImageLoadException(name, $"unreadable image header ({Describe(e)})", e); }
            if (info is { } i) (width, height) = (i.Width, i.Height);
        }
        // Int128: a PNG may claim 2^32 - 1 on both sides, whose product overflows a long.
        Int128 pixels = (Int128)width * height;
        if (width >= 0 && height >= 0 && pixels > maxPixels)
            throw new ImageLoadException(name, $"{width}x{height} is {pixels} pixels, over the {maxPixels}-pixel limit");
        if (structure?.Problem is { } problem) throw new ImageLoadException(name, problem);
    }

    /// <summary>An exception's message, or its type when the message is empty (stb throws some with none).</summary>
    static string Describe(Exception e) => string.IsNullOrWhiteSpace(e.Message) ? e.GetType().Name : e.Message;
}
