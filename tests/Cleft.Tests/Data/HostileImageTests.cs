using System.Buffers.Binary;
using Cleft.Train.Data;

namespace Cleft.Tests.Data;

/// <summary>
/// Truncated, corrupted and oversized images: each is refused with an <see cref="ImageLoadException"/> that
/// names the file and says why, and a decompression bomb is refused from its header before anything is allocated.
/// </summary>
public sealed class HostileImageTests
{
    static byte[] Jpeg => File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Fixtures", "sample_64x40.jpg"));

    static byte[] Png(int width, int height, int seed = 1)
    {
        var px = new byte[width * height];
        new Random(seed).NextBytes(px);
        var ms = new MemoryStream();
        PngWriter.WriteGray(ms, px, width, height);
        return ms.ToArray();
    }

    /// <summary>Signature plus an IHDR claiming the given size, and nothing after it.</summary>
    static byte[] PngHeaderOnly(int width, int height)
    {
        var full = Png(1, 1);
        var b = full[..33];               // signature (8) + IHDR chunk (4 + 4 + 13 + 4); its CRC is not checked
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(16), width);
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(20), height);
        return b;
    }

    static ImageLoadException Refused(byte[] bytes, long maxPixels = ImageDecoder.DefaultMaxPixels)
    {
        var e = Assert.Throws<ImageLoadException>(() => ImageDecoder.Decode(bytes, "hostile.img", maxPixels));
        Assert.Equal("hostile.img", e.FilePath);
        Assert.Equal($"cannot load image 'hostile.img': {e.Reason}", e.Message);
        return e;
    }

    [Fact]
    public void TruncatedJpegIsRefusedWithTheReason()
    {
        var jpeg = Jpeg;
        Assert.Equal((3, 40, 64), (ImageDecoder.Decode(jpeg, "whole").Channels, 40, 64));
        Assert.Equal("truncated JPEG: the data end inside a scan at byte 1430 without the end-of-image marker (0xFFD9)", Refused(jpeg[..^2]).Reason);
        Assert.Contains("inside a scan", Refused(jpeg[..1000]).Reason);                      // a short scan
        Assert.Equal("truncated JPEG: segment 0xFFC4 at byte 210 declares 181 bytes but only 90 remain", Refused(jpeg[..302]).Reason);
        Assert.Contains("between segments", Refused(jpeg[..20]).Reason);
        // Bytes after EOI and stray bytes between segments are ignored, as libjpeg and PIL do.
        Assert.Equal(40, ImageDecoder.Decode([.. jpeg, 0, 0, 1, 2], "padded").Height);
        Assert.Equal(40, ImageDecoder.Decode([.. jpeg[..20], 0, 7, .. jpeg[20..]], "stray").Height);
        Assert.Contains("between segments", Refused([.. jpeg[..20], 0, 7, 9]).Reason);
    }

    [Fact]
    public void TruncatedPngIsRefusedWithTheReason()
    {
        var png = Png(32, 32);
        Assert.Equal(32, ImageDecoder.Decode(png, "whole").Width);
        Assert.Equal($"truncated PNG: no IEND chunk (the data end at byte {png.Length - 12})", Refused(png[..^12]).Reason);
        int idat = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(33));
        Assert.Equal($"truncated PNG: chunk 'IDAT' at byte 33 declares {idat} data bytes but only 50 remain", Refused(png[..(33 + 12 + 50)]).Reason);
        var noIhdr = png.ToArray();
        noIhdr[12] = (byte)'X';
        Assert.StartsWith("corrupt PNG: first chunk is 'XHDR'", Refused(noIhdr).Reason);
    }

    /// <summary>Every prefix and many single-byte corruptions: an ImageLoadException with a reason, or a decoded image; nothing else.</summary>
    [Fact]
    public void EveryPrefixOrCorruptionFailsWithAReason()
    {
        foreach (var whole in new[] { Png(8, 6), Jpeg })
        {
            for (int n = 1; n < whole.Length; n++) Assert.False(string.IsNullOrWhiteSpace(Refused(whole[..n]).Reason));
            for (int i = 0; i < whole.Length; i += 3)
            {
                var bad = whole.ToArray();
                bad[i] ^= 0x5A;
                try { ImageDecoder.Decode(bad, "flipped"); }
                catch (ImageLoadException e) { Assert.False(string.IsNullOrWhiteSpace(e.Reason), $"byte {i}: blank reason"); }
            }
        }
        Assert.Throws<ArgumentException>(() => new ImageLoadException("x.png", " "));
    }

    [Fact]
    public void PixelLimitIsCheckedFromTheHeader()
    {
        Assert.Equal("15000x15000 is 225000000 pixels, over the 100000000-pixel limit", Refused(PngHeaderOnly(15000, 15000)).Reason);
        Assert.Contains("4294967295x4294967295 is 18446744065119617025 pixels", Refused(PngHeaderOnly(-1, -1)).Reason);   // no long overflow
        Assert.Equal("64x40 is 2560 pixels, over the 2559-pixel limit", Refused(Jpeg, maxPixels: 2559).Reason);
        Assert.Equal(40, ImageDecoder.Decode(Jpeg, "jpeg", maxPixels: 2560).Height);
        var png = Png(100, 100);
        Assert.Contains("over the 9999-pixel limit", Refused(png, maxPixels: 9999).Reason);
        Assert.Equal(100, ImageDecoder.Decode(png, "png", maxPixels: 10000).Width);
        Assert.Contains("20000x30000 is 600000000 pixels", Refused(BmpHeaderOnly(20000, 30000)).Reason);  // other formats: stb's info
    }

    /// <summary>A real, valid 15000x15000 PNG (a few hundred KB of deflated zeros): refused without allocating its pixels.</summary>
    [Fact]
    public void PngBombIsRefusedBeforeDecoding()
    {
        var ms = new MemoryStream();
        PngWriter.WriteRepeatedRow(ms, new byte[15000], 15000, 15000, 1);
        var bomb = ms.ToArray();
        Assert.InRange(bomb.Length, 1, 1 << 20);
        Assert.Null(ImageStructure.Inspect(bomb)!.Value.Problem);   // a whole, valid file: only its size is wrong
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.StartsWith("15000x15000 is 225000000 pixels", Refused(bomb).Reason);
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 1 << 20);
    }

    /// <summary>A BMP file header plus BITMAPINFOHEADER claiming the given size (24-bit, uncompressed), no pixels.</summary>
    static byte[] BmpHeaderOnly(int width, int height)
    {
        var b = new byte[54];
        b[0] = (byte)'B'; b[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(2), b.Length);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(10), 54);     // pixel data offset
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(14), 40);     // header size
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(18), width);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(22), height);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(26), 1);      // planes
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(28), 24);     // bits per pixel
        return b;
    }
}
