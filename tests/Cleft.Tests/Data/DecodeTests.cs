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

    /// <summary>JPEG through stb: Debian's python3-sklearn ships sample photographs; skipped when absent.</summary>
    [SkippableFact]
    public void DecodesJpeg()
    {
        string? jpg = new[] { "/usr/lib/python3/dist-packages/sklearn/datasets/images/china.jpg" }.FirstOrDefault(File.Exists);
        Skip.If(jpg is null, "no sample JPEG (apt-get install python3-sklearn)");
        var img = ImageDecoder.Load(jpg!);
        Assert.Equal((3, 427, 640), (img.Channels, img.Height, img.Width));
        var dst = new float[3 * 224 * 224];
        Preprocess.Eval(img, PreprocessOptions.Clef, dst);
        Assert.All(dst, v => Assert.InRange(v, -1f, 1f));
        Assert.Equal(-1f, dst[112]);               // top rows are zero padding (427 < 640)
    }
}
