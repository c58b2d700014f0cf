using Cleft.Autograd;

namespace Cleft.Train.Data;

/// <summary>
/// CLEFT's train augmentation (docs/RECIPE.md §images), applied to [0, 1] images before normalisation, in this order:
/// Resize(crop) -> RandomCrop(crop) -> ColorJitter(brightness 0.2, contrast 0.2) p=0.4 ->
/// GaussianBlur 7x7 sigma U(0.1, 2) p=0.4 -> RandomAffine(±10°, translate 0.0625, scale 0.8..1.1) ->
/// horizontal flip p=0.5. Each step's switch and probability are in <see cref="PreprocessOptions"/> (defaults:
/// the recipe's). Every random draw comes from the <see cref="Rng"/> passed in, so the loader gives each sample
/// its own Rng seeded from (seed, epoch, index): same seed, same pixels, whatever the thread timing.
/// The draws are made first (<see cref="Plan"/>) and applied after (<see cref="Apply"/>). A switched-off step
/// still makes its draws and then does nothing, so turning one step off leaves every other step's draws, and
/// so its effect, unchanged.
/// </summary>
public static class Augment
{
    public const double JitterP = 0.4, BlurP = 0.4, FlipP = 0.5;
    public const float Brightness = 0.2f, Contrast = 0.2f;
    public const int BlurKernel = 7;
    public const double SigmaMin = 0.1, SigmaMax = 2.0, MaxDegrees = 10, MaxTranslate = 0.0625, ScaleMin = 0.8, ScaleMax = 1.1;

    /// <summary>Train geometry + photometric augmentation; returns a new [C, crop, crop] image in [0, 1].</summary>
    public static HostImage Train(HostImage img, PreprocessOptions o, Rng rng)
    {
        var x = Preprocess.ResizeShorterSide(Preprocess.LoadSquare(img, o), o.CropSize);
        return Apply(x, Plan(o, x.Height, x.Width, rng), o.CropSize);
    }

    /// <summary>
    /// The random choices for one image of <paramref name="height"/> x <paramref name="width"/> (after the resize):
    /// a null / false field is a step that is off or did not fire. A step with probability 1 draws no coin.
    /// </summary>
    public static AugmentPlan Plan(PreprocessOptions o, int height, int width, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(rng);
        int crop = o.CropSize;
        if (height < crop || width < crop) throw new ArgumentException($"Augment: image {height}x{width} is smaller than the crop {crop}");
        // RandomCrop after Resize: a no-op on the square images LoadSquare makes, kept for fidelity.
        int top = (height - crop) / 2, left = (width - crop) / 2;
        if (Fires(o.RandomCrop, rng, out bool cropOn))
        {
            int t = rng.NextInt(height - crop + 1), l = rng.NextInt(width - crop + 1);
            if (cropOn) (top, left) = (t, l);
        }
        JitterParams? jitter = null;
        if (Fires(o.ColorJitter, rng, out bool jitterOn))
        {
            var j = new JitterParams((float)Uniform(rng, 1 - Brightness, 1 + Brightness), (float)Uniform(rng, 1 - Contrast, 1 + Contrast),
                rng.NextDouble() < 0.5);
            if (jitterOn) jitter = j;
        }
        double? sigma = null;
        if (Fires(o.GaussianBlur, rng, out bool blurOn))
        {
            double s = Uniform(rng, SigmaMin, SigmaMax);
            if (blurOn) sigma = s;
        }
        AffineParams? affine = null;
        if (Fires(o.RandomAffine, rng, out bool affineOn))
        {
            // torchvision rounds the translation to whole pixels.
            double angle = Uniform(rng, -MaxDegrees, MaxDegrees);
            double maxDx = MaxTranslate * crop, maxDy = MaxTranslate * crop;
            double tx = Math.Round(Uniform(rng, -maxDx, maxDx)), ty = Math.Round(Uniform(rng, -maxDy, maxDy));
            var a = new AffineParams(angle, tx, ty, Uniform(rng, ScaleMin, ScaleMax));
            if (affineOn) affine = a;
        }
        bool flip = Fires(o.HorizontalFlip, rng, out bool flipOn) && flipOn;
        return new AugmentPlan(top, left, jitter, sigma, affine, flip);
    }

    // Whether the step's draws are made (the coin, when p < 1); `on` says whether its effect is then applied.
    static bool Fires(AugmentStep step, Rng rng, out bool on)
    {
        on = step.Enabled;
        return step.Probability >= 1 || rng.NextDouble() < step.Probability;
    }

    /// <summary>Applies a <see cref="Plan"/> to a resized image; returns a new [C, crop, crop] image.</summary>
    public static HostImage Apply(HostImage resized, AugmentPlan plan, int crop)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var x = Preprocess.Crop(resized, plan.CropTop, plan.CropLeft, crop, crop).Clone();
        if (plan.Jitter is { } j) ColorJitter(x, j);
        if (plan.BlurSigma is { } sigma) x = GaussianBlur(x, sigma);
        if (plan.Affine is { } a) x = Affine(x, a.Degrees, a.Tx, a.Ty, a.Scale);
        if (plan.Flip) FlipHorizontal(x);
        return x;
    }

    static double Uniform(Rng rng, double lo, double hi) => lo + (hi - lo) * rng.NextDouble();

    /// <summary>Brightness scales pixels; contrast blends with the mean gray level; both clamp to [0, 1]. Order random, as torchvision.</summary>
    public static void ColorJitter(HostImage x, JitterParams j)
    {
        if (j.BrightnessFirst) { AdjustBrightness(x, j.Brightness); AdjustContrast(x, j.Contrast); }
        else { AdjustContrast(x, j.Contrast); AdjustBrightness(x, j.Brightness); }
    }

    public static void AdjustBrightness(HostImage x, float factor)
    {
        var d = x.Data;
        for (int i = 0; i < d.Length; i++) d[i] = Math.Clamp(d[i] * factor, 0f, 1f);
    }

    public static void AdjustContrast(HostImage x, float factor)
    {
        double mean = 0;
        int n = x.Height * x.Width;
        if (x.Channels == 1) foreach (float v in x.Data) mean += v;
        else for (int i = 0; i < n; i++) mean += 0.299 * x.Data[i] + 0.587 * x.Data[n + i] + 0.114 * x.Data[2 * n + i]; // luma, as torchvision
        float m = (float)(mean / n);
        var d = x.Data;
        for (int i = 0; i < d.Length; i++) d[i] = Math.Clamp(m + factor * (d[i] - m), 0f, 1f);
    }

    /// <summary>Separable 7x7 Gaussian, reflect padding (torchvision's).</summary>
    public static HostImage GaussianBlur(HostImage x, double sigma)
    {
        int r = BlurKernel / 2;
        var k = new float[BlurKernel];
        double sum = 0;
        for (int i = -r; i <= r; i++) sum += Math.Exp(-0.5 * i * i / (sigma * sigma));
        for (int i = -r; i <= r; i++) k[i + r] = (float)(Math.Exp(-0.5 * i * i / (sigma * sigma)) / sum);
        int h = x.Height, w = x.Width;
        var tmp = new float[h * w];
        var dst = new HostImage(x.Channels, h, w);
        for (int c = 0; c < x.Channels; c++)
        {
            ReadOnlySpan<float> s = x.Plane(c);
            for (int y = 0; y < h; y++)
                for (int xx = 0; xx < w; xx++)
                {
                    float acc = 0;
                    for (int t = -r; t <= r; t++) acc += k[t + r] * s[y * w + Reflect(xx + t, w)];
                    tmp[y * w + xx] = acc;
                }
            var d = dst.Plane(c);
            for (int y = 0; y < h; y++)
                for (int xx = 0; xx < w; xx++)
                {
                    float acc = 0;
                    for (int t = -r; t <= r; t++) acc += k[t + r] * tmp[Reflect(y + t, h) * w + xx];
                    d[y * w + xx] = acc;
                }
        }
        return dst;
    }

    static int Reflect(int i, int n)
    {
        if (n == 1) return 0;
        while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
        return i;
    }

    /// <summary>
    /// Rotation about the centre, scale and integer translation; inverse-mapped with nearest-neighbour sampling
    /// (torchvision's default) and zero fill outside the source.
    /// </summary>
    public static HostImage Affine(HostImage x, double degrees, double tx, double ty, double scale)
    {
        int h = x.Height, w = x.Width;
        double cx = (w - 1) * 0.5, cy = (h - 1) * 0.5, a = degrees * Math.PI / 180;
        double cos = Math.Cos(a) / scale, sin = Math.Sin(a) / scale;
        var dst = new HostImage(x.Channels, h, w);
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++)
            {
                // output -> source: undo translation, then rotation and scale about the centre
                double dx = xx - cx - tx, dy = y - cy - ty;
                int sx = (int)Math.Round(cos * dx + sin * dy + cx), sy = (int)Math.Round(-sin * dx + cos * dy + cy);
                if ((uint)sx >= (uint)w || (uint)sy >= (uint)h) continue;
                for (int c = 0; c < x.Channels; c++) dst.Data[(c * h + y) * w + xx] = x.Data[(c * h + sy) * w + sx];
            }
        return dst;
    }

    public static void FlipHorizontal(HostImage x)
    {
        for (int c = 0; c < x.Channels; c++)
            for (int y = 0; y < x.Height; y++) x.Data.AsSpan((c * x.Height + y) * x.Width, x.Width).Reverse();
    }
}

/// <summary>
/// One augmentation step's switch and probability. Switched off (<c>step with { Enabled = false }</c>) the step
/// still makes its random draws, at its probability, and does nothing, so the other steps draw what they drew.
/// </summary>
public sealed record AugmentStep(double Probability, bool Enabled = true);

/// <summary>Colour jitter factors and which of the two is applied first.</summary>
public readonly record struct JitterParams(float Brightness, float Contrast, bool BrightnessFirst);

/// <summary>Rotation in degrees, translation in whole pixels, scale.</summary>
public readonly record struct AffineParams(double Degrees, double Tx, double Ty, double Scale);

/// <summary>The random choices of one <see cref="Augment.Train"/> call; null / false = off or not fired.</summary>
public sealed record AugmentPlan(int CropTop, int CropLeft, JitterParams? Jitter, double? BlurSigma, AffineParams? Affine, bool Flip);
