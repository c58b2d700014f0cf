using Cleft.Train.Data;

namespace Cleft.Tests.Data;

public sealed class PreprocessTests
{
    /// <summary>A 300 wide x 150 high horizontal ramp: value x / 299, written as an 8-bit PNG.</summary>
    static HostImage Ramp(TempDir dir)
    {
        const int w = 300, h = 150;
        var px = new byte[w * h];
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) px[y * w + x] = (byte)Math.Round(255.0 * x / (w - 1));
        string path = dir.File("ramp.png");
        PngWriter.WriteGray(path, px, w, h);
        return ImageDecoder.Load(path);
    }

    [Fact]
    public void PngRoundTripIsExact()
    {
        using var dir = new TempDir();
        var img = Ramp(dir);
        Assert.Equal((1, 150, 300), (img.Channels, img.Height, img.Width));
        Assert.Equal(0f, img[0, 10, 0]);
        Assert.Equal(1f, img[0, 10, 299]);
        Assert.Equal(Math.Round(255.0 * 150 / 299) / 255, img[0, 77, 150], 6);
    }

    [Fact]
    public void EvalGeometryScalesPadsAndCrops()
    {
        using var dir = new TempDir();
        var img = Ramp(dir);
        var scaled = Preprocess.ScaleLongestSide(img, 256);
        Assert.Equal((128, 256), (scaled.Height, scaled.Width));
        var square = Preprocess.PadToSquare(scaled);
        Assert.Equal((256, 256), (square.Height, square.Width));
        Assert.Equal(0f, square[0, 63, 200]);      // top padding: rows 0..63
        Assert.Equal(0f, square[0, 192, 200]);     // bottom padding: rows 192..255
        Assert.True(square[0, 64, 200] > 0.7f);   // content starts at row 64

        var o = PreprocessOptions.Clef;
        var dst = new float[3 * 224 * 224];
        Preprocess.Eval(img, o, dst);
        float At(int c, int y, int x) => dst[(c * 224 + y) * 224 + x];
        // content is 112 rows tall, centred: rows 56..167; well outside it the value is exactly -1 (zero padding)
        for (int y = 0; y < 54; y++) Assert.Equal(-1f, At(0, y, 112));
        for (int y = 170; y < 224; y++) Assert.Equal(-1f, At(0, y, 112));
        for (int y = 58; y < 166; y += 9)
        {
            Assert.True(At(0, y, 1) < -0.97f, $"left edge {At(0, y, 1)}");
            Assert.True(At(0, y, 222) > 0.97f, $"right edge {At(0, y, 222)}");
            Assert.True(Math.Abs(At(0, y, 112) - (2 * (112 + 0.5) / 224 - 1)) < 0.02, $"middle {At(0, y, 112)}");
            for (int x = 1; x < 224; x++) Assert.True(At(0, y, x) >= At(0, y, x - 1) - 1e-6f, "ramp must stay monotone");
        }
        // gray replicated to 3 identical channels
        Assert.True(dst.AsSpan(0, 224 * 224).SequenceEqual(dst.AsSpan(224 * 224, 224 * 224)));
        Assert.True(dst.AsSpan(0, 224 * 224).SequenceEqual(dst.AsSpan(2 * 224 * 224, 224 * 224)));
    }

    [Fact]
    public void NormalisationAndColourChannels()
    {
        var rgb = new HostImage(3, 2, 2, [0, 0.25f, 0.5f, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
        var dst = new float[12];
        Preprocess.NormalizeToRgb(rgb, dst);
        Assert.Equal([-1, -0.5f, 0, 1, 1, 1, 1, 1, -1, -1, -1, -1], dst);
        Assert.Throws<ArgumentException>(() => Preprocess.NormalizeToRgb(rgb, new float[11]));
    }

    [Fact]
    public void ResamplingKeepsConstantsAndMeans()
    {
        var flat = new HostImage(1, 37, 91);
        Array.Fill(flat.Data, 0.3f);
        var down = Resample.Bilinear(flat, 9, 20);
        Assert.All(down.Data, v => Assert.Equal(0.3f, v, 5));
        var up = Resample.Bilinear(flat, 100, 200);
        Assert.All(up.Data, v => Assert.Equal(0.3f, v, 5));
        // a 2x shrink of a checkerboard averages it (antialiasing), instead of picking one colour
        var checker = new HostImage(1, 64, 64);
        for (int i = 0; i < checker.Data.Length; i++) checker.Data[i] = ((i / 64) + (i % 64)) % 2;
        var small = Resample.Bilinear(checker, 16, 16);
        Assert.All(small.Data.Skip(17).Take(10), v => Assert.Equal(0.5f, v, 2));
    }
}
