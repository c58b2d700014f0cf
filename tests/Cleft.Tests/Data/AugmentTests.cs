using Cleft.Autograd;
using Cleft.Train.Data;

namespace Cleft.Tests.Data;

public sealed class AugmentTests
{
    static HostImage Pattern(int h = 80, int w = 120)
    {
        var img = new HostImage(1, h, w);
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) img[0, y, x] = (float)((Math.Sin(x * 0.2) * Math.Cos(y * 0.13) + 1) / 2);
        return img;
    }

    static readonly PreprocessOptions Small = new(LoadSize: 72, CropSize: 64);

    [Fact]
    public void SameSeedSamePixelsOtherSeedOtherPixels()
    {
        var img = Pattern();
        var a = Augment.Train(img, Small, new Rng(7));
        var b = Augment.Train(img, Small, new Rng(7));
        Assert.Equal(a.Data, b.Data);
        Assert.Equal((1, 64, 64), (a.Channels, a.Height, a.Width));
        int differing = Enumerable.Range(8, 12).Count(s => !Augment.Train(img, Small, new Rng((ulong)s)).Data.SequenceEqual(a.Data));
        Assert.Equal(12, differing);
        Assert.All(a.Data, v => Assert.InRange(v, 0f, 1f));
        // the per-sample stream depends on seed, epoch and index only
        Assert.Equal(ImageDataset.SampleRng(1, 2, 3).NextUInt64(), ImageDataset.SampleRng(1, 2, 3).NextUInt64());
        Assert.NotEqual(ImageDataset.SampleRng(1, 2, 3).NextUInt64(), ImageDataset.SampleRng(1, 3, 3).NextUInt64());
    }

    [Fact]
    public void IndividualTransforms()
    {
        var img = Pattern(20, 30);
        var flipped = img.Clone();
        Augment.FlipHorizontal(flipped);
        Assert.Equal(img[0, 5, 0], flipped[0, 5, 29]);
        Augment.FlipHorizontal(flipped);
        Assert.Equal(img.Data, flipped.Data);

        Assert.Equal(img.Data, Augment.Affine(img, 0, 0, 0, 1).Data);             // identity
        var shifted = Augment.Affine(img, 0, 3, 0, 1);                           // 3 px right, zero fill
        Assert.Equal(0f, shifted[0, 4, 2]);
        Assert.Equal(img[0, 4, 10], shifted[0, 4, 13]);
        var rot = Augment.Affine(Pattern(31, 31), 90, 0, 0, 1);
        Assert.Equal(Pattern(31, 31)[0, 30 - 20, 5], rot[0, 5, 20], 5);           // (x, y) -> source (y, 30 - x)

        var flat = new HostImage(1, 10, 10);
        Array.Fill(flat.Data, 0.4f);
        Assert.All(Augment.GaussianBlur(flat, 1.7).Data, v => Assert.Equal(0.4f, v, 5));
        Augment.AdjustContrast(flat, 1.2f);                                      // a constant image has no contrast
        Assert.All(flat.Data, v => Assert.Equal(0.4f, v, 5));
        Augment.AdjustBrightness(flat, 1.2f);
        Assert.All(flat.Data, v => Assert.Equal(0.48f, v, 5));
        var blurred = Augment.GaussianBlur(img, 2.0);
        Assert.True(Variance(blurred.Data) < Variance(img.Data));
    }

    static double Variance(float[] d) { double m = d.Average(); return d.Average(v => (v - m) * (v - m)); }
}
