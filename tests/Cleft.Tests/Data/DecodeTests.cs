using Cleft.Train.Data;

namespace Cleft.Tests.Data;

public sealed class DecodeTests
{
    [Fact]
    public void RgbPngKeepsThreeChannels()
    {
        using var dir = new TempDir();
        byte[] px = [255, 0, 0, 0, 255, 0, 0, 0, 255, 51, 102, 153]; // 2x2: red, green / blue, (0.2, 0.4, 0.6)
        string path = dir.File("rgb.png");
        using (var fs = File.Create(path)) PngWriter.Write(fs, px, 2, 2, 3);
        var img = ImageDecoder.Load(path);
        Assert.Equal((3, 2, 2), (img.Channels, img.Height, img.Width));
        int[] Bytes(int c) => img.Plane(c).ToArray().Select(v => (int)MathF.Round(v * 255)).ToArray();
        Assert.Equal([255, 0, 0, 51], Bytes(0));
        Assert.Equal([0, 255, 0, 102], Bytes(1));
        Assert.Equal([0, 0, 255, 153], Bytes(2));
        var dst = new float[3 * 8 * 8];
        Preprocess.Eval(img, new PreprocessOptions(8, 8), dst);
        Assert.Equal(1f, dst[0], 5);               // top-left red stays red after normalisation
        Assert.Equal(-1f, dst[64], 5);
    }

    /// <summary>
    /// JPEG through stb against PIL's decode of the same file (tests/fixtures/generators/sample_jpeg.py); decoders
    /// may differ by a few levels in IDCT rounding, so pixels match within 3/255.
    /// </summary>
    [Fact]
    public void DecodesJpegLikePil()
    {
        string dir = Path.Combine(AppContext.BaseDirectory, "Fixtures");
        var img = ImageDecoder.Load(Path.Combine(dir, "sample_64x40.jpg"));
        Assert.Equal((3, 40, 64), (img.Channels, img.Height, img.Width));
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "sample_64x40.json")));
        foreach (var p in doc.RootElement.GetProperty("points").EnumerateArray())
        {
            int x = p[0].GetInt32(), y = p[1].GetInt32();
            for (int c = 0; c < 3; c++)
            {
                float expected = p[2][c].GetInt32() / 255f, actual = img.Plane(c)[y * 64 + x];
                Assert.True(Math.Abs(expected - actual) <= 3 / 255f, $"pixel ({x},{y}) channel {c}: PIL {expected * 255}, ours {actual * 255}");
            }
        }
        var dst = new float[3 * 224 * 224];
        Preprocess.Eval(img, PreprocessOptions.Clef, dst);
        Assert.All(dst, v => Assert.InRange(v, -1f, 1f));
        Assert.Equal(-1f, dst[112]);               // top rows are zero padding (40 < 64)
    }
}
