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

    // Each step switched off in turn, by name (the name Validate reports).
    static readonly (string Name, Func<PreprocessOptions, PreprocessOptions> Off, Func<AugmentPlan, int, int, AugmentPlan> Cleared)[] Steps =
    [
        ("RandomCrop", o => o with { RandomCrop = o.RandomCrop with { Enabled = false } }, (p, h, w) => p with { CropTop = (h - 64) / 2, CropLeft = (w - 64) / 2 }),
        ("ColorJitter", o => o with { ColorJitter = o.ColorJitter with { Enabled = false } }, (p, _, _) => p with { Jitter = null }),
        ("GaussianBlur", o => o with { GaussianBlur = o.GaussianBlur with { Enabled = false } }, (p, _, _) => p with { BlurSigma = null }),
        ("RandomAffine", o => o with { RandomAffine = o.RandomAffine with { Enabled = false } }, (p, _, _) => p with { Affine = null }),
        ("HorizontalFlip", o => o with { HorizontalFlip = o.HorizontalFlip with { Enabled = false } }, (p, _, _) => p with { Flip = false }),
    ];

    [Fact]
    public void DefaultsDrawInTheRecipeOrder()
    {
        // Oracle: the recipe's pipeline written out with its draws in order (crop, jitter p 0.4, blur p 0.4,
        // affine always, flip p 0.5) against the same seed.
        var img = Pattern();
        for (ulong seed = 0; seed < 8; seed++)
        {
            var rng = new Rng(seed);
            var x = Preprocess.ResizeShorterSide(Preprocess.LoadSquare(img, Small), 64);
            int top = rng.NextInt(x.Height - 63), left = rng.NextInt(x.Width - 63);
            x = Preprocess.Crop(x, top, left, 64, 64).Clone();
            if (rng.NextDouble() < 0.4)
            {
                double lo = 1 - 0.2f, hi = 1 + 0.2f; // float 0.2, as the recipe's constants
                float b = (float)(lo + (hi - lo) * rng.NextDouble()), c = (float)(lo + (hi - lo) * rng.NextDouble());
                Augment.ColorJitter(x, new JitterParams(b, c, rng.NextDouble() < 0.5));
            }
            if (rng.NextDouble() < 0.4) x = Augment.GaussianBlur(x, 0.1 + (2.0 - 0.1) * rng.NextDouble());
            // translation bound 0.0625 x 64 = 4 px
            double angle = -10 + 20 * rng.NextDouble(), tx = Math.Round(-4 + 8 * rng.NextDouble()), ty = Math.Round(-4 + 8 * rng.NextDouble());
            x = Augment.Affine(x, angle, tx, ty, 0.8 + (1.1 - 0.8) * rng.NextDouble());
            if (rng.NextDouble() < 0.5) Augment.FlipHorizontal(x);
            Assert.Equal(x.Data, Augment.Train(img, Small, new Rng(seed)).Data);
        }
    }

    [Fact]
    public void SwitchingOneStepOffChangesNothingElse()
    {
        const int h = 70, w = 90; // not square, so the crop position matters
        foreach (var (name, off, cleared) in Steps)
        {
            int changed = 0;
            for (ulong seed = 0; seed < 24; seed++)
            {
                var on = Augment.Plan(Small, h, w, new Rng(seed));
                var without = Augment.Plan(off(Small), h, w, new Rng(seed));
                Assert.True(cleared(on, h, w) == without, $"{name} off, seed {seed}: {on} -> {without}");
                if (without != on) changed++;
            }
            Assert.True(changed > 0, $"{name}: never fired in 24 seeds");
        }
    }

    [Fact]
    public void FlipOffGivesTheUnflippedPixels()
    {
        var img = Pattern();
        var noFlip = Small with { HorizontalFlip = Small.HorizontalFlip with { Enabled = false } };
        int flipped = 0;
        for (ulong seed = 0; seed < 12; seed++)
        {
            var with = Augment.Train(img, Small, new Rng(seed));
            var without = Augment.Train(img, noFlip, new Rng(seed));
            if (!with.Data.SequenceEqual(without.Data))
            {
                flipped++;
                Augment.FlipHorizontal(without);
            }
            Assert.Equal(with.Data, without.Data);
        }
        Assert.InRange(flipped, 1, 11);
    }

    [Fact]
    public void EveryStepOffIsTheEvalGeometry()
    {
        var img = Pattern();
        var none = Steps.Aggregate(Small, (o, s) => s.Off(o));
        Assert.Equal(Preprocess.EvalGeometry(img, none).Data, Augment.Train(img, none, new Rng(3)).Data);
    }

    [Fact]
    public void ValidateNamesAStepWithAnImpossibleProbability()
    {
        var ex = Assert.Throws<ArgumentException>(() => (Small with { HorizontalFlip = new AugmentStep(1.5) }).Validate());
        Assert.Contains("HorizontalFlip", ex.Message);
        Assert.Contains("1.5", ex.Message);
    }

    static double Variance(float[] d) { double m = d.Average(); return d.Average(v => (v - m) * (v - m)); }
}
